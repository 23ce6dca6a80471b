"""Ruptela FM trackers (FM-Eco4, FM-Tco4, FM-Pro4, FM-Plug4 ...): the sans-IO codec.

Packets are ``length | IMEI | command | data | CRC-16/KERMIT``; every packet names its device, so
there is no login. ``ServerSession`` decodes a TCP stream and says what to answer (``0002 6401
13BC`` to records, after they are stored); ``DeviceCodec`` is the device side the simulators
drive. See ``framing`` for the wire format and ``records`` for records and their IO ids.
"""

from protocols.ruptela.device import DeviceCodec, DeviceReceiver, encode_record, encode_records
from protocols.ruptela.framing import Packet, build_answer, build_packet, crc16_kermit
from protocols.ruptela.records import PROTOCOL
from protocols.ruptela.session import DTCS_ACK, RECORDS_ACK, ServerSession

DEFAULT_PORT = 5046
"""Traccar's Ruptela port, so fleets set up for it can point here."""

__all__ = [
    "DEFAULT_PORT",
    "DTCS_ACK",
    "PROTOCOL",
    "RECORDS_ACK",
    "DeviceCodec",
    "DeviceReceiver",
    "Packet",
    "ServerSession",
    "build_answer",
    "build_packet",
    "crc16_kermit",
    "encode_record",
    "encode_records",
]
