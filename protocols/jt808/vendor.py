"""Vendor items of JT808 locations (ids 0xD0-0xFF): meanings that differ between makers, some of
which only the device model tells apart (AOVX, Jimi JC, Meiligao MV, padlocks). Followed item by
item from Traccar's decoder, with its names turned into ours."""

from __future__ import annotations

from collections.abc import Callable

from protocols.jt808.fields import AOVX_MODELS, JC_MODELS, Fields, ascii_text, is_printable
from protocols.jt808.reader import Reader
from protocols.jt808.values import (
    ItemDecoder,
    add_cell,
    add_wifi,
    alarm_if,
    battery,
    custom_double,
    decode_obd_rt,
    mac,
    power,
    set_attr,
    signal,
    text_attr,
)


def _multi(rec: Fields, r: Reader, item: int, model: str | None) -> None:
    """0xD4/0xE1/0xE9: a battery level, cells, a voltage or a driver id, told apart by length."""
    length = r.left
    if length == 1:
        level = r.u8()
        if level == 0xFF:
            rec.a["charge"] = True
        else:
            rec.a["battery_pct"] = level
    elif item == 0xE1 and length >= 12 and (length - 4) % 8 == 0:
        mcc = r.u16()
        mnc = r.u16()
        while r.left > 0:
            lac = r.u24()
            cid = r.u32()
            rssi = r.u8()
            if 0 < lac <= 0xFFFF and cid <= 0xFFFFFFF:
                add_cell(rec, mcc, mnc, lac, cid, rssi)
    elif item == 0xE1 and length == 2:
        power(rec, r.u16() / 10.0)
    else:
        rec.a["driver_id"] = str(r.u32())


def _d5(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.left == 2:
        battery(rec, r.u16() / 100.0)
        return
    for i in range(1, r.u8() + 1):
        rec.a[f"lock{i}_id"] = r.take(5).hex()
        rec.a[f"lock{i}_card"] = r.take(5).hex()
        rec.a[f"lock{i}_battery_pct"] = r.u8()
        rec.a[f"lock{i}_locked"] = not (r.u16() & 0x20)


def _da(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    r.u16()  # string cut count
    status = r.u8()
    rec.a["string"] = bool(status & 1)
    rec.f["motion"] = bool(status & 4)
    rec.a["cover"] = bool(status & 8)


def _e6(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    length = r.left
    head = r.data[r.pos : r.pos + 7]
    if length >= 7 and head == b"$OBD-RT":
        decode_obd_rt(rec, r.rest().decode("utf-8", errors="replace"))
    elif length >= 11 and length % 11 == 0:
        while r.left > 0:
            i = r.u8()
            r.skip(6)  # mac
            rec.a[f"temp{i}_c"] = custom_double(r)
            rec.a[f"humidity{i}_pct"] = custom_double(r)


_JC_ALARMS = {
    0x0001: "fault", 0x0400: "hard_acceleration", 0x0412: "hard_acceleration",
    0x0401: "hard_braking", 0x0413: "hard_braking", 0x0402: "hard_cornering", 0x0414: "hard_cornering",
    0x0403: "overspeed", 0x0405: "accident", 0x0416: "accident", 0x0417: "accident",
    0x0406: "vibration", 0x0407: "tow", 0x0408: "geofence_enter", 0x0409: "geofence_exit",
    0x040C: "door", 0x0415: "lane_change", 0x0C01: "sos", 0x0C02: "low_power", 0x0C05: "general",
    0x0C0E: "power_cut", 0x0C0F: "low_battery", 0x0C10: "power_off", 0x0C12: "tamper",
}


def _e8(rec: Fields, r: Reader, _id: int, model: str | None) -> None:
    if model not in JC_MODELS:
        rec.a["lock_status"] = r.u24()
        return
    kind = r.u16()
    a = rec.a
    if kind == 0x2002:
        r.u8()
        a["upload_mode"] = r.u8()
        a["buffered"] = r.u8() == 1
    elif kind == 0x2003:
        r.u8()
        a["charge"] = r.u8() == 1
        level = r.u8()
        if 1 <= level <= 6:
            a["battery_pct"] = level * 100 // 6
        battery(rec, r.u16() / 100.0)
        signal(rec, r.u8())
        power(rec, r.u16() / 100.0)
    elif kind == 0x2005:
        r.u8()
        while r.left > 0:
            sid = r.u16()
            slen = r.u8()
            sub = Reader(r.take(slen))
            if sid == 0x0001:
                battery(rec, sub.u16() / 100.0)
            elif sid == 0x0002:
                a["data_usage"] = sub.u32()
            elif sid == 0x0003:
                a["battery_pct"] = sub.u8()
            elif sid == 0x0004:
                a["charge"] = sub.u8() == 0
            elif sid == 0x0005:
                a["iccid"] = sub.take(10).hex()[:19]
            elif sid == 0x0007:
                rec.f["hdop"] = sub.u16() / 10.0
            elif sid == 0x2001:
                power(rec, sub.u16() / 10.0)
    elif kind == 0x0C03:
        rec.f["ignition"] = True
    elif kind == 0x0C04:
        rec.f["ignition"] = False
    else:
        rec.alarm(_JC_ALARMS.get(kind))


def _ea(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.left <= 2:
        return
    r.u8()  # extended info type
    while r.left >= 2:
        kind = r.u8()
        length = r.u8()
        if length > r.left:
            break
        sub = Reader(r.take(length))
        if kind == 0x11:
            rec.a["external_alarms"] = sub.u16()
            rec.a["alarm_threshold_type"] = sub.u8()
        elif kind == 0x13:
            rec.a["external_illuminance"] = sub.u16()
        elif kind == 0x14:
            rec.a["external_air_pressure"] = sub.u16()
        elif kind == 0x15:
            rec.a["external_humidity_pct"] = sub.u16() / 10.0
        elif kind == 0x16:
            rec.a["external_temp_c"] = round(sub.u16() / 10.0 - 50, 1)


def _eb(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    length = r.left
    if length >= 2 and r.peek_u16() > 200 and (length - 3) % 5 == 0:
        mcc = r.u16()
        mnc = r.u8()
        while r.left > 0:
            add_cell(rec, mcc, mnc, r.u16(), r.u16(), r.u8())
        return
    if is_printable(r.data[r.pos : r.end]):
        rec.a["timezone"] = r.rest().decode("ascii")
        return
    a = rec.a
    while r.left > 0:
        sub_len = r.u16()
        sub = Reader(r.take(sub_len))
        kind = sub.u16()
        if kind == 0x0001:
            a["fuel1"] = sub.u16() / 10.0
        elif kind == 0x0023:
            a["fuel2"] = float(sub.take(6).decode("ascii"))
        elif kind == 0x002D:
            if sub_len == 6:
                power(rec, sub.u32() / 1000.0)
            else:
                battery(rec, sub.u16() / 1000.0)
        elif kind == 0x0089:
            alarm = sub.u32()
            if not alarm & 1:
                rec.alarm("power_off")
            if not alarm & (1 << 12):
                rec.alarm("removing")
        elif kind == 0x00B2:
            a["iccid"] = sub.take(10).hex().rstrip("f")
        elif kind == 0x00B9:
            sub.u8()
            parts = sub.rest().decode("ascii").split(",")
            for i in range(len(parts) // 2):
                add_wifi(rec, parts[2 * i], int(parts[2 * i + 1]))
        elif kind == 0x00C5:
            alarm = sub.u32()
            if not alarm & 0x40:
                rec.alarm("vibration")
            state = (alarm >> 23) & 0x03
            if state == 0:
                rec.f["motion"] = True
            elif state == 1:
                rec.f["motion"] = False
        elif kind == 0x00C6:
            level = sub.u8()
            if level in (3, 4):
                rec.alarm("low_battery")
            a["battery_alarm"] = level
        elif kind == 0x00CE:
            power(rec, sub.u16() / 100.0)
        elif kind == 0x00D8:
            mcc, mnc, lac, cid = sub.u16(), sub.u8(), sub.u16(), sub.u32()
            add_cell(rec, mcc, mnc, lac, cid)
        elif kind in (0x00A8, 0x00E1):
            a["battery_pct"] = sub.u8()


def _ee(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.left == 6:
        signal(rec, r.u8())
        power(rec, r.u16() / 1000.0)
        battery(rec, r.u16() / 1000.0)
        rec.f["satellites"] = r.u8()


def _f0(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    while r.left > 0:
        mcc, mnc, cid, lac = r.u16(), r.u16(), r.u32(), r.u32()
        add_cell(rec, mcc, mnc, lac, cid, r.u8())


_F3_OBD: dict[int, tuple[str, Callable[[Reader], float]]] = {
    0x0002: ("obd_speed_kmh", lambda r: r.u16() / 10.0),
    0x0003: ("rpm", lambda r: r.u16()),
    0x0005: ("obd_odometer", lambda r: r.u32() * 100),
    0x0007: ("fuel_consumption", lambda r: r.u16() / 10.0),
    0x0008: ("engine_load_pct", lambda r: r.u16() / 10.0),
    0x0009: ("coolant_temp_c", lambda r: r.u16() - 40),
    0x000B: ("intake_pressure", lambda r: r.u16()),
    0x000C: ("intake_temp_c", lambda r: r.u16() - 40),
    0x000D: ("intake_flow", lambda r: r.u16()),
    0x000E: ("throttle_pct", lambda r: r.u16() * 100 // 255),
    0x0100: ("trip_odometer", lambda r: r.u16() / 10.0),
    0x0102: ("trip_fuel", lambda r: r.u16() / 10.0),
    0x0112: ("hard_acceleration_count", lambda r: r.u16()),
    0x0113: ("hard_deceleration_count", lambda r: r.u16()),
    0x0114: ("hard_cornering_count", lambda r: r.u16()),
}


def _f3(rec: Fields, r: Reader, _id: int, model: str | None) -> None:
    a = rec.a
    if model in AOVX_MODELS:
        mask = r.u8()
        i = 0
        while r.left > 0:
            i += 1
            a[f"tag{i}_mac"] = r.take(6).hex()
            a[f"tag{i}_rssi"] = r.s8()
            if mask & 0x01:
                a[f"tag{i}_name"] = ascii_text(r.take(10))
            if mask & 0x02:
                r.skip(2)
            if mask & 0x04:
                a[f"tag{i}_battery_v"] = r.u16() / 1000.0
            if mask & 0x08:
                a[f"tag{i}_temp_c"] = r.s16() / 10.0
            if mask & 0x10:
                a[f"tag{i}_humidity_pct"] = r.s16() / 10.0
            for bit, size in ((0x20, 6), (0x40, 2), (0x80, 2)):
                if mask & bit:
                    r.skip(size)
        return
    while r.left > 0:
        kind = r.u16()
        length = r.u8()
        sub = Reader(r.take(length))
        if kind == 0x0004:
            power(rec, sub.u16() / 1000.0)
        elif kind == 0x0050:
            a["vin"] = ascii_text(sub.take(17))
        elif kind == 0x0051 and length:
            a["cvn"] = sub.rest().hex()
        elif kind == 0x0052 and length:
            a["calid"] = ascii_text(sub.rest())
        elif kind in _F3_OBD:
            name, read = _F3_OBD[kind]
            a[name] = read(sub)


def _wifi_list(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    while r.left > 0:
        add_wifi(rec, mac(r.take(6)), r.s8())


def _f6(rec: Fields, r: Reader, _id: int, model: str | None) -> None:
    length = r.left
    aovx = model in AOVX_MODELS
    a = rec.a
    if not aovx and length == 2:
        a["air_pressure"] = r.u16()
        return
    if not aovx and length == 8:
        a["imei"] = r.take(8).hex()[1:]
        return
    event = r.u8()
    a["event_code"] = event
    if event == 2:
        rec.f["motion"] = True
    mask = r.u8()
    if mask & 0x01:
        a["light_sensor"] = r.u16()
    if mask & 0x02:
        a["temp1_c"] = r.s16() / 10.0
    if mask & 0x04:
        a["humidity_pct"] = r.s16() / 10.0
    if mask & 0x08:
        a["g_sensor"] = [r.s16(), r.s16(), r.s16()]
    if mask & 0x10:
        r.skip(10)
    if mask & 0x20:
        a["air_pressure"] = r.u16()


def _f7(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    length = r.left
    if length == 2:
        rec.a["humidity_pct"] = r.u16() / 10.0
        return
    battery(rec, r.u32() / 1000.0)
    if length >= 5 and r.u8() in (2, 3):
        rec.a["charge"] = True
    if length >= 6:
        rec.a["battery_pct"] = r.u8()


def _f8(rec: Fields, r: Reader, _id: int, model: str | None) -> None:
    if model in AOVX_MODELS:
        r.u8()  # working mode
        r.skip(8)  # imei
        rec.a["iccid"] = r.take(10).hex()
    elif model in ("C5", "C5L"):
        rec.a["steps"] = r.u16()
    else:
        rec.a["temp2_c"] = round(r.u16() / 10.0 - 50, 1)


def _f9(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    mask = r.u16()
    if mask & 0x01:
        r.skip(4)  # gnss age
    if mask & 0x02:
        r.skip(4)  # acc on time
    if mask & 0x04:
        rec.f["hdop"] = r.u16() / 10.0
    if mask & 0x08:
        r.skip(6)  # gnss time
    if mask & 0x20:
        r.skip(8)  # sampling and report interval
    if mask & 0x40:
        rec.a["temp3_c"] = r.s16() / 10.0


def _fe(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    length = r.left
    if length == 1:
        rec.a["battery_pct"] = r.u8()
    elif length == 2:
        power(rec, r.u16() / 10.0)
    elif length == 4:
        rec.f["odometer_m"] = float(r.u32())
    else:
        if r.u8() == 0x7C:
            while r.left > 1:
                kind = r.u8()
                sub = Reader(r.take(r.u8()))
                if kind == 0x01:
                    alarms = sub.u32()
                    for bit, name in enumerate(
                        ("hard_acceleration", "hard_braking", "hard_cornering", "accident", "tamper")
                    ):
                        if alarms >> bit & 1:
                            rec.alarm(name)
        rec.a["battery_pct"] = r.u8()


def _fuel_e2(rec: Fields, r: Reader, _id: int, model: str | None) -> None:
    if model != "DT800":
        rec.a["fuel"] = r.u32() / 10.0


def _e3(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    r.u8()
    rec.a["battery_pct"] = r.u8()
    battery(rec, r.u16() / 100.0)


def _e4(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.u8() == 0:
        rec.a["charge"] = True
    rec.a["battery_pct"] = r.u8()


def _e5(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.left == 1:
        rec.f["motion"] = r.u8() == 1


def _e7(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
    if r.left == 8:
        alarm = r.u16()
        if alarm & 1:
            rec.alarm("vibration")
        if alarm & 0x0E:
            rec.alarm("sos")


VENDOR_ITEMS: dict[int, ItemDecoder] = {
    0xD0: alarm_if(lambda v: bool(v & 0x08), "vibration"),
    0xD3: lambda rec, r, _i, _m: power(rec, r.u16() / 10.0),
    0xD4: _multi,
    0xE1: _multi,
    0xE9: _multi,
    0xD5: _d5,
    0xDA: _da,
    0xE2: _fuel_e2,
    0xE3: _e3,
    0xE4: _e4,
    0xE5: _e5,
    0xE6: _e6,
    0xE7: _e7,
    0xE8: _e8,
    0xEA: _ea,
    0xEB: _eb,
    0xED: text_attr("card"),
    0xEE: _ee,
    0xF0: _f0,
    0xF1: lambda rec, r, _i, _m: power(rec, r.u32() / 1000.0),
    0xF2: set_attr("firmware", lambda r: r.rest().decode("latin-1")),
    0xF3: _f3,
    0xEC: _wifi_list,
    0xF4: _wifi_list,
    0xF5: lambda rec, r, _i, _m: rec.a.__setitem__("illuminance", r.u16()) if r.left == 2 else None,
    0xF6: _f6,
    0xF7: _f7,
    0xF8: _f8,
    0xF9: _f9,
    0xFB: set_attr("container", lambda r: r.rest().decode("latin-1")),
    0xFC: set_attr("geofence", Reader.u8),
    0xFE: _fe,
}
