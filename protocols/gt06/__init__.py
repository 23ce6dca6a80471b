"""GT06 / Concox: the sans-IO codec (server session, device-side encoders, ACK parser).

Frames are ``7878 | len | type | content | serial | CRC-ITU | 0D0A`` (``7979`` with a 2-byte
length); the server answers most of them with the same type and serial. See ``framing`` for how
the stream is cut, ``location``/``misc``/``extended`` for the message families, ``fields`` for
the mapping to the normalised record.
"""

from protocols.gt06.commands import MSG_COMMAND, ServerCommand, decode_command, encode_answer, encode_command
from protocols.gt06.device import (
    Ack,
    DeviceReceiver,
    encode_alarm,
    encode_location,
    encode_login,
    encode_status,
)
from protocols.gt06.fields import ALARMS, PROTOCOL
from protocols.gt06.framing import Frame, build_frame
from protocols.gt06.session import ServerSession

__all__ = [
    "ALARMS",
    "MSG_COMMAND",
    "Ack",
    "DeviceReceiver",
    "Frame",
    "PROTOCOL",
    "ServerCommand",
    "ServerSession",
    "build_frame",
    "decode_command",
    "encode_answer",
    "encode_command",
    "encode_alarm",
    "encode_location",
    "encode_login",
    "encode_status",
]
