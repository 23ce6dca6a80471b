"""Ruptela record data (commands 1 and 68, DTCs 9) and what its IO ids mean.

A record is ``timestamp (4) | timestamp extension (1) | [record extension (1), command 68 only] |
priority (1) | longitude (4, 1e-7) | latitude (4, 1e-7) | altitude (2, 0.1 m) | angle (2, 0.01°) |
satellites (1) | speed (2, km/h) | HDOP (1, 0.1) | event id (1, or 2 for command 68)`` followed by
four IO groups of 1, 2, 4 and 8-byte values, each ``count (1) | (id, value)*`` with 1-byte ids
(2-byte for command 68). Command 68 may split one record over several ("record extension": merge
count in the high nibble, index in the low one); the parts are merged back as Traccar does.

Every IO value stays raw as ``"io<ID>"``. A few are also mapped to the record, after Traccar and
the FM-Eco4/FM-Tco4 IO list: 409/251 ignition (DIN4, IO 5, the input FM devices wire to ignition,
when neither is sent), 29 external and 30 internal voltage (mV), 27 GSM signal (0-31), 65
odometer (m), 13/173 motion, and the alarm ids Traccar knows.
"""

from __future__ import annotations

import struct

from protocols.dates import utc_seconds
from protocols.record import RecordFields, operator_code

PROTOCOL = "ruptela"

CMD_RECORDS = 1
CMD_EXTENDED_RECORDS = 68
CMD_DTCS = 9

NO_COORDINATE = -(1 << 31)
"""Longitude/latitude ``0x80000000``: no fix, the position is unknown."""

_S32 = struct.Struct(">i")
_POSITION = struct.Struct(">iiHHBHB")

ALARMS: dict[int, str] = {88: "jamming", 134: "hard_braking", 136: "hard_acceleration", 410: "tow", 411: "accident",
                          758: "tamper"}
"""IO id -> alarm when its value is non-zero (758: when it is 1)."""


class Fields(RecordFields):
    """The record being built (see ``RecordFields``): raw IO and other attributes, alarms by IO id."""

    __slots__ = ()
    protocol = PROTOCOL


def csq_percent(value: int) -> int | None:
    """GSM signal 0-31 (CSQ) as 0-100 %; anything else is unknown."""
    return round(value * 100 / 31) if 0 <= value <= 31 else None


def apply_io(rec: Fields, io: dict[int, int]) -> None:
    """Raw ``io<N>`` attributes, then the well-known ids mapped to the record."""
    a = rec.a
    f = rec.f
    for io_id, value in io.items():
        a[f"io{io_id}"] = value
    for io_id in (409, 251):
        if io_id in io:
            f["ignition"] = io[io_id] > 0
            break
    else:
        if 5 in io:
            f["ignition"] = io[5] > 0
    if 29 in io:
        f["ext_voltage_v"] = io[29] / 1000.0
    if 30 in io:
        f["battery_voltage_v"] = io[30] / 1000.0
    if 27 in io:
        f["gsm_signal_pct"] = csq_percent(io[27])
    if 65 in io:
        f["odometer_m"] = float(io[65])
    for io_id in (13, 173):
        if io_id in io:
            f["motion"] = io[io_id] > 0
    if 150 in io and io[150] >= 10000:
        # IO 150: the operator code as MCC*100+MNC (or *1000 for 3-digit MNCs)
        f["operator"] = io[150]
    for io_id, name in ALARMS.items():
        if io_id in io and (io[io_id] == 1 if io_id == 758 else io[io_id] > 0):
            rec.alarm(name)
    if 415 in io and io[415] == 0:
        rec.alarm("gps_antenna_cut")
    _pairs(rec, io, 126, 127, "can_driver_id")
    _pairs(rec, io, 155, 156, "tco_driver_id")
    if 760 in io and 761 in io:
        a["tag_id"] = f"{io[760]:x}{io[761]:x}"


def _pairs(rec: Fields, io: dict[int, int], first: int, second: int, name: str) -> None:
    """Two 8-byte IO values that together hold an ASCII driver id (Traccar ``decodeDriver``)."""
    if first in io and second in io:
        raw = io[first].to_bytes(8, "big") + io[second].to_bytes(8, "big")
        rec.a[name] = raw.decode("latin-1")


def decode_records(data: bytes, command: int) -> list[Fields]:
    """Command 1 or 68 data: records left (1), count (1), then the records."""
    extended = command == CMD_EXTENDED_RECORDS
    data_len = len(data)
    off = 2
    count = data[1]
    out: list[Fields] = []
    for _ in range(count):
        rec = Fields()
        timestamp = _S32.unpack_from(data, off)[0] & 0xFFFFFFFF
        off += 5  # timestamp and its extension
        merge = False
        if extended:
            ext = data[off]
            off += 1
            merge = 0 < (ext & 0x0F) <= (ext >> 4) and bool(out)
        off += 1  # priority
        lon, lat, alt, angle, sats, speed, hdop = _POSITION.unpack_from(data, off)
        off += _POSITION.size
        f = rec.f
        f["fix_time"] = float(timestamp)
        if lon > NO_COORDINATE and lat > NO_COORDINATE:
            f.update(valid=True, lon=lon / 1e7, lat=lat / 1e7, altitude_m=alt / 10.0, course_deg=angle / 100.0,
                     satellites=sats, speed_kmh=float(speed), hdop=hdop / 10.0)
        else:
            f["valid"] = False
        if extended:
            rec.a["event_id"] = int.from_bytes(data[off : off + 2], "big")
            off += 2
        else:
            rec.a["event_id"] = data[off]
            off += 1
        io: dict[int, int] = {}
        id_size = 2 if extended else 1
        for size in (1, 2, 4, 8):
            n = data[off]
            off += 1
            for _ in range(n):
                end = off + id_size + size
                if end > data_len:
                    raise IndexError("IO element runs past the packet")
                io_id = int.from_bytes(data[off : off + id_size], "big")
                io[io_id] = int.from_bytes(data[off + id_size : end], "big")
                if io_id == 34:  # iButton / driver card: the value's bytes are the id
                    rec.a["driver_id"] = data[off + id_size : end].hex()
                off = end
        if merge:
            base = out[-1]
            if not rec.f.get("valid"):
                rec.f.pop("valid", None)  # a part without a fix keeps the position of the first
            base.f.update(rec.f)
            base.a.update(rec.a)
            rec = base
            io = {int(k[2:]): v for k, v in rec.a.items() if k.startswith("io") and k[2:].isdigit()} | io
            rec.alarms.clear()
        apply_io(rec, io)
        if not merge:
            out.append(rec)
    if off != data_len:
        raise ValueError(f"{data_len - off} bytes after the last record")
    return out


def decode_dtcs(data: bytes) -> list[Fields]:
    """Command 9: count (1), then ``reserved (1) | time (4) | lon (4) | lat (4) | archive (1) | code (5)``."""
    count = data[0]
    off = 1
    out = []
    for _ in range(count):
        if off + 19 > len(data):
            raise IndexError("DTC record runs past the packet")
        rec = Fields()
        timestamp = _S32.unpack_from(data, off + 1)[0] & 0xFFFFFFFF
        lon = _S32.unpack_from(data, off + 5)[0]
        lat = _S32.unpack_from(data, off + 9)[0]
        rec.f["fix_time"] = float(timestamp)
        if lon > NO_COORDINATE and lat > NO_COORDINATE:
            rec.f.update(valid=True, lon=lon / 1e7, lat=lat / 1e7)
        if data[off + 13] == 2:
            rec.a["archive"] = True
        rec.a["dtcs"] = data[off + 14 : off + 19].decode("latin-1")
        out.append(rec)
        off += 19
    return out


__all__ = ["CMD_DTCS", "CMD_EXTENDED_RECORDS", "CMD_RECORDS", "PROTOCOL", "Fields", "apply_io", "decode_dtcs",
           "decode_records", "operator_code", "utc_seconds"]
