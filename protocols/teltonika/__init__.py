"""Teltonika trackers (FMB, FMC, FMM, GH3000 ...): AVL Codec 7/8/8E/16 and Codec 12/13/14 commands.

TCP: ``ServerSession`` (IMEI handshake, AVL frames with CRC, command answers); UDP:
``decode_datagram``. The device side (``encode_*``, ``DeviceReceiver``) drives simulators and tests.
The registry looks up ``ServerSession`` and ``decode_datagram`` here.
"""

from protocols.teltonika.avl import (
    CODEC_7,
    CODEC_8,
    CODEC_8E,
    CODEC_12,
    CODEC_13,
    CODEC_14,
    CODEC_16,
    AvlRecord,
)
from protocols.teltonika.commands import (
    encode_command,
    encode_command_response,
    encode_imei_command,
)
from protocols.teltonika.device import (
    DeviceReceiver,
    LoginAnswer,
    RecordAck,
    ServerCommand,
    UdpAck,
    decode_server_frame,
    decode_udp_ack,
    encode_avl,
    encode_imei,
    encode_udp,
)
from protocols.teltonika.io_mapping import EVENT_NAMES, avl_to_record, record_to_avl
from protocols.teltonika.server import (
    CRC_NAK,
    LOGIN_ACCEPT,
    LOGIN_REJECT,
    ServerSession,
    decode_captured,
    decode_datagram,
)

HALF_DUPLEX = True
"""A device reads the 4 bytes after its AVL packet as the ACK; a Codec 12 command starts with 4
zero bytes, so none may be written while a packet is half received or its ACK is still due."""

__all__ = [
    "CODEC_7",
    "CODEC_8",
    "CODEC_8E",
    "CODEC_12",
    "CODEC_13",
    "CODEC_14",
    "CODEC_16",
    "CRC_NAK",
    "EVENT_NAMES",
    "HALF_DUPLEX",
    "LOGIN_ACCEPT",
    "LOGIN_REJECT",
    "AvlRecord",
    "DeviceReceiver",
    "LoginAnswer",
    "RecordAck",
    "ServerCommand",
    "ServerSession",
    "UdpAck",
    "avl_to_record",
    "decode_captured",
    "decode_datagram",
    "decode_server_frame",
    "decode_udp_ack",
    "encode_avl",
    "encode_command",
    "encode_command_response",
    "encode_imei",
    "encode_imei_command",
    "encode_udp",
    "record_to_avl",
]
