"""Field decoders shared by every GT06 message family, and their mapping to the normalised record.

Each reader takes the frame content and an offset, writes what it found into a :class:`Fields`
and returns the offset after it, so a message handler reads like the protocol table it follows.
Short content raises ``struct.error``/``IndexError``; the session turns that into a ProtocolError.
"""

from __future__ import annotations

import struct

from protocols.record import RecordFields, operator_code

PROTOCOL = "gt06"

U16 = struct.Struct(">H")
S16 = struct.Struct(">h")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
TIME = struct.Struct(">6B")
GPS = struct.Struct(">6BBIIBH")  # date, info (len<<4 | satellites), lat, lon, speed, course/status

COORD_SCALE = 1_800_000.0
"""Degrees = raw / (30000 * 60)."""

class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL


def read_time(b: bytes, off: int, rec: Fields, tz: int) -> int:
    """The 6-byte binary date-time (YY MM DD hh mm ss in the login's zone); an impossible one
    leaves fix_time None and keeps the date as sent (``RecordFields.set_time_parts``)."""
    y, mo, d, h, mi, s = TIME.unpack_from(b, off)
    rec.set_time_parts(2000 + y, mo, d, h, mi, s, offset_s=tz)
    return off + 6


_BCD = tuple((v >> 4) * 10 + (v & 0x0F) for v in range(256))


def read_bcd_time(b: bytes, off: int, rec: Fields, tz: int) -> int:
    """The WiFi frames' BCD date-time (a nibble above 9 makes it impossible, kept as hex)."""
    raw = b[off : off + 6]
    if len(raw) < 6:
        raise IndexError("BCD time cut short")
    y, mo, d, h, mi, s = (_BCD[v] for v in raw)
    digits = raw.hex()
    rec.set_time_parts(2000 + y, mo, d, h, mi, s, offset_s=tz, raw=None if digits.isdigit() else digits)
    return off + 6


def apply_point(rec: Fields, lat_raw: int, lon_raw: int, flags: int) -> None:
    """Signs, validity, course and the optional ignition bit of the course/status word."""
    f = rec.f
    f["course_deg"] = float(flags & 0x3FF)
    f["valid"] = bool(flags & 0x1000)
    if lat_raw == 0 and lon_raw == 0:
        # no fix ever: zero is "unknown", not the Gulf of Guinea
        f["lat"] = f["lon"] = None
    else:
        lat = lat_raw / COORD_SCALE
        lon = lon_raw / COORD_SCALE
        f["lat"] = lat if flags & 0x400 else -lat
        f["lon"] = -lon if flags & 0x800 else lon
    if flags & 0x4000:
        f["ignition"] = bool(flags & 0x8000)
    rec.a["course_status"] = flags


def read_gps(b: bytes, off: int, rec: Fields, tz: int) -> int:
    """The standard 18-byte GPS block: time, info, latitude, longitude, speed, course/status."""
    y, mo, d, h, mi, s, info, lat, lon, speed, flags = GPS.unpack_from(b, off)
    rec.set_time_parts(2000 + y, mo, d, h, mi, s, offset_s=tz)
    rec.f["satellites"] = info & 0x0F
    rec.f["speed_kmh"] = float(speed)
    apply_point(rec, lat, lon, flags)
    return off + GPS.size


def set_cell(rec: Fields, mcc: int, mnc: int, lac: int, cid: int) -> None:
    """Serving cell: operator code plus the raw identifiers."""
    a = rec.a
    a["mcc"] = mcc
    a["mnc"] = mnc
    a["lac"] = lac
    a["cell_id"] = cid
    if mcc:
        rec.f["operator"] = operator_code(mcc, mnc)


def read_lbs(
    b: bytes,
    off: int,
    rec: Fields,
    *,
    has_length: bool = False,
    mnc2: bool = False,
    lac4: bool = False,
    cid_len: int = 3,
) -> int:
    """One cell: [length] MCC (bit 15 set: 2-byte MNC), MNC, LAC, cell ID.

    A length byte of 0 means no cell; some firmware then pads with zeros, which Traccar skips.
    """
    length = 0
    if has_length:
        length = b[off]
        off += 1
        if length == 0:
            if off + 45 <= len(b) and not b[off + 9 : off + 45].strip(b"\x00"):
                off += 45
            return off
    start = off - 1 if has_length else off
    mcc = U16.unpack_from(b, off)[0]
    off += 2
    if mcc & 0x8000 or mnc2:
        mnc = U16.unpack_from(b, off)[0]
        off += 2
    else:
        mnc = b[off]
        off += 1
    if lac4:
        lac = U32.unpack_from(b, off)[0]
        off += 4
    else:
        lac = U16.unpack_from(b, off)[0]
        off += 2
    if len(b) < off + cid_len:
        raise IndexError("cell id cut short")
    cid = int.from_bytes(b[off : off + cid_len], "big")
    off += cid_len
    set_cell(rec, mcc & 0x7FFF, mnc, lac, cid)
    if length > 9:
        off = max(off, start + length)
    return off


STATUS_ALARMS = {1: "vibration", 2: "power_cut", 3: "low_battery", 4: "sos", 6: "geofence"}
"""Terminal-information bits 3-5 (Traccar ``decodeStatus``); 7 is variant-dependent."""


def read_terminal_info(b: bytes, off: int, rec: Fields, *, seven: str = "removing") -> int:
    """The terminal-information byte: armed, ACC, charging, alarm bits, GPS tracking, fuel cut."""
    info = b[off]
    a = rec.a
    a["terminal_info"] = info
    a["armed"] = bool(info & 0x01)
    rec.f["ignition"] = bool(info & 0x02)
    a["charging"] = bool(info & 0x04)
    bits = (info >> 3) & 0x07
    a["terminal_alarm"] = bits
    a["gps_tracking"] = bool(info & 0x40)
    a["oil_electricity_disconnected"] = bool(info & 0x80)
    name = seven if bits == 7 else STATUS_ALARMS.get(bits)
    if name is not None and "event" not in rec.f:
        rec.f["event"] = name
    return off + 1


def set_voltage_level(rec: Fields, value: int) -> None:
    """The battery byte: a 0-6 level on classic devices, a percentage on newer ones."""
    if value <= 6:
        rec.a["voltage_level"] = value
    elif value <= 100:
        rec.a["battery_pct"] = value
    else:
        rec.a["battery_raw"] = value


def set_gsm_level(rec: Fields, value: int) -> None:
    """The GSM byte: a 0-4 level maps to 0-100 %; anything else is kept raw (scale unknown)."""
    if value <= 4:
        rec.a["gsm_level"] = value
        rec.f["gsm_signal_pct"] = value * 25
    else:
        rec.a["gsm_signal_raw"] = value


ALARMS = {
    0x01: "sos",
    0x02: "power_cut",
    0x03: "vibration",
    0x04: "geofence_enter",
    0x05: "geofence_exit",
    0x06: "overspeed",
    0x09: "vibration",
    0x0C: "tamper",
    0x0E: "low_battery",
    0x0F: "low_battery",
    0x11: "power_off",
    0x13: "tamper",
    0x14: "door",
    0x18: "removing",
    0x19: "low_battery",
    0x1A: "hard_braking",
    0x1B: "hard_cornering",
    0x23: "fall_down",
    0x25: "tamper",
    0x26: "hard_acceleration",
    0x27: "hard_braking",
    0x28: "hard_braking",
    0x29: "hard_acceleration",
    0x2A: "hard_cornering",
    0x2B: "hard_cornering",
    0x2C: "accident",
    0x2E: "hard_cornering",
    0x30: "jamming",
}
"""Alarm byte of status frames, after Traccar's ``decodeAlarm`` (snake_case names)."""

_ALARMS_LW = {**ALARMS, 0x18: "accident", 0x19: "hard_acceleration"}
_ALARMS_SEEWORLD = {**ALARMS, 0x28: "hard_cornering", 0x29: "accident"}
_ALARMS_VL = {**ALARMS, 0x09: "tow", 0x30: "hard_braking"}
_VL_MODELS = frozenset(("VL103", "LL303", "VL512", "G18"))


def alarm_table(model: str | None) -> dict[int, str]:
    """The alarm table a device model uses (some models reuse codes)."""
    if not model:
        return ALARMS
    upper = model.upper()
    if upper.startswith("LW"):
        return _ALARMS_LW
    if upper == "SEEWORLD":
        return _ALARMS_SEEWORLD
    if upper in _VL_MODELS:
        return _ALARMS_VL
    return ALARMS


def set_alarm(rec: Fields, code: int, table: dict[int, str]) -> None:
    """Alarm byte: raw code kept; a known code names the event (over the status-bit guess)."""
    rec.a["alarm_code"] = code
    name = table.get(code)
    if name is not None:
        rec.f["event"] = name


_TEXT = bytes(range(0x20, 0x7F)) + b"\r\n\t"


def printable(data: bytes) -> bool:
    """True when ``data`` is plain ASCII text (Traccar's ``BufferUtil.isPrintable``)."""
    return not data.translate(None, _TEXT)
