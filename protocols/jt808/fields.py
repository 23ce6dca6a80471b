"""Shared JT808 field readers and the mapping of their values to the normalised record.

A reader takes the body and an offset, writes into a :class:`Fields` and returns the next offset,
so a message decoder reads like the table in the standard. Short bodies raise ``struct.error`` or
``IndexError``; the session turns those into a ProtocolError.
"""

from __future__ import annotations

import struct

from protocols.dates import utc_seconds_or_none
from protocols.record import RecordFields

PROTOCOL = "jt808"

U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
S16 = struct.Struct(">h")
U32 = struct.Struct(">I")
S32 = struct.Struct(">i")

DEFAULT_TZ_OFFSET_S = 8 * 3600
"""JT808 terminals send Beijing time (GMT+8); Traccar assumes the same unless told otherwise."""

_BCD = tuple((v >> 4) * 10 + (v & 0x0F) if (v >> 4) < 10 and (v & 0x0F) < 10 else -1 for v in range(256))


class Fields(RecordFields):
    """The record being built (see ``RecordFields``; several alarms: ``event`` the first, ``alarms`` all)."""

    __slots__ = ()
    protocol = PROTOCOL


def bcd_digits(data: bytes) -> str:
    """The nibbles of ``data`` as a string (hex digits, so a non-BCD nibble shows as a-f)."""
    return data.hex()


def _bcd_parts(b: bytes, off: int) -> list[int]:
    raw = b[off : off + 6]
    if len(raw) < 6:
        raise IndexError("BCD time cut short")
    return [_BCD[v] for v in raw]


def read_bcd_time(b: bytes, off: int, tz_offset: int) -> tuple[float | None, int]:
    """The 6-byte BCD ``YYMMDDhhmmss`` in the terminal's zone, as UTC seconds (None if invalid)."""
    y, mo, d, h, mi, s = _bcd_parts(b, off)
    if min(y, mo, d, h, mi, s) < 0:
        return None, off + 6
    moment = utc_seconds_or_none(2000 + y, mo, d, h, mi, s)
    return (None if moment is None else moment - tz_offset), off + 6


def set_time(rec: Fields, b: bytes, off: int, tz_offset: int) -> int:
    """Fix time from a BCD time; an impossible one leaves it None and keeps what was sent."""
    y, mo, d, h, mi, s = _bcd_parts(b, off)
    if min(y, mo, d, h, mi, s) < 0:  # a nibble above 9: kept as the hex digits
        rec.impossible_time(b[off : off + 6].hex())
        return off + 6
    if rec.set_time_parts(2000 + y, mo, d, h, mi, s, offset_s=tz_offset) is not None and tz_offset:
        rec.a["device_tz_offset_s"] = tz_offset
    return off + 6


def luhn_digit(number: int) -> int:
    """Luhn check digit for ``number`` (Traccar appends one to IMEIs it rebuilds)."""
    total = 0
    for i, ch in enumerate(reversed(str(number))):
        digit = int(ch)
        if i % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def decode_id(phone: bytes) -> str:
    """The terminal phone field as Traccar reads it: its BCD digits, or for a binary 6-byte field
    (some devices put their IMEI there) the 48-bit number with a Luhn digit."""
    digits = phone.hex()
    if digits.isdigit():
        return digits
    number = int.from_bytes(phone[:6].ljust(6, b"\x00"), "big")
    return f"{number}{luhn_digit(number)}"


def device_id(phone: bytes) -> str:
    """The id the service knows a JT808 terminal by: :func:`decode_id` without leading zeros
    (Traccar looks a device up by this stripped form first); all zeros stay ``"0"``."""
    return decode_id(phone).lstrip("0") or "0"


def encode_phone(device: str, length: int = 6) -> bytes:
    """The BCD phone field for ``device`` (digits, left-padded with zeros); ``ValueError`` if it
    has more than ``2 * length`` digits or anything but digits."""
    if not device.isdigit() or len(device) > 2 * length:
        raise ValueError(f"JT808 terminal id must be up to {2 * length} digits, got {device!r}")
    return bytes.fromhex(device.rjust(2 * length, "0"))


GENERIC_ALARMS: tuple[tuple[tuple[int, ...], str], ...] = (
    ((0,), "sos"),
    ((1,), "overspeed"),
    ((2,), "fatigue_driving"),
    ((5, 6), "gps_antenna_cut"),
    ((4, 9, 10, 11), "fault"),
    ((7, 18), "low_battery"),
    ((8,), "power_off"),
    ((15,), "vibration"),
    ((16, 17), "tamper"),
    ((19,), "parking"),
    ((20,), "geofence"),
    ((26,), "general"),
    ((28,), "movement"),
    ((29, 30), "accident"),
)
"""Alarm-flag bits -> event, in Traccar's order (JT/T 808 table 24 as devices use it)."""

PADLOCK_MODELS = frozenset(("G-360P", "G-508P"))
AOVX_MODELS = frozenset(("AL300", "GL100"))
JC_MODELS = frozenset(("JC371", "JC181", "JC182", "JC450", "JC451"))


def decode_alarm(rec: Fields, value: int, model: str | None) -> None:
    """The 32-bit alarm word; kept raw too, because bit meanings vary between vendors."""
    rec.a["alarm_flags"] = value
    if model in PADLOCK_MODELS:
        if value & 0x11:
            rec.alarm("removing")
        if value & 0x02:
            rec.alarm("tamper")
        return
    if model in AOVX_MODELS:
        if value & (1 << 16):
            rec.alarm("movement")
        return
    for bits, name in GENERIC_ALARMS:
        if any(value >> bit & 1 for bit in bits):
            if name == "accident" and model == "VL300":
                continue
            rec.alarm(name)


def decode_status_and_position(rec: Fields, b: bytes, off: int, model: str | None) -> int:
    """Status word, latitude and longitude (1e-6 degrees; bit 2 south, bit 3 west).

    ACC (bit 0) is the ignition and bit 1 the fix. A 0/0 position is a terminal that never had
    a fix: its coordinates are unknown, not the Gulf of Guinea.
    """
    status, lat_raw, lon_raw = struct.unpack_from(">III", b, off)
    f = rec.f
    a = rec.a
    a["status_flags"] = status
    f["ignition"] = bool(status & 0x01)
    f["valid"] = bool(status & 0x02)
    if model == "G1C Pro":
        f["motion"] = bool(status & 0x10)
    a["blocked"] = bool(status & (1 << 10))
    if model in ("MV810G", "MV710G"):
        a["door"] = bool(status & (1 << 16))
    if status & (1 << 26):
        a["charge"] = True
    if lat_raw or lon_raw:
        lat = lat_raw / 1_000_000.0
        lon = lon_raw / 1_000_000.0
        f["lat"] = -lat if status & 0x04 else lat
        f["lon"] = -lon if status & 0x08 else lon
    return off + 12


def csq_percent(value: int) -> int | None:
    """GSM signal as 0-100 % from the 0-31 CSQ scale JT808 terminals report; 99 and other
    out-of-scale values mean unknown."""
    if 0 <= value <= 31:
        return round(value * 100 / 31)
    return None


def percent_csq(pct: int) -> int:
    """The inverse of :func:`csq_percent` (to the nearest CSQ step)."""
    return min(max(round(pct * 31 / 100), 0), 31)


def ascii_text(data: bytes) -> str:
    """Bytes as text, control padding dropped at both ends (Java's ``trim``)."""
    return data.decode("latin-1").strip("".join(chr(c) for c in range(33)))


def gbk_text(data: bytes) -> str:
    """JT808 strings are GBK; undecodable bytes are replaced rather than failing the message."""
    return data.decode("gbk", errors="replace")


def is_printable(data: bytes) -> bool:
    """Traccar's ``BufferUtil.isPrintable``: every byte between space and ``~`` (or CR/LF/TAB)."""
    return all(32 <= c < 127 or c in (9, 10, 13) for c in data)
