"""Pure, sans-IO codecs for GPS tracker protocols: bytes in, messages and reply bytes out.

No Twisted, no sockets, no clock: the service (``telediag.ingest``) and the simulators drive them.
"""
