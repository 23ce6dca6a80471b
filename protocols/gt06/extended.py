"""``7979`` frames (2-byte length): information packets, modular GPS, command text, peripherals.

Most of these are answered with nothing, as Traccar does; the AZ735 reports get a ``7979`` ACK
and the modular 0x70 report a ``7878`` one (Traccar's ``sendResponse(false, ...)``).
"""

from __future__ import annotations

import re

from protocols.gt06.commands import server_flag_reference
from protocols.gt06.fields import (
    S16,
    U16,
    U32,
    Fields,
    apply_point,
    printable,
    read_gps,
    read_lbs,
    read_time,
    set_cell,
    set_gsm_level,
)
from protocols.gt06.framing import ack_frame, build_frame
from protocols.gt06.outcome import Ctx, Handler, Outcome, nothing, report

_LOCATION_TEXT = re.compile(
    r"Current position!Lat:([NS])(\d+\.\d+),Lon:([EW])(\d+\.\d+),Course:(\d+\.\d+),"
    r"Speed:(\d+\.\d+),DateTime:(\d{4})-(\d\d)-(\d\d) +(\d\d):(\d\d):(\d\d)"
)


def decode_string_info(ctx: Ctx) -> Outcome:
    """0x21: command answer text (ASCII or UTF-16); a "Current position!" answer is a fix."""
    b = ctx.frame.content
    rec = Fields()
    rec.a["msg_type"] = 0x21
    flag = U32.unpack_from(b, 0)[0]
    rec.a["server_flag"] = flag
    data = b[5:]
    text = data.decode("ascii", "replace") if b[4] == 1 else data.decode("utf-16-be", "replace")
    match = _LOCATION_TEXT.match(text)
    if match:
        ns, lat, ew, lon, course, speed, *when = match.groups()
        f = rec.f
        f["valid"] = True
        f["lat"] = -float(lat) if ns == "S" else float(lat)
        f["lon"] = -float(lon) if ew == "W" else float(lon)
        f["course_deg"] = float(course)
        f["speed_kmh"] = float(speed)
        rec.set_time_parts(*(int(x) for x in when))
    else:
        rec.a["result"] = text
    return Outcome("command_response", (rec,), None, text, server_flag_reference(flag))


_FUEL = re.compile(
    r"!AIOIL,\d+,\d+\.\d+,(\d+\.\d+),[^,]+,\d\d\d\d,(\d+\.\d+),[01],\d+,[0-9A-Fa-f]{2}"
)
_INFO_KEYS = {"ALM1": "alm1", "ALM2": "alm2", "ALM3": "alm3", "STA1": "sta1", "DYD": "dyd"}


def decode_info(ctx: Ctx) -> Outcome:
    """0x94: one information item chosen by a sub-type byte (voltage, ICCID, door, fuel...)."""
    b = ctx.frame.content
    sub = b[0]
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x94
    a["info_type"] = sub
    data = b[1:]
    if sub == 0x00:
        rec.f["ext_voltage_v"] = U16.unpack_from(data, 0)[0] / 100
    elif sub == 0x04:
        for pair in data.decode("ascii", "replace").split(";"):
            key, _, value = pair.partition("=")
            name = _INFO_KEYS.get(key)
            if name is not None:
                try:
                    a[name] = int(value, 16)
                except ValueError:
                    a[name] = value
            elif key == "ICCID":
                a["iccid"] = value.rstrip("Ff")
    elif sub == 0x05:
        off = 0
        if len(data) >= 7:
            off = read_time(data, 0, rec, ctx.tz)
        flags = data[off]
        a["door"] = bool(flags & 0x01)
        a["io1"] = bool(flags & 0x04)
    elif sub == 0x0A:
        a["imsi"] = data[8:16].hex().lstrip("0")
        a["iccid"] = data[16:26].hex().replace("f", "")
    elif sub == 0x0B:
        if len(data) == 2:
            rec.f["ext_voltage_v"] = U16.unpack_from(data, 0)[0] / 100
        else:
            a["network_technology"] = "4G" if data[0] else "2G"
    elif sub == 0x0D:
        text = data if data[:1] == b"!" else data[6:]
        match = _FUEL.fullmatch(text.decode("ascii", "replace"))
        if match is None:
            return nothing("info")
        a["temperature_c"] = float(match.group(1))
        a["fuel_level"] = float(match.group(2))
    elif sub == 0x1B:
        if data[:1].isalpha():
            a["serial_data"] = data.decode("ascii", "replace").strip()
        else:
            a["driver_id"] = data[2:6].hex()
    elif sub == 0x1E:
        a["temperature_c"] = U32.unpack_from(data, 0)[0] / 10
        a["humidity_pct"] = U32.unpack_from(data, 4)[0] / 10
    else:
        return nothing("info")
    return report("info", rec, None)


def decode_modular(ctx: Ctx) -> Outcome:
    """0x70: (type, length, value) modules; GPS, cell, battery, events, BLE tags..."""
    b = ctx.frame.content
    rec = Fields()
    f = rec.f
    a = rec.a
    a["msg_type"] = 0x70
    off = 0
    end = len(b)
    while end - off >= 4:
        module, size = U16.unpack_from(b, off)[0], U16.unpack_from(b, off + 2)[0]
        off += 4
        value = b[off : off + size]
        if len(value) < size:
            raise IndexError("module cut short")
        if module == 0x03:
            a["iccid"] = value[:10].hex()
        elif module == 0x09:
            f["satellites"] = value[0]
        elif module == 0x0A:
            a["satellites_visible"] = value[0]
        elif module == 0x11:
            mcc, mnc = U16.unpack_from(value, 0)[0], U16.unpack_from(value, 2)[0]
            lac = U16.unpack_from(value, 4)[0]
            cid = int.from_bytes(value[6:9], "big")
            if cid:
                set_cell(rec, mcc, mnc, lac, cid)
                a["cell_rssi"] = value[9]
        elif module == 0x18:
            f["battery_voltage_v"] = U16.unpack_from(value, 0)[0] / 100
        elif module == 0x28:
            f["hdop"] = value[0] / 10
        elif module == 0x29:
            a["index"] = U32.unpack_from(value, 0)[0]
        elif module == 0x2A:
            a["door"] = (value[0] & 0x0F) > 0
            a["tamper"] = (value[0] >> 4) > 0
        elif module == 0x2B:
            event = value[0]
            a["event_code"] = event
            name = {0x11: "low_battery", 0x12: "low_power", 0x13: "power_cut", 0x14: "removing"}.get(event)
            if name:
                f["event"] = name
        elif module == 0x2E:
            f["odometer_m"] = float(int.from_bytes(value[:4], "little"))
        elif module == 0x33:
            f["fix_time"] = float(U32.unpack_from(value, 0)[0])
            f["satellites"] = value[4]
            f["altitude_m"] = float(S16.unpack_from(value, 5)[0])
            lat, lon = U32.unpack_from(value, 7)[0], U32.unpack_from(value, 11)[0]
            f["speed_kmh"] = float(value[15])
            apply_point(rec, lat, lon, U16.unpack_from(value, 16)[0])
        elif module == 0x34:
            a["event_code"] = value[0]
        elif module == 0x7F:
            # BLE sensor tags, 14 bytes each: MAC, 2 unknown, battery?, temperature, 3 more
            for i in range(size // 14):
                tag = value[i * 14 : i * 14 + 14]
                a[f"tag{i + 1}_mac"] = tag[:6].hex(":")
                a[f"tag{i + 1}_temp_c"] = S16.unpack_from(tag, 9)[0] / 10
        else:
            a[f"module_{module:02x}"] = value.hex()
        off += size
    return report("location", rec, build_frame(0x70, b"", ctx.frame.serial or 0))


def decode_az735(ctx: Ctx) -> Outcome:
    """0x32/0x33 (AZ735): GPS and cell each behind a length byte, extra cells, WiFi, status."""
    frame = ctx.frame
    b = frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = frame.type_id
    if b[6]:
        off = read_gps(b[:6] + b[7:], 0, rec, ctx.tz) + 1
    else:
        off = read_time(b, 0, rec, ctx.tz) + 1
    has_cell = b[off] != 0
    off = read_lbs(b, off, rec, has_length=True)
    if has_cell:
        set_gsm_level(rec, b[off])
        off += 1
    off += 1 + b[off]  # additional cells
    off += 1 + b[off]  # WiFi access points
    status = b[off]
    a["status"] = status
    if frame.type_id == 0x33:
        if status in (0xA0, 0xA1):
            a["armed"] = status == 0xA0
        else:
            name = {0xA2: "low_battery", 0xA3: "low_battery", 0xA4: "general", 0xA5: "door"}.get(status)
            if name:
                rec.f["event"] = name
    return report("location" if frame.type_id == 0x32 else "alarm", rec, ack_frame(frame))


def decode_gps_lbs8(ctx: Ctx) -> Outcome:
    """0x38: GPS, upload flags, a typed cell (4G/5G with wide ids), then (type, length) modules."""
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x38
    off = read_gps(b, 0, rec, ctx.tz)
    a["upload_mode"] = b[off]
    a["reupload"] = b[off + 1] > 0
    cell_type = b[off + 2]
    off += 3
    a["cell_type"] = cell_type
    wide = cell_type >= 3
    off = read_lbs(b, off, rec, lac4=wide, cid_len=8 if wide else 3)
    if wide:
        a["cell_rssi"] = U16.unpack_from(b, off)[0]
        off += 2
    else:
        a["cell_rssi"] = b[off]
        off += 1
    end = len(b)
    while end - off >= 3:
        module, size = U16.unpack_from(b, off)[0], b[off + 2]
        off += 3
        value = b[off : off + size]
        if module == 0x27 and size >= 2:
            rec.f["ext_voltage_v"] = U16.unpack_from(value, 0)[0] / 100
        elif module == 0x2E and size >= 4:
            rec.f["odometer_m"] = float(U32.unpack_from(value, 0)[0])
        elif module == 0x3B and size >= 2:
            a["accuracy_m"] = U16.unpack_from(value, 0)[0] / 100
        else:
            a[f"module_{module:02x}"] = value.hex()
        off += size
    return report("location", rec, ack_frame(ctx.frame))


_OBD_KEYS = {0x28: "odometer", 0x2B: "fuel_level", 0x2D: "coolant_temp", 0x35: "obd_speed", 0x36: "rpm",
             0x47: "fuel_used", 0x49: "engine_hours", 0x4A: "vin"}


def decode_obd(ctx: Ctx) -> Outcome:
    """0x8C (FM08ABC): time, ACC and ``PID=hex`` pairs; values kept raw with Traccar's key names."""
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x8C
    off = read_time(b, 0, rec, ctx.tz)
    rec.f["ignition"] = b[off] > 0
    text = b[off + 1 : len(b) - 12].decode("ascii", "replace")
    obd: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if sep and len(key) >= 2:
            obd[key] = value
            try:
                name = _OBD_KEYS.get(int(key[:2], 16))
            except ValueError:
                name = None
            if name is not None:
                a[f"obd_{name}"] = value
    if obd:
        a["obd"] = obd
    return report("obd", rec, None)


def decode_serial(ctx: Ctx) -> Outcome:
    """0x9B: transparent data from a serial peripheral (RFID reader, fuel sensor...)."""
    b = ctx.frame.content
    rec = Fields()
    rec.a["msg_type"] = 0x9B
    rec.a["device_type"] = b[0]
    data = b[1:]
    if not data:
        return nothing("serial")
    rec.a["result"] = data.decode("ascii").strip() if printable(data) else data.hex()
    return report("serial", rec, None)


def decode_tlv_time(ctx: Ctx) -> Outcome:
    """0xF1: a UTC second count, then (type u16, length u8, value) items; 0x0005 is the supply."""
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0xF1
    rec.f["fix_time"] = float(U32.unpack_from(b, 0)[0])
    off = 4
    end = len(b)
    while end - off >= 3:
        item, size = U16.unpack_from(b, off)[0], b[off + 2]
        value = int.from_bytes(b[off + 3 : off + 3 + size], "big")
        if item == 0x0005:
            rec.f["ext_voltage_v"] = value / 100
        else:
            a[f"io_{item:04x}"] = value
        off += 3 + size
    return report("info", rec, None)


def decode_peripheral(ctx: Ctx) -> Outcome:
    """0xF2 (VL842 peripherals): a UTC second count; the items have no public layout, kept raw."""
    b = ctx.frame.content
    rec = Fields()
    rec.a["msg_type"] = 0xF2
    rec.f["fix_time"] = float(U32.unpack_from(b, 0)[0])
    rec.a["peripheral_hex"] = b[4:].hex()
    return report("peripheral", rec, None)


EXTENDED_HANDLERS: dict[int, Handler] = {
    0x21: decode_string_info,
    0x32: decode_az735,
    0x33: decode_az735,
    0x38: decode_gps_lbs8,
    0x70: decode_modular,
    0x8C: decode_obd,
    0x94: decode_info,
    0x9B: decode_serial,
    0xF1: decode_tlv_time,
    0xF2: decode_peripheral,
}
