"""Device side of Meitrack: ``CCC`` binary packets (acknowledged) and ``AAA`` text reports.

``CCC`` carries fixed-width numbers, so what the record leaves unknown goes out as 0 there
(satellites, speed, HDOP...) except the GSM signal (99 = unknown); coordinates to 1e-6 degree,
whole km/h, degrees and metres, HDOP to 0.1, voltages to 0.01 V. ``AAA`` text keeps decimals.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.core import Buffer
from protocols.meitrack.fields import EPOCH_2000, EVENT_CODES, PROTOCOL, TIMED_REPORT, checksum, csq_from_pct
from protocols.record import Record

_CCC = struct.Struct("<BiiIBBBHHHHIIHHHHHHHHI")


def _u(value: float | int | None, limit: int, scale: float = 1.0) -> int:
    return min(max(int(round((value or 0) * scale)), 0), limit)


def _event_code(rec: Record) -> int:
    if rec.event is not None:
        if rec.event not in EVENT_CODES:
            raise ValueError(f"no Meitrack event code for {rec.event!r}; known: {sorted(EVENT_CODES)}")
        return EVENT_CODES[rec.event]
    code = rec.attributes.get("event_code")
    return int(code) if isinstance(code, int) and code not in EVENT_CODES.values() else TIMED_REPORT


def _cell(rec: Record) -> tuple[int, int, int, int]:
    a = rec.attributes
    mcc, mnc = a.get("mcc"), a.get("mnc")
    if mcc is None and rec.operator is not None:
        op = rec.operator
        mcc, mnc = (op // 1000, op % 1000) if op >= 100000 else (op // 100, op % 100)
    return int(mcc or 0), int(mnc or 0), int(a.get("lac") or 0), int(a.get("cell_id") or 0)


def _packet(flag: str, imei: str, kind: str, data: bytes) -> bytes:
    length = 1 + len(imei) + 1 + len(kind) + 1 + len(data) + 1 + 2 + 2
    head = f"$${flag}{length},{imei},{kind},".encode() + data + b"*"
    return head + checksum(head) + b"\r\n"


def ccc_record(rec: Record) -> bytes:
    """One 52-byte ``CCC`` record."""
    if rec.fix_time is None or rec.fix_time < EPOCH_2000:
        raise ValueError("a CCC record needs a fix_time after 2000-01-01")
    mcc, mnc, lac, cid = _cell(rec)
    a = rec.attributes
    return _CCC.pack(
        _event_code(rec),
        int(round((rec.lat or 0.0) * 1e6)),
        int(round((rec.lon or 0.0) * 1e6)),
        int(rec.fix_time) - EPOCH_2000,
        1 if rec.valid else 0,
        _u(rec.satellites, 255),
        csq_from_pct(rec.gsm_signal_pct),
        _u(rec.speed_kmh, 0xFFFF),
        _u(rec.course_deg, 359),
        _u(rec.hdop, 0xFFFF, 10),
        _u(rec.altitude_m, 0xFFFF),
        _u(rec.odometer_m, 0xFFFFFFFF),
        _u(a.get("runtime_s"), 0xFFFFFFFF),
        mcc & 0xFFFF, mnc & 0xFFFF, lac & 0xFFFF, cid & 0xFFFF,
        _u(a.get("io_status"), 0xFFFF),
        _u(a.get("adc1"), 0xFFFF),
        _u(rec.battery_voltage_v, 0xFFFF, 100),
        _u(rec.ext_voltage_v, 0xFFFF, 100),
        0,
    )


def encode_ccc(imei: str, records: Sequence[Record], flag: str = "A", cached: int | None = None) -> bytes:
    """A ``CCC`` packet of ``records`` (protocol 0x0102, 52-byte records)."""
    body = struct.pack("<HHI", 0x0102, _CCC.size, len(records) if cached is None else cached)
    return _packet(flag, imei, "CCC", body + b"".join(ccc_record(r) for r in records))


def encode_aaa(imei: str, rec: Record, flag: str = "A") -> bytes:
    """An ``AAA`` text report with decimal voltages."""
    if rec.fix_time is None:
        raise ValueError("an AAA report needs a fix_time")
    stamp = time.strftime("%y%m%d%H%M%S", time.gmtime(int(rec.fix_time)))
    mcc, mnc, lac, cid = _cell(rec)
    a = rec.attributes
    io = f"{_u(a.get('input'), 255):02X}{_u(a.get('output'), 255):02X}"
    analog = f"{rec.battery_voltage_v or 0:.2f}|{rec.ext_voltage_v or 0:.2f}|0.00|0.00|0.00"
    fields = [
        str(_event_code(rec)), f"{rec.lat or 0.0:.6f}", f"{rec.lon or 0.0:.6f}", stamp, "A" if rec.valid else "V",
        str(rec.satellites or 0), str(csq_from_pct(rec.gsm_signal_pct)), f"{rec.speed_kmh or 0:.0f}",
        f"{rec.course_deg or 0:.0f}", f"{rec.hdop or 0:.1f}", f"{rec.altitude_m or 0:.0f}",
        f"{rec.odometer_m or 0:.0f}", str(_u(a.get("runtime_s"), 0xFFFFFFFF)), f"{mcc}|{mnc:02d}|{lac:04X}|{cid:04X}",
        io, analog, "", "", "3", "",
    ]
    return _packet(flag, imei, "AAA", ",".join(fields).encode())


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """A command as the device receives it: the data identifier to echo, its code and parameters."""

    flag: str
    code: str
    params: str

    @property
    def text(self) -> str:
        """The command as sent (``C01,0,12222``)."""
        return f"{self.code},{self.params}" if self.params else self.code


SERVER_ANSWERS = frozenset(("CCC", "AAC"))
"""What a server sends that is an answer to the device (record and clock ACKs), not a command."""


def decode_command(line: bytes) -> ServerCommand | None:
    """The command in one ``@@<flag><len>,<imei>,<code>[,<params>]*<sum>\\r\\n`` line, else None."""
    text = line.decode("latin-1").strip()
    star = text.rfind("*")
    if not text.startswith("@@") or len(text) < 4 or star < 0:
        return None
    parts = text[3:star].split(",", 3)
    if len(parts) < 3 or parts[2] in SERVER_ANSWERS:
        return None
    return ServerCommand(text[2], parts[2], parts[3] if len(parts) > 3 else "")


def encode_answer(imei: str, command: ServerCommand, text: str) -> bytes:
    """The device's answer to ``command``: its flag and code, then ``text`` (commas kept out)."""
    clean = text.replace(",", ";").replace("*", " ")
    return _packet(command.flag, imei, command.code, clean.encode("latin-1"))


class DeviceCodec:
    """One simulated Meitrack connection: ``CCC`` packets, each acknowledged by the server.

    With ``binary=False`` it sends ``AAA`` text reports instead, which the server does not
    acknowledge.
    """

    protocol = PROTOCOL

    def __init__(self, imei: str, binary: bool = True) -> None:
        self.imei = imei
        self.binary = binary
        self.acks_positions = binary
        self._flag = 0
        self._rx = Buffer(limit=1 << 16)
        self._commands: list[ServerCommand] = []

    def _next_flag(self) -> str:
        self._flag = (self._flag + 1) % 26
        return chr(0x41 + self._flag)

    def login(self) -> bytes:
        """Meitrack has no login: the first report identifies the device."""
        return b""

    def encode(self, records: Sequence[Record]) -> bytes:
        """One ``CCC`` packet of all ``records`` (or one ``AAA`` report per record)."""
        if self.binary:
            return encode_ccc(self.imei, records, self._next_flag())
        return b"".join(encode_aaa(self.imei, r, self._next_flag()) for r in records)

    def acks(self, data: bytes) -> int:
        """Count the ``@@...,CCC,<n>*XX\\r\\n`` answers in ``data`` (one per packet sent)."""
        rx = self._rx
        rx.feed(data)
        count = 0
        while True:
            start = rx.find(b"@@")
            if start < 0:
                rx.skip(max(len(rx) - 1, 0))
                rx.commit()
                return count
            rx.skip(start)
            rx.commit()
            end = rx.find(b"\r\n")
            if end < 0:
                return count
            line = rx.read(end + 2) or b""
            rx.commit()
            if b",CCC," in line:
                count += 1
                continue
            command = decode_command(line)
            if command is not None:
                self._commands.append(command)

    def take_commands(self) -> list[ServerCommand]:
        """Server commands received since the last call (``@@`` frames other than answers), oldest first."""
        taken, self._commands = self._commands, []
        return taken

    def answer(self, command: ServerCommand, text: str) -> bytes:
        """``$$<flag><len>,<imei>,<code>,<text>*<sum>\\r\\n``: the same flag and command code."""
        return encode_answer(self.imei, command, text)
