"""Terminal side of JT808: the frames a tracker sends and a parser for what the platform answers.

The simulators build on these. Encoding is the inverse of the server's decoding within the
protocol's resolution: 1e-6 degree, 0.1 km/h, whole degrees and metres, whole seconds, 100 m of
mileage, CSQ steps of signal, millivolts. A value the record leaves unknown (None) is left out
where the message has an optional item for it (mileage, signal, satellites, HDOP, voltages), so
it decodes back to unknown. Altitude, speed and course are mandatory fields: unknown is sent as 0.

A terminal id of up to 12 digits goes in a 2013 header (6 BCD bytes); a longer one, such as a
15-digit IMEI, needs the 2019 header (10 BCD bytes, version 1).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.core import DEFAULT_MAX_FRAME, BufferedFeed, ProtocolError
from protocols.jt808 import commands
from protocols.jt808.fields import (
    DEFAULT_TZ_OFFSET_S,
    GENERIC_ALARMS,
    PROTOCOL,
    encode_phone,
    percent_csq,
)
from protocols.jt808.framing import Corrupt, Frame, TextFrame, build_frame, take_frame
from protocols.record import Record

MSG_REGISTER = 0x0100
MSG_AUTH = 0x0102
MSG_HEARTBEAT = 0x0002
MSG_LOCATION = 0x0200
MSG_BATCH = 0x0704
MAX_BODY = 0x3FF

ALARM_BITS: dict[str, int] = {"power_cut": 1 << 8, "power_unplugged": 1 << 8}
for _bits, _name in GENERIC_ALARMS:
    ALARM_BITS.setdefault(_name, 1 << _bits[0])
"""Event name -> the alarm-flag bit that decodes to it (a cut main supply is bit 8, "power_off")."""


@dataclass(frozen=True, slots=True)
class Terminal:
    """Who the frames come from: the phone field and the header version (None for 2013)."""

    phone: bytes
    version: int | None

    @classmethod
    def for_id(cls, device: str) -> Terminal:
        """A 2013 header for ids of up to 12 digits, a 2019 header for longer ones (IMEIs)."""
        if len(device) <= 12:
            return cls(encode_phone(device, 6), None)
        return cls(encode_phone(device, 10), 1)

    def frame(self, msg_id: int, serial: int, body: bytes) -> bytes:
        return build_frame(msg_id, self.phone, serial, body, version=self.version)


def _fixed(text: str, size: int) -> bytes:
    return text.encode("ascii")[:size].ljust(size, b"\x00")


def encode_registration(terminal: Terminal, serial: int, *, maker: str = "TLDG", model: str = "SIM",
                        terminal_id: str = "0000001", plate: str = "") -> bytes:
    """0x0100: province, city, maker, model, terminal id, plate colour and plate."""
    wide = terminal.version is not None
    body = struct.pack(">HH", 0, 0)
    body += _fixed(maker, 11 if wide else 5) + _fixed(model, 30 if wide else 20)
    body += _fixed(terminal_id, 30 if wide else 7) + bytes((0,)) + plate.encode("gbk")
    return terminal.frame(MSG_REGISTER, serial, body)


def encode_auth(terminal: Terminal, serial: int, code: bytes, imei: str = "") -> bytes:
    """0x0102: the auth code (2019: its length first, then the IMEI and a software version)."""
    if terminal.version is None:
        return terminal.frame(MSG_AUTH, serial, code)
    body = bytes((len(code),)) + code + _fixed(imei, 15) + _fixed("telediag-sim", 20)
    return terminal.frame(MSG_AUTH, serial, body)


def encode_heartbeat(terminal: Terminal, serial: int) -> bytes:
    return terminal.frame(MSG_HEARTBEAT, serial, b"")


def _bcd_time(seconds: float, tz: int) -> bytes:
    tm = time.gmtime(int(seconds) + tz)
    if not 2000 <= tm.tm_year <= 2099:
        raise ValueError(f"year {tm.tm_year} does not fit JT808's YY field")
    text = f"{tm.tm_year - 2000:02d}{tm.tm_mon:02d}{tm.tm_mday:02d}{tm.tm_hour:02d}{tm.tm_min:02d}{tm.tm_sec:02d}"
    return bytes.fromhex(text)


def _alarm_flags(record: Record) -> int:
    """The alarm word for the record's event; an event JT808 has no bit for sends none (the
    position still matters more than the event name)."""
    if record.event is None or record.event not in ALARM_BITS:
        return int(record.attributes.get("alarm_flags", 0)) & 0xFFFFFFFF
    return ALARM_BITS[record.event]


def _item(item_id: int, value: bytes) -> bytes:
    return bytes((item_id, len(value))) + value


def location_body(record: Record, tz: int = DEFAULT_TZ_OFFSET_S) -> bytes:
    """The 0x0200 body for ``record``: the basic block and the optional items it has values for."""
    if record.fix_time is None:
        raise ValueError("a JT808 location needs a fix_time")
    lat = record.lat or 0.0
    lon = record.lon or 0.0
    status = (1 if record.ignition else 0) | (2 if record.valid else 0)
    status |= (4 if lat < 0 else 0) | (8 if lon < 0 else 0)
    altitude = min(max(int(round(record.altitude_m or 0.0)), -32768), 32767)
    speed = min(max(int(round((record.speed_kmh or 0.0) * 10)), 0), 0xFFFF)
    course = int(round(record.course_deg or 0.0)) % 360
    body = struct.pack(
        ">IIIIhHH", _alarm_flags(record), status, int(round(abs(lat) * 1e6)), int(round(abs(lon) * 1e6)),
        altitude, speed, course,
    )
    body += _bcd_time(record.fix_time, tz)
    if record.odometer_m is not None:
        body += _item(0x01, struct.pack(">I", int(round(record.odometer_m / 100.0)) & 0xFFFFFFFF))
    if record.gsm_signal_pct is not None:
        body += _item(0x30, bytes((percent_csq(record.gsm_signal_pct),)))
    if record.satellites is not None:
        body += _item(0x31, bytes((min(max(record.satellites, 0), 255),)))
    if record.motion is not None:
        body += _item(0xE5, bytes((1 if record.motion else 0,)))
    if record.hdop is not None:
        body += _item(0xF9, struct.pack(">HH", 0x0004, min(int(round(record.hdop * 10)), 0xFFFF)))
    voltages = b""
    if record.ext_voltage_v is not None:
        voltages += struct.pack(">HHI", 6, 0x002D, int(round(record.ext_voltage_v * 1000)))
    if record.battery_voltage_v is not None:
        voltages += struct.pack(">HHH", 4, 0x002D, min(int(round(record.battery_voltage_v * 1000)), 0xFFFF))
    if voltages:
        body += _item(0xEB, voltages)
    return body


def encode_location(record: Record, terminal: Terminal, serial: int, tz: int = DEFAULT_TZ_OFFSET_S) -> bytes:
    """One 0x0200 location report."""
    return terminal.frame(MSG_LOCATION, serial, location_body(record, tz))


def encode_batch(records: Sequence[Record], terminal: Terminal, serial: int, *, backlog: bool = False,
                 tz: int = DEFAULT_TZ_OFFSET_S) -> bytes:
    """One 0x0704 batch: count, type (1 = blind-area backlog), then ``length | body`` items."""
    body = struct.pack(">HB", len(records), 1 if backlog else 0)
    for record in records:
        item = location_body(record, tz)
        body += struct.pack(">H", len(item)) + item
    return terminal.frame(MSG_BATCH, serial, body)


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """A platform command as the terminal receives it: id and serial to answer, and its text."""

    msg_id: int
    serial: int
    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    """One platform message: its id and serial; for 0x8001/0x8100 what it answers and the result."""

    msg_id: int
    serial: int
    reply_serial: int | None = None
    reply_id: int | None = None
    result: int | None = None
    body: bytes = b""


class DeviceReceiver(BufferedFeed[Frame | TextFrame, Answer]):
    """Parses what a JT808 platform sends (answers and commands); keeps partial input.

    A bad message raises after the good ones before it, as on the server side.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)

    def _next_frame(self) -> Frame | TextFrame | None:
        item = take_frame(self._buf, self.max_frame)
        if isinstance(item, Corrupt):
            raise item.error
        return item

    def _decode(self, item: Frame | TextFrame, out: list[Answer]) -> None:
        if isinstance(item, TextFrame):
            raise ProtocolError("text frame from the platform", excerpt=item.raw)
        body = item.body
        if item.msg_id == 0x8001 and len(body) >= 5:
            reply_serial, reply_id, result = struct.unpack_from(">HHB", body)
            out.append(Answer(item.msg_id, item.serial, reply_serial, reply_id, result, body))
        elif item.msg_id == 0x8100 and len(body) >= 3:
            reply_serial, result = struct.unpack_from(">HB", body)
            out.append(Answer(item.msg_id, item.serial, reply_serial, MSG_REGISTER, result, body))
        else:
            out.append(Answer(item.msg_id, item.serial, body=body))


class DeviceCodec:
    """The terminal side of one connection, per ``protocols.device_codec.DeviceCodec``.

    ``login`` sends registration and authentication at once (the auth code is the one this
    service's platform issues: the terminal id); ``encode`` sends one record as 0x0200 and several
    as 0x0704 batches, splitting batches that would not fit one message; ``acks`` counts the
    ``encode`` packets whose every frame got a 0x8001 with result 0.
    """

    protocol = PROTOCOL
    acks_positions = True

    def __init__(self, imei: str, *, tz_offset_s: int = DEFAULT_TZ_OFFSET_S) -> None:
        self.imei = imei
        self.terminal = Terminal.for_id(imei)
        self.tz_offset_s = tz_offset_s
        self._serial = 0
        self._receiver = DeviceReceiver()
        self._groups: list[set[int]] = []
        """Serials of each sent ``encode`` packet not yet fully acknowledged, oldest first."""
        self._commands: list[ServerCommand] = []
        self._last: Record | None = None
        """The last record sent: what a location query is answered with."""

    def _next(self) -> int:
        serial = self._serial
        self._serial = (serial + 1) & 0xFFFF
        return serial

    def login(self) -> bytes:
        code = self.imei.encode("ascii")
        return encode_registration(self.terminal, self._next()) + encode_auth(
            self.terminal, self._next(), code, self.imei
        )

    def encode(self, records: Sequence[Record]) -> bytes:
        frames: list[bytes] = []
        serials: set[int] = set()
        if len(records) == 1:
            serial = self._next()
            frames.append(encode_location(records[0], self.terminal, serial, self.tz_offset_s))
            serials.add(serial)
        else:
            chunk: list[Record] = []
            size = 3
            for record in records:
                item = 2 + len(location_body(record, self.tz_offset_s))
                if chunk and size + item > MAX_BODY:
                    serial = self._next()
                    frames.append(encode_batch(chunk, self.terminal, serial, tz=self.tz_offset_s))
                    serials.add(serial)
                    chunk, size = [], 3
                chunk.append(record)
                size += item
            if chunk:
                serial = self._next()
                frames.append(encode_batch(chunk, self.terminal, serial, tz=self.tz_offset_s))
                serials.add(serial)
        if serials:
            self._groups.append(serials)
        if records:
            self._last = records[-1]
        return b"".join(frames)

    def acks(self, data: bytes) -> int:
        done = 0
        for answer in self._receiver.feed(data):
            if answer.msg_id in commands.COMMAND_IDS:
                text = commands.decode_command_text(answer.msg_id, answer.body, self.terminal.version)
                self._commands.append(ServerCommand(answer.msg_id, answer.serial, text))
                continue
            if answer.msg_id != 0x8001 or answer.result != 0 or answer.reply_id not in (MSG_LOCATION, MSG_BATCH):
                continue
            for group in self._groups:
                if answer.reply_serial in group:
                    group.discard(answer.reply_serial)
                    break
        while self._groups and not self._groups[0]:
            self._groups.pop(0)
            done += 1
        return done

    def take_commands(self) -> list[ServerCommand]:
        """Platform commands received since the last call, oldest first."""
        taken, self._commands = self._commands, []
        return taken

    def answer(self, command: ServerCommand, text: str) -> bytes:
        """0x0104 for a parameter query (``text`` as the APN, parameter 0x0010), 0x0201 with the
        last record for a location query, else a 0x0001 general response with result 0."""
        terminal = self.terminal
        if command.msg_id == commands.MSG_QUERY_PARAMETERS:
            apn = text.encode("gbk", errors="replace")[:255]
            body = struct.pack(">HBIB", command.serial, 1, 0x0010, len(apn)) + apn
            return terminal.frame(commands.MSG_PARAMETERS, self._next(), body)
        if command.msg_id == commands.MSG_QUERY_LOCATION and self._last is not None:
            body = struct.pack(">H", command.serial) + location_body(self._last, self.tz_offset_s)
            return terminal.frame(commands.MSG_LOCATION_ANSWER, self._next(), body)
        result = 3 if command.msg_id == commands.MSG_QUERY_LOCATION else 0  # no position yet: not supported
        body = commands.encode_terminal_response(command.serial, command.msg_id, result)
        return terminal.frame(commands.MSG_TERMINAL_RESPONSE, self._next(), body)
