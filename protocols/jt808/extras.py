"""The additional-information items that follow a JT808 location (``id | length | value``).

The standard defines a few (0x01 mileage, 0x02 fuel, 0x25 extended signals, 0x2A IO status,
0x2B analog, 0x30 signal, 0x31 satellites); vendors fill the rest of the id space, sometimes with
clashing meanings that only the device model tells apart. This follows Traccar's decoder item by
item, with Traccar's names turned into ours. An item this module does not know, or cannot read
(too short for its layout), is kept raw as ``info_0xNN`` so nothing the device said is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.jt808.fields import Fields
from protocols.jt808.reader import Reader
from protocols.jt808.values import (
    ItemDecoder,
    battery,
    power,
    raw_value,
    set_attr,
    set_field,
    signal,
    text_attr,
)
from protocols.jt808.vendor import VENDOR_ITEMS


def _fuel(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    value = r.u16()
    rec.a["fuel"] = value & 0x7FFF if value & 0x8000 else value / 10.0


def _lock(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    length = r.left
    rec.a["lock_command"] = r.u8()
    if 5 <= length <= 6:
        rec.a["lock_card"] = r.u32()
    elif length >= 7:
        rec.a["lock_password"] = r.take(6).decode("latin-1")
    if length % 2 == 0:
        rec.a["unlock_result"] = r.u8()


def _status_mode(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.left == 1:
        rec.a["mode"] = r.u8()
        return
    text = r.rest().decode("latin-1")
    rec.a["status_text"] = text
    if text.startswith("*M00"):
        battery(rec, int(text[8:15][2:5]) / 100.0)


def _temperatures(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.left not in (2, 16):
        return
    for i in range(1, r.left // 2 + 1):
        value = r.u16()
        if value != 0xFFFF:
            rec.a[f"temp{i}_c"] = -(value & 0x7FFF) / 10.0 if value & 0x8000 else value / 10.0


def _driving_alarms(rec: Fields, r: Reader, _id: int, model: str | None) -> None:
    alarm = r.u16()
    if alarm & 0x100:
        rec.alarm("hard_acceleration")
    if alarm & 0x200:
        rec.alarm("hard_braking")
    if alarm & 0x400:
        rec.alarm("hard_cornering")
    r.u16()  # external switch state
    alarm = r.u32()
    if model in ("MV810G", "MV710G") and alarm & (1 << 16):
        rec.alarm("door")


def _event(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    event = r.u16()
    rec.a["event_code"] = event
    if 0x61 <= event <= 0x66:
        r.skip(6)  # lock id
        rec.a["driver_id"] = r.take(8).decode("latin-1")


def _locks(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    for i in range(1, r.left // 11 + 1):
        rec.a[f"lock{i}_id"] = r.take(6).hex()
        rec.a[f"lock{i}_battery_v"] = r.u16() / 1000.0
        rec.a[f"lock{i}_seal"] = r.u8() == 0x31
        r.skip(2)  # physical state, rssi


def _adas(rec: Fields, r: Reader, item: int, _model: str | None) -> None:
    length = r.left
    r.u32()  # alarm serial number
    r.u8()  # alarm status
    rec.a["adas_alarm" if item == 0x64 else "dms_alarm"] = r.u8()
    if length >= 47:
        r.pos = r.end - 16
        rec.a["alarm_label"] = r.take(16).hex()


def _crash(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    r.u32()
    r.u8()
    kind = r.u8()
    rec.alarm({1: "hard_acceleration", 2: "hard_braking", 3: "hard_cornering", 0x16: "accident"}.get(kind))


def _tires(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    while r.left > 0:
        i = r.u8()
        rec.a[f"tire{i}_sensor_id"] = r.take(3).hex()
        rec.a[f"tire{i}_pressure"] = (r.u16() & 0x3FF) / 40.0
        rec.a[f"tire{i}_temp_c"] = r.u8() - 50
        rec.a[f"tire{i}_status"] = r.u8()


def _obd_block(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    battery(rec, r.u16() / 10.0)
    a = rec.a
    a["rpm"] = r.u16()
    a["obd_speed_kmh"] = r.u8()
    a["throttle_pct"] = r.u8() * 100 // 255
    a["engine_load_pct"] = r.u8() * 100 // 255
    a["coolant_temp_c"] = r.u8() - 40
    r.u16()
    a["fuel_consumption"] = r.u16() / 100.0
    r.u16()
    r.u32()
    r.u16()
    a["fuel_used"] = r.u16() / 100.0


def _analog(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    rec.a["adc1_v"] = r.u16() / 100.0
    rec.a["adc2_v"] = r.u16() / 100.0


def _battery_level_x10(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    rec.a["battery_pct"] = r.u8() * 10


ITEMS: dict[int, ItemDecoder] = {
    0x01: set_field("odometer_m", lambda r: float(r.u32() * 100)),
    0x02: _fuel,
    0x06: set_attr("battery_pct", Reader.u8),
    0x0B: _lock,
    0x14: set_attr("video_alarm", Reader.u32),
    0x25: set_attr("input", Reader.u32),
    0x2A: set_attr("io_status", Reader.u16),
    0x2B: _analog,
    0xA7: _analog,
    0x30: lambda rec, r, _i, _m: signal(rec, r.u8()),
    0x31: set_field("satellites", Reader.u8),
    0x33: _status_mode,
    0x51: _temperatures,
    0x56: _battery_level_x10,
    0x57: _driving_alarms,
    0x60: _event,
    0x63: _locks,
    0x64: _adas,
    0x65: _adas,
    0x67: set_attr("password", lambda r: r.take(8).decode("latin-1")),
    0x68: set_attr("battery_pct", lambda r: r.u16() / 100.0),
    0x69: lambda rec, r, _i, _m: battery(rec, r.u16() / 100.0),
    0x70: _crash,
    0x77: _tires,
    0x82: lambda rec, r, _i, _m: power(rec, r.u16() / 10.0),
    0x91: _obd_block,
    0x94: text_attr("vin"),
    0xAC: set_field("odometer_m", lambda r: float(r.u32())),
    0xBC: text_attr("driver"),
    0xBD: set_attr("driver_id", lambda r: r.rest().decode("latin-1")),
    **VENDOR_ITEMS,
}
"""Item id -> decoder: the standard ids and the common vendor ones below 0xD0, then the vendor range."""


def decode_items(rec: Fields, body: bytes, off: int, model: str | None) -> None:
    """Every ``id | length | value`` item from ``off`` to the end of ``body``.

    An item whose length runs past the body ends the list (its bytes are kept raw). An item that
    is too short for the layout its id implies is kept raw instead of failing the whole location,
    because the position before it is still good.
    """
    end = len(body)
    while end - off >= 2:
        item = body[off]
        length = body[off + 1]
        start = off + 2
        stop = start + length
        if stop > end:
            rec.a["info_truncated"] = body[off:].hex()
            return
        if item == 0x80:
            # OBD extension: a content byte, then nested items to the end of the body
            _extension(rec, body, start + 1, end)
            return
        decoder = ITEMS.get(item)
        value = body[start:stop]
        if decoder is None:
            rec.a[f"info_0x{item:02x}"] = raw_value(value)
        else:
            try:
                decoder(rec, Reader(body, start, stop), item, model)
            except (IndexError, ValueError, UnicodeError):
                rec.a[f"info_0x{item:02x}"] = raw_value(value)
        off = stop


_EXTENSION: dict[int, tuple[str, Callable[[Reader], object]]] = {
    0x02: ("fuel", lambda r: r.u16() / 10.0),
    0x03: ("obd_speed_kmh", lambda r: r.u16() / 10.0),
    0x80: ("obd_speed_kmh", Reader.u8),
    0x81: ("rpm", Reader.u16),
    0x83: ("engine_load_pct", Reader.u8),
    0x84: ("coolant_temp_c", lambda r: r.u8() - 40),
    0x85: ("fuel_consumption", Reader.u16),
    0x86: ("intake_temp_c", lambda r: r.u8() - 40),
    0x87: ("intake_flow", Reader.u16),
    0x88: ("intake_pressure", Reader.u8),
    0x89: ("throttle_pct", Reader.u8),
    0x8B: ("vin", lambda r: r.take(17).decode("ascii")),
    0x8C: ("obd_odometer", lambda r: r.u32() * 100),
    0x8D: ("trip_odometer", lambda r: r.u16() * 1000),
    0x8E: ("fuel", Reader.u8),
    0xCC: ("iccid", lambda r: r.take(20).decode("ascii")),
}


def _extension(rec: Fields, body: bytes, off: int, end: int) -> None:
    """Traccar's ``decodeExtension``: OBD values as ``id | length | value`` to the end."""
    while end - off >= 2:
        item = body[off]
        length = body[off + 1]
        start = off + 2
        stop = min(start + length, end)
        r = Reader(body, start, stop)
        try:
            if item == 0x01:
                rec.f["odometer_m"] = float(r.u32() * 100)
            elif item in (0x56,):
                r.u8()
                rec.a["battery_pct"] = r.u8()
            elif item in (0x61, 0x82):
                power(rec, r.u16() / (100.0 if item == 0x61 else 10.0))
            elif item == 0x69:
                battery(rec, r.u16() / 100.0)
            elif item == 0xA0:
                rec.a["dtcs"] = r.rest().decode("ascii").replace(",", " ")
            elif item in _EXTENSION:
                name, read = _EXTENSION[item]
                rec.a[name] = read(r)
            else:
                rec.a[f"obd_0x{item:02x}"] = raw_value(body[start:stop])
        except (IndexError, ValueError, UnicodeError):
            rec.a[f"obd_0x{item:02x}"] = raw_value(body[start:stop])
        off = start + length
