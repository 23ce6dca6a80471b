"""JT808 location bodies: the 0x0200 report, the 0x0704/0x0210 batches and the JT701 0x5501 form.

The 0x0200 basic block is 28 bytes: alarm flags (4), status (4), latitude and longitude (4 + 4,
1e-6 degrees), altitude (2, metres, signed as Traccar reads it), speed (2, 0.1 km/h), course (2),
BCD time (6, the terminal's zone). Additional-information items follow (see ``extras``).
"""

from __future__ import annotations

import struct

from protocols.jt808.extras import decode_items
from protocols.jt808.fields import (
    Fields,
    decode_alarm,
    decode_status_and_position,
    read_bcd_time,
    set_time,
)
from protocols.jt808.reader import Reader
from protocols.jt808.values import signal

_U16 = struct.Struct(">H")
_S16 = struct.Struct(">h")

BASIC_SIZE = 28
"""Alarm, status, latitude, longitude, altitude, speed, course, time."""

SHORT_TAIL = 18
"""Some terminals follow the basic block with 18 fixed bytes instead of items (Traccar keys on the
size alone; here the bytes must also not read as a list of items)."""


def decode_location(body: bytes, model: str | None, tz: int) -> Fields:
    """One location body (0x0200, 0x0201 after its answer serial, or a batch item)."""
    if len(body) < BASIC_SIZE:
        raise IndexError(f"location body of {len(body)} bytes, need {BASIC_SIZE}")
    rec = Fields()
    decode_alarm(rec, struct.unpack_from(">I", body, 0)[0], model)
    off = decode_status_and_position(rec, body, 4, model)
    f = rec.f
    f["altitude_m"] = float(_S16.unpack_from(body, off)[0])
    f["speed_kmh"] = _U16.unpack_from(body, off + 2)[0] / 10.0
    f["course_deg"] = float(_U16.unpack_from(body, off + 4)[0])
    off = set_time(rec, body, off + 6, tz)
    if len(body) - off == SHORT_TAIL and not _items_fit(body, off):
        r = Reader(body, off)
        r.skip(4)  # remaining battery and mileage
        f["odometer_m"] = float(r.u32() * 1000)
        f["battery_voltage_v"] = r.u16() / 10.0
        r.u32()  # area id
        signal(rec, r.u8())
        return rec
    decode_items(rec, body, off, model)
    return rec


def _items_fit(body: bytes, off: int) -> bool:
    """Whether ``id | length | value`` items cover ``body[off:]`` exactly."""
    end = len(body)
    while end - off >= 2:
        off += 2 + body[off + 1]
    return off == end


def decode_batch(body: bytes, msg_id: int, model: str | None, tz: int) -> list[Fields]:
    """0x0704: count (2), type (1: 0 regular, 1 blind-area backlog), then ``length (2) | body``;
    0x0210: ``length (1) | body`` to the end."""
    r = Reader(body)
    archive = False
    if msg_id == 0x0704:
        r.u16()  # count: the items are read to the end, as Traccar does
        archive = r.u8() > 0
    out = []
    while r.left > 0:
        length = r.u8() if msg_id == 0x0210 else r.u16()
        rec = decode_location(r.take(length), model, tz)
        if archive:
            rec.a["archive"] = True
        out.append(rec)
    return out


def _bcd(data: bytes) -> int:
    text = data.hex()
    if not text.isdigit():
        raise ValueError(f"not BCD: {text}")
    return int(text)


def _ddmm(raw: int) -> float:
    """``DDDMM.MMMM`` as an integer of 1e-4 minutes -> degrees."""
    return raw // 1_000_000 + (raw % 1_000_000) / 10_000.0 / 60.0


def decode_lock_location(body: bytes, short_blind: bool) -> Fields:
    """0x5501/0x5502 of JT701-style locks (Traccar: ``Jt600ProtocolDecoder.decodeBinaryLocation``).

    Time is BCD ``DDMMYYhhmmss`` in UTC; latitude 8 and longitude 9 BCD digits of ``DDMM.MMMM``;
    the low nibble after the longitude holds fix, north and east bits; speed 2 BCD digits in knots;
    course in 2-degree steps. Signal, satellites, mileage, battery, cell, product, status, alarm and
    ``id | length | value`` items follow.
    """
    r = Reader(body)
    rec = Fields()
    f = rec.f
    t = r.take(6)
    dd, mo, yy, hh, mi, ss = (_bcd(t[i : i + 1]) for i in range(6))
    rec.set_time_parts(2000 + yy, mo, dd, hh, mi, ss)
    lat = _ddmm(_bcd(r.take(4)))
    lon_bytes = r.take(5)
    if lon_bytes[4] >> 4 > 9:
        raise ValueError(f"not BCD: {lon_bytes.hex()}")
    lon = _ddmm(_bcd(lon_bytes[:4]) * 10 + (lon_bytes[4] >> 4))
    flags = lon_bytes[4] & 0x0F
    f["valid"] = bool(flags & 0x01) and not short_blind
    f["lat"] = lat if flags & 0x02 else -lat
    f["lon"] = lon if flags & 0x04 else -lon
    speed_bcd = r.take(1)
    f["speed_kmh"] = round(_bcd(speed_bcd) * 1.852, 3)
    f["course_deg"] = float(r.u8() * 2)
    signal(rec, r.u8())
    f["satellites"] = r.u8()
    f["odometer_m"] = float(r.u32() * 1000)
    level = r.u8()
    a = rec.a
    if level <= 100:
        a["battery_pct"] = level
    elif level in (0xAA, 0xAB):
        a["charge"] = True
    cid = r.u32()
    lac = r.u16()
    if cid and lac:
        a["cell_id"] = cid
        a["lac"] = lac
    product = r.u8()
    status = r.u16()
    alarm = r.u16()
    a["product"] = product
    a["status_flags"] = status
    a["alarm_flags"] = alarm
    if product in (1, 2):
        if alarm & 0x01:
            rec.alarm("low_power")
    elif product == 3:
        a["blocked"] = bool(status & 0x20)
        for bit, name in ((0, "overspeed"), (1, "low_power"), (2, "vibration"), (3, "low_battery"),
                          (5, "geofence_enter"), (6, "geofence_exit")):
            if alarm >> bit & 1:
                rec.alarm(name)
    while r.left >= 2:
        item = r.u8()
        length = r.u8()
        sub = Reader(r.take(min(length, r.left)))
        if item == 0x02 and sub.left >= 2:
            f["altitude_m"] = float(sub.s16())
        elif item == 0x10 and sub.left >= 1:
            a["wake_source"] = sub.u8()
        elif item == 0x0A and length == 3:
            a["mcc"] = sub.u16()
            a["mnc"] = sub.u8()
        elif item == 0x0B and sub.left >= 1:
            a["lock_command"] = sub.u8()
            if 5 <= length <= 6:
                a["lock_card"] = sub.u32()
            elif length >= 7:
                a["lock_password"] = sub.take(6).decode("latin-1")
            if length % 2 == 0:
                a["unlock_result"] = sub.u8()
        elif item == 0x0C and sub.left >= 6:
            a["tilt"] = [_tilt(sub.u16()), _tilt(sub.u16()), _tilt(sub.u16())]
        elif item == 0xFC and sub.left >= 1:
            a["geofence"] = sub.u8()
        else:
            a[f"info_0x{item:02x}"] = sub.rest().hex()
    return rec


def _tilt(value: int) -> int:
    return value - 0x10000 if value > 0x8000 else value


def device_time(body: bytes, off: int, tz: int) -> float | None:
    """A BCD time that is not a fix time (driver card, sensor sample)."""
    return read_bcd_time(body, off, tz)[0]
