"""H02 binary reports (``$``): BCD id, time, date, coordinates, speed/course and status word.

Layout (5-byte id; an 8-byte IMEI shifts everything by 3)::

    $ | id (5 BCD) | hhmmss | ddmmyy | lat DD MM.MMMM (4) | battery (1)
      | lon DDD MM.MMMM + flags nibble (5) | speed knots SSS + course CCC (3) | status (4) | ...

Flags: bit 1 valid fix, bit 2 north, bit 3 east. The 45-byte form appends, after the user-alarm
byte, an extension whose last 8 bytes are MCC, MNC, LAC, cell ID and a record number (matched
against the positions of captured frames: every MCC found is the country of the fix). Other
extensions are kept raw.
"""

from __future__ import annotations

import struct

from protocols.h02.fields import KNOTS_TO_KMH, Fields, apply_status, battery_pct
from protocols.record import operator_code

_U32 = struct.Struct(">I")
_CELL = struct.Struct(">HBHHB")


def _digits(data: bytes) -> str:
    """The BCD nibbles as text; raises ValueError on a nibble above 9."""
    text = data.hex()
    if not text.isdigit():
        raise ValueError(f"not BCD: {text}")
    return text


def device_id(raw: bytes, long_id: bool) -> str:
    """The id as Traccar prints it: 10 hex digits, or the first 15 of an 8-byte IMEI."""
    return raw[1:9].hex()[:15] if long_id else raw[1:6].hex()


def decode(raw: bytes, long_id: bool) -> Fields:
    """One binary frame (``$`` at ``raw[0]``) into a record."""
    off = 9 if long_id else 6
    rec = Fields()
    f, a = rec.f, rec.a
    clock = _digits(raw[off : off + 3])
    date = _digits(raw[off + 3 : off + 6])
    rec.set_time_parts(2000 + int(date[4:]), int(date[2:4]), int(date[:2]), int(clock[:2]), int(clock[2:4]),
                       int(clock[4:]))
    lat_digits = _digits(raw[off + 6 : off + 10])
    battery = raw[off + 10]
    lon_field = raw[off + 11 : off + 16].hex()
    speed_course = _digits(raw[off + 16 : off + 19])
    if not lon_field[:9].isdigit():
        raise ValueError(f"longitude not BCD: {lon_field}")
    flags = int(lon_field[9], 16)
    lat = int(lat_digits[:2]) + int(lat_digits[2:]) / 10000 / 60
    lon = int(lon_field[:3]) + int(lon_field[3:9]) / 10000 / 60
    f["valid"] = bool(flags & 0x2)
    if lat == 0 and lon == 0:
        f["lat"] = f["lon"] = None
    else:
        f["lat"] = lat if flags & 0x4 else -lat
        f["lon"] = lon if flags & 0x8 else -lon
    f["speed_kmh"] = int(speed_course[:3]) * KNOTS_TO_KMH
    f["course_deg"] = float(int(speed_course[3:]))
    pct = battery_pct(battery)
    if pct is not None:
        a["battery_pct"] = pct
    else:
        a["battery_raw"] = battery
    apply_status(rec, _U32.unpack_from(raw, off + 19)[0])
    rest = raw[off + 23 :]
    if not long_id and len(raw) == 45:
        a["user_alarm"] = rest[0]
        mcc, mnc, lac, cid, index = _CELL.unpack_from(rest, len(rest) - _CELL.size)
        a.update(mcc=mcc, mnc=mnc, lac=lac, cell_id=cid, record_no=index)
        if mcc:
            f["operator"] = operator_code(mcc, mnc)
        a["extension"] = rest[1 : len(rest) - _CELL.size].hex()
    elif rest:
        a["extension"] = rest.hex()
    return rec
