"""Device side of H02: the sentences a tracker sends, for the simulators and round-trip tests.

Resolution of the protocol: 1/10000 minute of arc, 0.01 knot (text) or 1 knot (binary), whole
seconds. Unknown time and course are sent empty and decode back to None; an unknown position is
sent as 0,0, which decodes to None. Ignition is one status bit, so None is sent as "off".
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from protocols.h02.commands import REPLY_TYPES, ServerCommand
from protocols.h02.fields import KNOTS_TO_KMH, PROTOCOL, status_from_record
from protocols.record import Record


def _coordinate(value: float | None, degree_digits: int, hemispheres: str) -> tuple[str, str]:
    """``dddmm.mmmm`` and its hemisphere letter."""
    v = value or 0.0
    units = round(abs(v) * 600000)  # 1/10000 minute
    deg, rest = divmod(units, 600000)
    text = f"{deg:0{degree_digits}d}{rest // 10000:02d}.{rest % 10000:04d}"
    return text, hemispheres[1] if v < 0 else hemispheres[0]


def encode_v1(ident: str, rec: Record, maker: str = "HQ") -> bytes:
    """A ``V1`` position sentence: ``*HQ,<id>,V1,hhmmss,A,ddmm.mmmm,N,dddmm.mmmm,E,knots,course,
    ddmmyy,status#``."""
    if rec.fix_time is not None:
        tm = time.gmtime(int(rec.fix_time))
        clock = time.strftime("%H%M%S", tm)
        date = time.strftime("%d%m%y", tm)
    else:
        clock = date = ""
    lat, ns = _coordinate(rec.lat, 2, "NS")
    lon, ew = _coordinate(rec.lon, 3, "EW")
    knots = (rec.speed_kmh or 0.0) / KNOTS_TO_KMH
    course = "" if rec.course_deg is None else f"{rec.course_deg:.0f}"
    status = status_from_record(rec)
    valid = "A" if rec.valid else "V"
    return (
        f"*{maker},{ident},V1,{clock},{valid},{lat},{ns},{lon},{ew},{knots:.2f},{course},{date},{status:08X}#"
    ).encode()


def _bcd(digits: str) -> bytes:
    return bytes.fromhex(digits)


def encode_binary(ident: str, rec: Record, battery: int = 6) -> bytes:
    """A 32-byte ``$`` report (10-digit id; whole knots and degrees)."""
    if len(ident) > 10 or not ident.isdigit():
        raise ValueError(f"binary H02 frames carry a 10-digit id, not {ident!r}")
    if rec.fix_time is None:
        raise ValueError("a binary H02 frame needs a fix_time")
    tm = time.gmtime(int(rec.fix_time))
    lat_units = round(abs(rec.lat or 0.0) * 600000)
    lon_units = round(abs(rec.lon or 0.0) * 600000)
    lat_deg, lat_rest = divmod(lat_units, 600000)
    lon_deg, lon_rest = divmod(lon_units, 600000)
    flags = (0x2 if rec.valid else 0) | (0x4 if (rec.lat or 0.0) >= 0 else 0) | (0x8 if (rec.lon or 0.0) >= 0 else 0)
    knots = min(round((rec.speed_kmh or 0.0) / KNOTS_TO_KMH), 999)
    course = round(rec.course_deg or 0.0) % 360
    out = b"$" + _bcd(ident.rjust(10, "0"))
    out += _bcd(time.strftime("%H%M%S", tm) + time.strftime("%d%m%y", tm))
    out += _bcd(f"{lat_deg:02d}{lat_rest:06d}") + bytes((battery,))
    out += bytes.fromhex(f"{lon_deg:03d}{lon_rest:06d}{flags:X}")
    out += _bcd(f"{knots:03d}{course:03d}")
    out += status_from_record(rec).to_bytes(4, "big") + b"\xff\x00\x00"
    return out


def decode_server_sentence(raw: bytes) -> ServerCommand | None:
    """The command in one ``*..#`` sentence from the server; None for replies (``V4`` time, ``R12``...)."""
    fields = raw.decode("latin-1").strip().lstrip("*").rstrip("#").split(",")
    if len(fields) < 4 or fields[2] in REPLY_TYPES:
        return None
    return ServerCommand(fields[2], fields[3], ",".join(fields[4:]))


class ServerReceiver:
    """Cuts the sentences a device receives from the server: ``*...#``, bytes between skipped."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._rx = b""

    def feed(self, data: bytes) -> list[ServerCommand]:
        """The commands ``data`` completes; a partial sentence is kept (up to ``limit`` bytes)."""
        self._rx += data
        out: list[ServerCommand] = []
        while True:
            start = self._rx.find(b"*")
            if start < 0:
                self._rx = b""
                return out
            end = self._rx.find(b"#", start)
            if end < 0:
                self._rx = self._rx[start:][-self.limit :]
                return out
            command = decode_server_sentence(self._rx[start : end + 1])
            self._rx = self._rx[end + 1 :]
            if command is not None:
                out.append(command)


def encode_answer(ident: str, command: ServerCommand, result: str, rec: Record | None = None) -> bytes:
    """The device's ``V4`` confirmation: the command word, ``result``, the command's time, and a
    position (``rec``, or one without fix or time when the device has none)."""
    position = rec if rec is not None else Record(imei=ident, protocol="h02", fix_time=None, valid=False)
    report = encode_v1(ident, position).decode("ascii")  # *HQ,<id>,V1,<hhmmss>,<A|V>,...#
    head = f"*HQ,{ident},V1,"
    clean = result.replace(",", ";").replace("#", " ").replace("*", " ")
    return f"*HQ,{ident},V4,{command.word},{clean},{command.stamp},{report[len(head):]}".encode("ascii")


class DeviceCodec:
    """One simulated H02 tracker connection: V1 sentences, no login, no position ACKs."""

    protocol = PROTOCOL
    acks_positions = False

    def __init__(self, imei: str) -> None:
        self.imei = imei
        self._receiver = ServerReceiver()
        self._commands: list[ServerCommand] = []

    def login(self) -> bytes:
        """H02 has no login: the first report identifies the device."""
        return b""

    def encode(self, records: Sequence[Record]) -> bytes:
        """One ``V1`` sentence per record, concatenated."""
        return b"".join(encode_v1(self.imei, rec) for rec in records)

    def acks(self, data: bytes) -> int:
        """The server's answers (heartbeat echoes, ``V4`` time replies) acknowledge no positions;
        commands among them wait in :meth:`take_commands`."""
        self._commands.extend(self._receiver.feed(data))
        return 0

    def take_commands(self) -> list[ServerCommand]:
        """Server commands received since the last call, oldest first."""
        taken, self._commands = self._commands, []
        return taken

    def answer(self, command: ServerCommand, text: str) -> bytes:
        """The ``V4`` confirmation of ``command`` carrying ``text``."""
        return encode_answer(self.imei, command, text)
