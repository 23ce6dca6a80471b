"""H02 (Sinotrack and many clones): the sans-IO codec (server session, device-side encoders).

Text sentences ``*HQ,<id>,<type>,...#`` and BCD binary reports starting with ``$``; no login and
no position ACKs. See ``framing`` for how the stream is cut, ``text``/``binary`` for the layouts,
``fields`` for the status word and the mapping to the normalised record.
"""

from protocols.h02.device import DeviceCodec, encode_binary, encode_v1
from protocols.h02.fields import PROTOCOL
from protocols.h02.session import ServerSession

DEFAULT_PORT = 5013

__all__ = ["DEFAULT_PORT", "DeviceCodec", "PROTOCOL", "ServerSession", "encode_binary", "encode_v1"]
