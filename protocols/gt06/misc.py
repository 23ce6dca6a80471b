"""``7878`` frames outside the GPS/LBS/status family: cell and WiFi lists, strings, alarms, requests.

Routers at the bottom pick a layout where one protocol number means different things on different
devices (0x13, 0x17, 0x24, 0x34, 0xA2, 0xA3), keyed on the length field as Traccar does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from protocols.gt06.commands import server_flag_reference
from protocols.gt06.fields import (
    S16,
    U16,
    U32,
    U64,
    Fields,
    apply_point,
    read_bcd_time,
    read_gps,
    read_lbs,
    read_terminal_info,
    read_time,
    set_cell,
    set_gsm_level,
    set_voltage_level,
)
from protocols.gt06.framing import build_frame, wifi_ack
from protocols.gt06.location import _read_imei_header, _read_imei_power, decode_location
from protocols.gt06.outcome import STANDARD_ACK, Ctx, Handler, Outcome, nothing, report
from protocols.record import operator_code

_MULTI_KIND = "lbs_multi"
_LONG_CELLS = frozenset((0xA1, 0xA2))
_WIDE_CID = frozenset((0x33, 0x34))
_NO_WIFI = frozenset((0x24, 0x28, 0x2E, 0xA1, 0x34))


def _cells_attr(rec: Fields, mcc: int, mnc: int, cells: list[dict[str, int]]) -> None:
    """Serving cell as the record's operator and cell, the whole list as an attribute."""
    if cells:
        first = cells[0]
        set_cell(rec, mcc, mnc, first["lac"], first["cell_id"])
        rec.a["cell_towers"] = cells
    elif mcc:
        rec.a["mcc"] = mcc
        rec.a["mnc"] = mnc
        rec.f["operator"] = operator_code(mcc, mnc)


def decode_lbs_multi(ctx: Ctx) -> Outcome:
    """Several neighbouring cells (and for some types WiFi access points); no GPS fix."""
    frame = ctx.frame
    t = frame.type_id
    b = frame.content
    variant = "wanway" if (t == 0x24 and frame.length == 0x31) else "sl4x" if t == 0x34 else ""
    rec = Fields()
    rec.a["msg_type"] = t
    off = read_time(b, 0, rec, ctx.tz)
    if variant:
        off += 1  # timing advance
    mcc = U16.unpack_from(b, off)[0]
    off += 2
    if mcc & 0x8000 or variant == "sl4x":
        mnc = U16.unpack_from(b, off)[0]
        off += 2
    else:
        mnc = b[off]
        off += 1
    mcc &= 0x7FFF
    if variant == "wanway":
        count = b[off]
        off += 1
    else:
        count = 6 if t == 0x33 else 7
    cells: list[dict[str, int]] = []
    for _ in range(count):
        if t in _LONG_CELLS:
            lac, cid = U32.unpack_from(b, off)[0], U64.unpack_from(b, off + 4)[0]
            off += 12
        elif t in _WIDE_CID:
            lac, cid = U16.unpack_from(b, off)[0], U32.unpack_from(b, off + 2)[0]
            off += 6
        else:
            lac, cid = U16.unpack_from(b, off)[0], int.from_bytes(b[off + 2 : off + 5], "big")
            off += 5
        rssi = b[off]
        off += 1
        if 0 < lac < 0x80000000:
            cells.append({"lac": lac, "cell_id": cid, "rssi": -rssi})
    if not variant:
        rec.a["timing_advance"] = b[off]
        off += 1
    if t not in _NO_WIFI and off < len(b):
        off = _wifi_list(b, off + 1, b[off], rec)
    _cells_attr(rec, mcc, mnc, cells)
    return report(_MULTI_KIND, rec)


def _wifi_list(b: bytes, off: int, count: int, rec: Fields, *, rssi: bool = True, skip: int = 0) -> int:
    aps: list[dict[str, Any]] = []
    for _ in range(count):
        off += skip
        mac = b[off : off + 6]
        if len(mac) < 6:
            raise IndexError("WiFi list cut short")
        ap: dict[str, Any] = {"mac": mac.hex(":")}
        off += 6
        if rssi:
            ap["rssi"] = -b[off]
            off += 1
        aps.append(ap)
    if aps:
        rec.a["wifi"] = aps
    return off


def decode_wifi(ctx: Ctx) -> Outcome:
    """Concox WiFi reports 0x17/0x69 (count-framed) and 0xF3: access points plus cells."""
    frame = ctx.frame
    t = frame.type_id
    b = frame.content
    rec = Fields()
    rec.a["msg_type"] = t
    if t == 0xF3:
        read_time(b, 0, rec, ctx.tz)
        _wifi_list(b, 7, b[6], rec, rssi=False, skip=2)
        return report("wifi", rec, None)
    off = read_bcd_time(b, 0, rec, ctx.tz)
    off = _wifi_list(b, off, frame.length, rec)
    count, mcc, mnc = b[off], U16.unpack_from(b, off + 1)[0], b[off + 3]
    off += 4
    cells = []
    for _ in range(count):
        lac, cid = U16.unpack_from(b, off)[0], U16.unpack_from(b, off + 2)[0]
        cells.append({"lac": lac, "cell_id": cid, "rssi": -b[off + 4]})
        off += 5
    _cells_attr(rec, mcc, mnc, cells)
    return report("wifi", rec, wifi_ack(frame) if frame.serial is None else None)


def decode_string(ctx: Ctx) -> Outcome:
    """0x15: the device's answer to a server command, as text (an ICCID answer is kept apart)."""
    b = ctx.frame.content
    rec = Fields()
    rec.a["msg_type"] = 0x15
    size = b[0]
    text = ""
    reference = None
    if size >= 4:
        flag = U32.unpack_from(b, 1)[0]
        rec.a["server_flag"] = flag
        reference = server_flag_reference(flag)
        text = b[5 : 1 + size].decode("ascii", "replace").rstrip("\x00")
        if text.startswith("<ICCID:"):
            rec.a["iccid"] = text[7:27]
        else:
            rec.a["result"] = text
    return Outcome("command_response", (rec,), STANDARD_ACK, text, reference)


def decode_heartbeat(ctx: Ctx) -> Outcome:
    """0x23 (GK310): status bits, battery volts, signal."""
    b = ctx.frame.content
    rec = Fields()
    rec.a["msg_type"] = 0x23
    info = b[0]
    rec.a["terminal_info"] = info
    rec.a["armed"] = bool(info & 1)
    rec.f["ignition"] = bool(info & 2)
    rec.a["charging"] = bool(info & 4)
    if len(b) >= 3:
        rec.f["battery_voltage_v"] = U16.unpack_from(b, 1)[0] / 100
    if len(b) >= 4:
        set_gsm_level(rec, b[3])
    return report("heartbeat", rec)


def decode_long_status(ctx: Ctx) -> Outcome:
    """0x13 with 16 content bytes: satellites, battery level, working mode and temperature."""
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x13
    read_terminal_info(b, 0, rec)
    a["satellites_raw"] = U16.unpack_from(b, 1)[0]
    a["alarm_code"] = b[3]
    a["language"] = b[4]
    set_voltage_level(rec, b[5])
    a["working_mode"] = b[6]
    a["working_voltage_v"] = U16.unpack_from(b, 7)[0] / 100
    value = U16.unpack_from(b, 14)[0]
    temp = (value & 0x7FFF) / 10
    a["temperature_c"] = temp if value & 0x8000 else -temp
    return report("status", rec)


def decode_short_status(ctx: Ctx) -> Outcome:
    """0xA3 with length 0x0C (GL21L): only the terminal-information byte has a known meaning."""
    rec = Fields()
    rec.a["msg_type"] = 0xA3
    read_terminal_info(ctx.frame.content, 0, rec)
    return report("status", rec)


def decode_x1(ctx: Ctx) -> Outcome:
    """0x34 (X1): GPS, odometer, one cell, driver id, two supply voltages, I/O and ADCs.

    Traccar names the first voltage "battery" and the second "power"; captured frames show
    12-14 V then ~4 V, so they are mapped as external supply then internal battery.
    """
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x34
    a["data_alarm"] = U32.unpack_from(b, 0)[0]
    off = read_gps(b, 4, rec, ctx.tz)
    a["terminal_info"] = U16.unpack_from(b, off)[0]
    rec.f["odometer_m"] = float(U32.unpack_from(b, off + 2)[0])
    mcc, mnc, lac = U16.unpack_from(b, off + 6)[0], b[off + 8], U16.unpack_from(b, off + 9)[0]
    set_cell(rec, mcc, mnc, lac, U32.unpack_from(b, off + 11)[0])
    driver = U32.unpack_from(b, off + 15)[0]
    if driver:
        a["driver_id"] = str(driver)
    rec.f["ext_voltage_v"] = U16.unpack_from(b, off + 19)[0] / 100
    rec.f["battery_voltage_v"] = U16.unpack_from(b, off + 21)[0] / 100
    ports = U32.unpack_from(b, off + 23)[0]
    a["input"] = b[off + 27]
    a["output"] = b[off + 28]
    off += 29
    for i in range(1, ((ports >> 20) & 0x0F) + 1):
        a[f"adc{i}_v"] = U16.unpack_from(b, off)[0] / 100
        off += 2
    return report("location", rec, None)


def decode_sr411(ctx: Ctx) -> Outcome:
    """0x24 with length 0x2E (SR411 mini): GPS, cell, ACC and two voltages."""
    b = ctx.frame.content
    rec = Fields()
    rec.a["msg_type"] = 0x24
    off = read_gps(b, 0, rec, ctx.tz)
    off = read_lbs(b, off, rec)
    rec.f["ignition"] = b[off] > 0
    rec.f["ext_voltage_v"] = U16.unpack_from(b, off + 1)[0] / 100
    rec.f["battery_voltage_v"] = U16.unpack_from(b, off + 3)[0] / 100
    return report("location", rec, None)


def decode_info(ctx: Ctx) -> Outcome:
    """0x94 in a 7878 frame: the external supply voltage."""
    rec = Fields()
    rec.a["msg_type"] = 0x94
    rec.f["ext_voltage_v"] = S16.unpack_from(ctx.frame.content, 0)[0] / 100
    return report("info", rec, None)


_ALARM_95 = {
    0x0E: "low_power",
    0x76: "temperature",
    0x80: "vibration",
    0x87: "overspeed",
    0x88: "power_cut",
    0x90: "hard_acceleration",
    0x91: "hard_braking",
    0x92: "hard_cornering",
    0x93: "accident",
}


def decode_alarm95(ctx: Ctx) -> Outcome:
    """0x95 (JC100/JC400 dash cams): an event code, optionally a position and video file names."""
    frame = ctx.frame
    b = frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x95
    jc400 = b[:2] == b"\xff\xff"
    extended = frame.length - 5 > 7
    off = 0
    if extended:
        if jc400:
            off = read_time(b, 3, rec, ctx.tz)
            rec.f["satellites"] = b[off] & 0x0F
            lat, lon = U32.unpack_from(b, off + 1)[0], U32.unpack_from(b, off + 5)[0]
            flags, speed = U16.unpack_from(b, off + 9)[0], U16.unpack_from(b, off + 11)[0]
            rec.f["speed_kmh"] = float(speed)  # JC400: course word first, then a 2-byte speed
            off += 13
        else:
            off = read_time(b, 0, rec, ctx.tz)
            lat, lon = U32.unpack_from(b, off)[0], U32.unpack_from(b, off + 4)[0]
            flags = U16.unpack_from(b, off + 8)[0]
            off += 10
        apply_point(rec, lat, lon, flags)
    else:
        off = read_time(b, 0, rec, ctx.tz)
    if jc400:
        rec.f["ext_voltage_v"] = U16.unpack_from(b, off)[0] / 10
        off += 2
    code = b[off]
    off += 1
    a["alarm_code"] = code
    name = ("sos" if extended else "general") if code == 0x01 else _ALARM_95.get(code)
    if name is not None:
        rec.f["event"] = name
    if len(b) - off >= 2:
        a["event_data"] = U16.unpack_from(b, off)[0]
        files = b[off + 2 :]
        if files:
            a["event_files"] = files.decode("ascii", "replace")
    return report("alarm", rec)


def decode_imei25(ctx: Ctx) -> Outcome:
    """0x25 (XT40): source, IMEI, time, GPS, cell, status, volts, odometer, hours, driver card."""
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x25
    off = _read_imei_header(ctx, rec)
    off += 1  # unknown byte before the status (seen as 0x04)
    off = _read_imei_power(ctx, rec, off)
    a["alarm_code"] = b[off]
    a["language"] = b[off + 1]
    rec.f["odometer_m"] = float(int.from_bytes(b[off + 2 : off + 5], "big"))
    a["engine_hours_s"] = int.from_bytes(b[off + 5 : off + 8], "big") * 60
    off += 8
    if off < len(b):
        size = b[off]
        card = b[off + 2 : off + 1 + size]
        if card.strip(b"\x00"):
            a["driver_id"] = card.hex()
    return report("location", rec)


def decode_driver61(ctx: Ctx) -> Outcome:
    """0x61: IMEI, GPS, cell, then a 4-byte driver id at the end."""
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x61
    a["terminal_id"] = b[0:8].hex()
    off = read_gps(b, 8, rec, ctx.tz)
    mcc, mnc, lac = U16.unpack_from(b, off)[0], b[off + 2], U16.unpack_from(b, off + 3)[0]
    a["mcc"], a["mnc"], a["lac"] = mcc, mnc, lac
    if mcc:
        rec.f["operator"] = operator_code(mcc, mnc)
    driver = U32.unpack_from(b, len(b) - 4)[0]
    if driver:
        a["driver_id"] = str(driver)
    return report("location", rec)


def decode_time_request(ctx: Ctx, now: float | None) -> Outcome:
    """0x8A: the device asks for UTC time; answered only when the session has a clock."""
    if now is None:
        return nothing("time_request")
    tm = datetime.fromtimestamp(now, tz=UTC)
    content = bytes((tm.year - 2000, tm.month, tm.day, tm.hour, tm.minute, tm.second))
    return nothing("time_request", build_frame(0x8A, content, 0))


_ADDRESS_REPLY = b"NA&&NA&&0##"


def decode_address_request(ctx: Ctx) -> Outcome:
    """0x2A: the device wants a street address; Traccar answers "none" in a 7979 0x97 frame."""
    content = bytes((len(_ADDRESS_REPLY),)) + b"\x00\x00\x00\x00" + _ADDRESS_REPLY
    return nothing("address_request", build_frame(0x97, content, 0, extended=True))


def route_13(ctx: Ctx) -> Outcome:
    return decode_long_status(ctx) if len(ctx.frame.content) == 16 else decode_location(ctx)


def route_17(ctx: Ctx) -> Outcome:
    return decode_wifi(ctx) if ctx.frame.serial is None else decode_location(ctx)


def route_24(ctx: Ctx) -> Outcome:
    return decode_sr411(ctx) if ctx.frame.length == 0x2E else decode_lbs_multi(ctx)


def route_34(ctx: Ctx) -> Outcome:
    return decode_lbs_multi(ctx) if ctx.frame.length == 0x37 else decode_x1(ctx)


def route_a2(ctx: Ctx) -> Outcome:
    return decode_location(ctx) if ctx.frame.length == 0x40 else decode_lbs_multi(ctx)


def route_a3(ctx: Ctx) -> Outcome:
    if ctx.frame.length == 0x0C:
        return decode_short_status(ctx)
    if len(ctx.frame.content) < 26:
        return nothing("unsupported", STANDARD_ACK)  # a layout nobody has documented
    return decode_location(ctx)


MISC_HANDLERS: dict[int, Handler] = {
    0x13: route_13,
    0x15: decode_string,
    0x17: route_17,
    0x18: decode_lbs_multi,
    0x23: decode_heartbeat,
    0x24: route_24,
    0x25: decode_imei25,
    0x28: decode_lbs_multi,
    0x2A: decode_address_request,
    0x2C: decode_lbs_multi,
    0x2E: decode_lbs_multi,
    0x33: decode_lbs_multi,
    0x34: route_34,
    0x35: lambda ctx: nothing("photo_info"),
    0x61: decode_driver61,
    0x69: decode_wifi,
    0x94: decode_info,
    0x95: decode_alarm95,
    0xA1: decode_lbs_multi,
    0xA2: route_a2,
    0xA3: route_a3,
    0xF3: decode_wifi,
}
"""Handlers for these types take precedence over the generic location handler."""
