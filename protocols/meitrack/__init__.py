"""Meitrack (MVT/T-series trackers): the sans-IO codec (server session, device-side encoders).

Text reports ``$$<flag><len>,<imei>,AAA,...*<sum>\\r\\n`` and the binary ``CCC``/``CCE`` record
packets; the server acknowledges ``CCC`` packets only. See ``framing`` for how the stream is cut,
``text``/``binary`` for the layouts and ``fields`` for the mapping to the normalised record.
"""

from protocols.meitrack.device import DeviceCodec, encode_aaa, encode_ccc
from protocols.meitrack.fields import PROTOCOL
from protocols.meitrack.session import ServerSession, ccc_ack, server_command

DEFAULT_PORT = 5020

__all__ = [
    "DEFAULT_PORT",
    "DeviceCodec",
    "PROTOCOL",
    "ServerSession",
    "ccc_ack",
    "encode_aaa",
    "encode_ccc",
    "server_command",
]
