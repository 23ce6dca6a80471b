"""TK103: the sans-IO codec for trackers that frame text in parentheses (server session, device side).

Frames such as ``(<id12>BR00<yymmdd>A<ddmm.mmmm>N<dddmm.mmmm>E<000.0><hhmmss><000.00><status>L<hex>)``,
plus the comma-delimited and ZC/DW/BZ/BS layouts Traccar's decoder reads. See ``framing`` for how the
stream is cut, ``layouts`` for the frame layouts and ``session`` for what the server answers.
"""

from protocols.tk103.device import DeviceCodec, encode_position, handshake_frame, login_frame
from protocols.tk103.fields import DEFAULT_PORT, PROTOCOL
from protocols.tk103.session import ServerSession

__all__ = [
    "DEFAULT_PORT",
    "DeviceCodec",
    "PROTOCOL",
    "ServerSession",
    "encode_position",
    "handshake_frame",
    "login_frame",
]
