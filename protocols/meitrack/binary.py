"""Meitrack binary reports: ``CCC`` (fixed 52-byte records) and ``CCE`` (records of tagged values).

All numbers are little-endian; times count seconds from 2000-01-01 UTC; coordinates are signed
millionths of a degree.

``CCC``: protocol version (2), record length (2, 0x34), cached records (4), then records of
event, lat, lon, time, valid, satellites, GSM, speed, course, HDOP/10, altitude, odometer,
runtime, MCC, MNC, LAC, CI, I/O, AD1, battery V/100, power V/100, geofence.

``CCE``: cached records (4), record count (2), then per record its length (2, counting from
the index on) and index (2), and four groups, each a count then id/value pairs: 1-, 2- and
4-byte values, then id/length/bytes. An id starting with 0xFE takes two bytes. The record
length bounds each record, so an unknown or padded value costs its record's tail, not the rest.
Ids after Traccar's ``decodeBinaryE`` and the captured payloads; unknown ids are kept raw as
``param_<id>``.
"""

from __future__ import annotations

import struct

from protocols.meitrack.fields import EPOCH_2000, Fields, set_event, set_gsm, set_position
from protocols.record import operator_code

_CCC_HEAD = struct.Struct("<HHI")
_CCC = struct.Struct("<BiiIBBBHHHHIIHHHHHHHHI")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")


def decode_ccc(data: bytes) -> list[Fields]:
    """The data after ``CCC,`` (up to ``*``)."""
    _version, size, cached = _CCC_HEAD.unpack_from(data, 0)
    size = max(size, _CCC.size)
    out = []
    off = _CCC_HEAD.size
    while off + _CCC.size <= len(data):
        (event, lat, lon, seconds, valid, sats, gsm, speed, course, hdop, alt, odometer, runtime,
         mcc, mnc, lac, cid, io, adc1, battery, power, _fence) = _CCC.unpack_from(data, off)
        off += size
        rec = Fields()
        r, a = rec.f, rec.a
        set_event(rec, event)
        set_position(rec, lat / 1e6, lon / 1e6)
        r["fix_time"] = float(EPOCH_2000 + seconds)
        r["valid"] = valid == 1
        r["satellites"] = sats
        set_gsm(rec, gsm)
        r.update(speed_kmh=float(speed), course_deg=float(course), hdop=hdop / 10, altitude_m=float(alt))
        r["odometer_m"] = float(odometer)
        a["runtime_s"] = runtime
        a.update(mcc=mcc, mnc=mnc, lac=lac, cell_id=cid, io_status=io, adc1=adc1)
        if mcc:
            r["operator"] = operator_code(mcc, mnc)
        r["battery_voltage_v"] = battery / 100
        r["ext_voltage_v"] = power / 100
        a["cached_records"] = cached
        out.append(rec)
    return out


def _byte(rec: Fields, pid: int, v: int) -> None:
    r, a = rec.f, rec.a
    if pid == 0x01:
        set_event(rec, v)
    elif pid == 0x05:
        r["valid"] = v > 0
    elif pid == 0x06:
        r["satellites"] = v
    elif pid == 0x07:
        set_gsm(rec, v)
    elif pid == 0x14:
        a["output"] = v
    elif pid == 0x15:
        a["input"] = v
    elif pid == 0x47:
        if v:
            a["lock"] = v == 2
    elif pid == 0x97:
        a["throttle_pct"] = v
    elif pid == 0x9D:
        a["fuel_level_pct"] = v
    elif pid == 0xFE69:
        a["battery_pct"] = v
    else:
        a[f"param_{pid:x}"] = v


def _word(rec: Fields, pid: int, v: int) -> None:
    r, a = rec.f, rec.a
    if pid == 0x08:
        r["speed_kmh"] = float(v)
    elif pid == 0x09:
        r["course_deg"] = float(v)
    elif pid == 0x0A:
        r["hdop"] = v / 10
    elif pid == 0x0B:
        r["altitude_m"] = float(v - 0x10000 if v & 0x8000 else v)
    elif pid in (0x16, 0x17, 0x18):
        a[f"adc{pid - 0x15}_v"] = v / 100
    elif pid == 0x19:
        r["battery_voltage_v"] = v / 100
    elif pid == 0x1A:
        r["ext_voltage_v"] = v / 100
    elif pid == 0x40:
        set_event(rec, v)
    elif pid in (0x91, 0x92):
        a["obd_speed_kmh"] = v
    elif pid == 0x98:
        a["fuel_used"] = v
    elif pid == 0x99:
        a["rpm"] = v
    elif pid == 0x9C:
        a["coolant_temp_c"] = v
    elif pid == 0x9F:
        a["temperature1_c"] = v
    elif pid == 0xC9:
        a["fuel_consumption"] = v
    else:
        a[f"param_{pid:x}"] = v


def _dword(rec: Fields, pid: int, v: int) -> None:
    r, a = rec.f, rec.a
    signed = v - 0x100000000 if v & 0x80000000 else v
    if pid == 0x02:
        r["lat"] = signed / 1e6
    elif pid == 0x03:
        r["lon"] = signed / 1e6
    elif pid == 0x04:
        r["fix_time"] = float(EPOCH_2000 + v)
    elif pid in (0x0C, 0x9B):
        r["odometer_m"] = float(v)
    elif pid == 0x0D:
        a["runtime_s"] = v
    elif pid == 0x25:
        a["driver_id"] = str(v)
    elif pid == 0xA0:
        a["fuel_used_l"] = v / 1000
    elif pid == 0xA2:
        a["fuel_consumption"] = v / 100
    elif pid == 0xFEF4:
        a["engine_hours_s"] = v * 60
    else:
        a[f"param_{pid:x}"] = v


def _bytes(rec: Fields, pid: int, v: bytes) -> None:
    a = rec.a
    if 0x2A <= pid <= 0x31 and len(v) >= 3:
        a[f"temperature{pid - 0x2A}_c"] = _I16.unpack_from(v, 1)[0] / 100
    elif pid == 0x0E and len(v) >= 10:
        mcc, mnc, lac = struct.unpack_from("<HHH", v, 0)
        a.update(mcc=mcc, mnc=mnc, lac=lac, cell_id=_U32.unpack_from(v, 6)[0])
        if mcc:
            rec.f["operator"] = operator_code(mcc, mnc)
    elif pid == 0xFE31 and len(v) >= 2:
        a["alarm_protocol"], a["alarm_type"] = v[0], v[1]
        if len(v) > 2:
            a["image"] = v[2:].decode("latin-1")
    elif pid == 0xFEA8 and len(v) >= 6:
        for k in range(3):
            if v[2 * k]:
                a["battery_pct" if k == 0 else f"battery{k + 1}_pct"] = v[2 * k + 1]
    elif pid == 0xFE73 and v:
        _tags(a, v)
    else:
        a[f"param_{pid:x}"] = v.hex()


def _tags(a: dict[str, object], v: bytes) -> None:
    """Bluetooth sensor tags: count, then name, MAC, battery, temperature, humidity, thresholds."""
    off = 1
    for n in range(v[0]):
        size = v[off]
        name = v[off + 1 : off + 1 + size].decode("latin-1")
        off += 1 + size
        mac = v[off : off + 6].hex(":")
        battery = v[off + 6]
        temp, humidity = struct.unpack_from("<hh", v, off + 7)
        off += 6 + 1 + 4 + 8
        key = "tag" if n == 0 else f"tag{n + 1}"
        a[f"{key}_name"], a[f"{key}_mac"], a[f"{key}_battery_pct"] = name, mac, battery
        a[f"{key}_temp_c"], a[f"{key}_humidity_pct"] = temp / 256, humidity / 256


def _pid(data: bytes, off: int) -> tuple[int, int]:
    if data[off] == 0xFE:
        return (data[off] << 8) | data[off + 1], off + 2
    return data[off], off + 1


def decode_cce(data: bytes) -> list[Fields]:
    """The data after ``CCE,`` (up to ``*``)."""
    cached = _U32.unpack_from(data, 0)[0]
    count = _U16.unpack_from(data, 4)[0]
    off = 6
    out = []
    for _ in range(count):
        length = _U16.unpack_from(data, off)[0]
        end = off + 2 + length
        if end > len(data):
            raise ValueError(f"CCE record of {length} bytes runs past the packet")
        record = data[off + 4 : end]
        rec = Fields()
        rec.a["index"] = _U16.unpack_from(data, off + 2)[0]
        rec.a["cached_records"] = cached
        _params(rec, record)
        lat, lon = rec.f.get("lat"), rec.f.get("lon")
        if lat is not None and lon is not None:
            set_position(rec, lat, lon)
        out.append(rec)
        off = end
    return out


def _params(rec: Fields, record: bytes) -> None:
    """The four groups of one record; stops quietly where the record's bytes run out."""
    off = 0
    try:
        for size, handler in ((1, _byte), (2, _word), (4, _dword)):
            n = record[off]
            off += 1
            for _ in range(n):
                pid, off = _pid(record, off)
                if off + size > len(record):
                    raise IndexError
                handler(rec, pid, int.from_bytes(record[off : off + size], "little"))
                off += size
        n = record[off]
        off += 1
        for _ in range(n):
            pid, off = _pid(record, off)
            size = record[off]
            value = record[off + 1 : off + 1 + size]
            if len(value) < size:
                raise IndexError
            _bytes(rec, pid, value)
            off += 1 + size
    except (IndexError, struct.error, UnicodeError):
        rec.a["truncated_at"] = off
