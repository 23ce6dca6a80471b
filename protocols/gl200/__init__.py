"""Queclink @Track trackers (GL200/GL300/GV300/GV500/... "gl200" in Traccar): ASCII, HEX and
Protocol Pro messages on one port.

``ServerSession`` decodes a TCP stream (the IMEI comes from the messages themselves; a Login with no
answer bytes is emitted for the first one), ``decode_datagram`` a UDP datagram, ``DeviceCodec``
is the simulated device. See ``session`` for what the server answers to what.
"""

from protocols.gl200.device import DeviceCodec
from protocols.gl200.fields import PROTOCOL
from protocols.gl200.framing import Frame, next_frame, take_frame
from protocols.gl200.session import ServerSession, decode_datagram, decode_frame

DEFAULT_PORT = 5004

__all__ = [
    "DEFAULT_PORT",
    "DeviceCodec",
    "Frame",
    "PROTOCOL",
    "ServerSession",
    "decode_datagram",
    "decode_frame",
    "next_frame",
    "take_frame",
]
