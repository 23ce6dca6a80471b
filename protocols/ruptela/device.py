"""Device side of Ruptela: record packets as an FM tracker sends them, and the server's answers.

Encoding is the inverse of the server's decoding within the protocol's resolution: 1e-7 degree,
0.1 m of altitude (0 to 6553.5 m), 0.01 degree of course, whole km/h, 0.1 of HDOP, whole
seconds; voltages in mV (IO 29/30), odometer in m (IO 65), GSM signal in CSQ steps (IO 27),
ignition as IO 409 (command 68) or DIN4, IO 5 (command 1). A position the record leaves unknown is
sent as ``0x80000000``; other unknown values are left out of the IO list, so they decode back to unknown.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.core import DEFAULT_MAX_FRAME, BufferedFeed
from protocols.record import Record
from protocols.ruptela.framing import Packet, build_packet, take_packet
from protocols.ruptela.records import CMD_RECORDS, NO_COORDINATE, PROTOCOL

_RECORD_HEAD = struct.Struct(">IBBiiHHBHBB")

MAX_RECORDS = 255
"""Records one packet can count."""


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def record_io(record: Record, extended: bool = False) -> dict[int, tuple[int, int]]:
    """IO id -> (size, value) for the record's known values, plus raw ``io<N>`` attributes.

    Ignition goes as IO 409 in command 68; command 1 has 1-byte ids, so there it is DIN4 (IO 5).
    """
    max_id = 0xFFFF if extended else 0xFF
    io: dict[int, tuple[int, int]] = {}
    for key, value in record.attributes.items():
        if key.startswith("io") and key[2:].isdigit() and isinstance(value, int) and 0 <= value < 1 << 64:
            io_id = int(key[2:])
            if io_id <= max_id:
                size = 1 if value <= 0xFF else 2 if value <= 0xFFFF else 4 if value <= 0xFFFFFFFF else 8
                io[io_id] = (size, value)
    if record.ignition is not None:
        io[409 if extended else 5] = (1, 1 if record.ignition else 0)
    if record.motion is not None:
        io[173] = (1, 1 if record.motion else 0)
    if record.gsm_signal_pct is not None:
        io[27] = (1, _clamp(round(record.gsm_signal_pct * 31 / 100), 0, 31))
    if record.ext_voltage_v is not None:
        io[29] = (2, _clamp(int(round(record.ext_voltage_v * 1000)), 0, 0xFFFF))
    if record.battery_voltage_v is not None:
        io[30] = (2, _clamp(int(round(record.battery_voltage_v * 1000)), 0, 0xFFFF))
    if record.odometer_m is not None:
        io[65] = (4, _clamp(int(round(record.odometer_m)), 0, 0xFFFFFFFF))
    return io


def encode_record(record: Record, extended: bool = False) -> bytes:
    """One record of command 1 (or 68 with ``extended``: 2-byte event and IO ids, no merging)."""
    if record.fix_time is None:
        raise ValueError("a Ruptela record needs a fix_time")
    if record.lat is None or record.lon is None:
        lon = lat = NO_COORDINATE
    else:
        lon = int(round(record.lon * 1e7))
        lat = int(round(record.lat * 1e7))
    altitude = _clamp(int(round((record.altitude_m or 0.0) * 10)), 0, 0xFFFF)
    angle = int(round((record.course_deg or 0.0) * 100)) % 36000
    sats = _clamp(record.satellites or 0, 0, 255)
    speed = _clamp(int(round(record.speed_kmh or 0.0)), 0, 0xFFFF)
    hdop = _clamp(int(round((record.hdop or 0.0) * 10)), 0, 255)
    event = int(record.attributes.get("event_id", 0))
    head = struct.pack(">IB", int(record.fix_time) & 0xFFFFFFFF, 0)
    if extended:
        head += b"\x00"  # record extension: not merged
    head += struct.pack(">BiiHHBHB", 0, lon, lat, altitude, angle, sats, speed, hdop)
    head += struct.pack(">H", event & 0xFFFF) if extended else bytes((event & 0xFF,))
    io = record_io(record, extended)
    body = b""
    for size in (1, 2, 4, 8):
        group = [(io_id, value) for io_id, (s, value) in sorted(io.items()) if s == size]
        body += bytes((len(group),))
        for io_id, value in group:
            body += (io_id.to_bytes(2, "big") if extended else bytes((io_id,))) + value.to_bytes(size, "big")
    return head + body


def encode_records(imei: str, records: Sequence[Record], *, extended: bool = False, left: int = 0) -> bytes:
    """A command 1 (or 68) packet: records left, count, the records."""
    if len(records) > MAX_RECORDS:
        raise ValueError(f"{len(records)} records do not fit one packet ({MAX_RECORDS} max)")
    data = bytes((left & 0xFF, len(records))) + b"".join(encode_record(r, extended) for r in records)
    return build_packet(imei, 68 if extended else CMD_RECORDS, data)


@dataclass(frozen=True, slots=True)
class Answer:
    """One server answer: its command byte and data (``64 01`` acknowledges records)."""

    command: int
    data: bytes

    @property
    def records_ack(self) -> bool:
        return self.command == 100 and self.data[:1] == b"\x01"


class DeviceReceiver(BufferedFeed[Packet, Answer]):
    """Parses what a Ruptela server sends back; keeps partial input."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)

    def _next_frame(self) -> Packet | None:
        return take_packet(self._buf, self.max_frame, answers=True)

    def _decode(self, packet: Packet, out: list[Answer]) -> None:
        out.append(Answer(packet.command, packet.data))


class DeviceCodec:
    """The device side of one connection, per ``protocols.device_codec.DeviceCodec``.

    No login; ``encode`` sends up to 255 records as one command 1 packet (more as several);
    ``acks`` counts the ``encode`` packets whose every packet got its ``64 01``.
    """

    protocol = PROTOCOL
    acks_positions = True

    def __init__(self, imei: str) -> None:
        self.imei = imei
        self._receiver = DeviceReceiver()
        self._outstanding: list[int] = []
        """Packets still unacknowledged for each ``encode`` call, oldest first."""

    def login(self) -> bytes:
        return b""

    def encode(self, records: Sequence[Record]) -> bytes:
        chunks = [records[i : i + MAX_RECORDS] for i in range(0, len(records), MAX_RECORDS)] or [records]
        self._outstanding.append(len(chunks))
        return b"".join(encode_records(self.imei, chunk) for chunk in chunks)

    def acks(self, data: bytes) -> int:
        done = 0
        for answer in self._receiver.feed(data):
            if not answer.records_ack or not self._outstanding:
                continue
            self._outstanding[0] -= 1
            if self._outstanding[0] == 0:
                self._outstanding.pop(0)
                done += 1
        return done
