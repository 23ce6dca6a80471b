"""The GPS / LBS / status family of ``7878`` frames (Traccar's ``isSupported`` branch).

One table-driven handler covers 0x10-0x37 and 0xA0-0xA7 because they are built from the same
blocks: GPS, one cell, the terminal-information status, then type- or variant-specific tails.
Variants are recognised the way Traccar does, by the length field (e.g. 0x12 with length 0x24 is
a VXT01), so no per-device configuration is needed except where only the model can tell.
"""

from __future__ import annotations

from protocols.gt06.fields import (
    S16,
    U16,
    U32,
    Fields,
    read_gps,
    read_lbs,
    read_terminal_info,
    set_alarm,
    set_gsm_level,
    set_voltage_level,
)
from protocols.gt06.outcome import Ctx, Handler, Outcome, nothing, report

GPS_TYPES = frozenset(
    (0x10, 0x11, 0x12, 0x16, 0x17, 0x1A, 0x1E, 0x22, 0x26, 0x27, 0x2D, 0x31, 0x32, 0x37,
     0xA0, 0xA2, 0xA3, 0xA4)
)
LBS_TYPES = frozenset(
    (0x11, 0x12, 0x16, 0x17, 0x19, 0x22, 0x26, 0x27, 0x2D, 0x31, 0x32, 0x37,
     0xA0, 0xA2, 0xA3, 0xA4, 0xA5, 0xA7)
)
STATUS_TYPES = frozenset((0x13, 0x16, 0x19, 0x26, 0x27, 0x32, 0x36, 0xA2, 0xA4, 0xA5))

KINDS = {
    0x10: "location", 0x11: "location", 0x12: "location", 0x17: "location", 0x1A: "location",
    0x1E: "location", 0x22: "location", 0x2D: "location", 0x31: "location", 0x37: "location",
    0xA0: "location", 0xA3: "location",
    0x13: "status", 0x36: "status",
    0x16: "alarm", 0x26: "alarm", 0x27: "alarm", 0x32: "alarm", 0xA2: "alarm", 0xA4: "alarm",
    0x19: "lbs_alarm", 0xA5: "lbs_alarm", 0xA7: "lbs",
}

ACC_TAIL_TYPES = frozenset((0x22, 0x37, 0x2D, 0x31))
"""Types whose standard layout ends with ACC, upload mode and re-upload bytes."""


def _variant(t: int, length: int, model: str | None) -> str:
    """Traccar's ``decodeVariant``: layouts recognised by type and length field."""
    key = (t, length)
    if key in ((0x12, 0x24), (0x16, 0x24)):
        return "vxt01"
    if t == 0x12:
        if length == 0x27 or model == "QH302R":
            return "imei12"
        if length >= 0x71:
            return "gt06e_card"
        return {0x21: "benway", 0x2B: "s5", 0x29: "wetrust"}.get(length, "standard")
    if key in ((0x31, 0x2A), (0x32, 0x27), (0x32, 0x29)):
        return "sl4x"
    if key in ((0x22, 0x2F), (0x16, 0x26)):
        return "seeworld"
    if t == 0x13 and length == 0x13:
        return "obd6"
    if t == 0x19 and length >= 0x17:
        return "space10x"
    if t == 0xA2 and length == 0x40:
        return "lw4g"
    if t == 0x22 and (length == 0x3C or model in ("NT20", "XT40")):
        return "imei22"
    if t == 0x36 and (length == 0x35 or model == "VL103"):
        return "gps36"
    return "standard"


def decode_location(ctx: Ctx) -> Outcome:
    """GPS, LBS and status blocks in their type's order, then the known tails."""
    frame = ctx.frame
    t = frame.type_id
    b = frame.content
    model = ctx.model
    variant = _variant(t, frame.length, model)
    kind = KINDS.get(t, "location")
    if not b:
        return nothing(kind)  # an echo of our own ACK
    if variant == "space10x":
        return nothing("lbs_multi")  # Traccar: a multi-cell message it does not decode
    if variant == "imei22":
        return _imei22(ctx)
    if variant == "gps36":
        return _gps36(ctx)
    rec = Fields()
    a = rec.a
    a["msg_type"] = t
    end = len(b)
    off = 0
    tz = ctx.tz

    if variant == "imei12":
        a["terminal_id"] = b[:8].hex()
        off = 8
    if t in GPS_TYPES and not (t == 0xA3 and frame.length == 0x0C):
        off = read_gps(b, off, rec, tz)

    if t in LBS_TYPES and off < end:
        has_length = (
            t in STATUS_TYPES
            and t not in (0x19, 0xA5, 0xA2)
            and not (t == 0x16 and variant == "vxt01")
        )
        off = read_lbs(
            b,
            off,
            rec,
            has_length=has_length,
            mnc2=t == 0x11 or variant == "sl4x",
            lac4=t in (0xA5, 0xA0, 0xA2),
            # SL4X: Traccar reads 8 bytes, but its frames only fit a 4-byte id (see 0x31 vectors)
            cid_len=8
            if t in (0xA5, 0xA0, 0xA2)
            else 4
            if t == 0x11 or variant in ("seeworld", "sl4x")
            else 3,
        )

    if t in STATUS_TYPES:
        if t == 0xA2:
            a["network"] = b[off]
            off += 1
        off = read_terminal_info(b, off, rec, seven="overspeed" if variant == "vxt01" else "removing")
        if variant == "obd6":
            off = _obd6(b, off, rec, ctx)
        else:
            off = _status_tail(b, off, rec, ctx, t, variant)

    if t == 0x36:
        off = _modules36(b, off, rec)
    elif t == 0xA2:
        a["language"] = b[off]
        rec.f["odometer_m"] = float(U32.unpack_from(b, off + 1)[0])
        a["engine_hours_s"] = U32.unpack_from(b, off + 5)[0]
        a["input"] = U16.unpack_from(b, off + 17)[0]
        off += 19
    elif t == 0x12 and variant not in ("standard", "imei12"):
        off = _gps_lbs_1_tail(b, off, rec, ctx, variant)
    elif t == 0x22 and variant == "seeworld":
        off = _seeworld22(b, off, rec)
    elif t == 0x32 and variant == "sl4x" and end - off >= 3:
        # after the status: language, then altitude (only in the 0x29-long form)
        rec.f["altitude_m"] = float(S16.unpack_from(b, off + 1)[0])
        off += 3

    acc_done = False
    if t in ACC_TAIL_TYPES and end - off >= 3:
        off = _acc_tail(b, off, rec)
        acc_done = True
        if variant == "sl4x":
            if end - off > 2:
                rec.f["odometer_m"] = float(U32.unpack_from(b, off)[0])
                off += 4
            rec.f["altitude_m"] = float(S16.unpack_from(b, off)[0])
            off += 2

    if t == 0x37 and end - off >= 3:
        module, sub = U16.unpack_from(b, off)[0], b[off + 2]
        off += 3
        if module == 0x27:
            rec.f["ext_voltage_v"] = U16.unpack_from(b, off)[0] / 100
        elif module == 0x2E:
            rec.f["odometer_m"] = float(U32.unpack_from(b, off)[0])
        elif module == 0x3B:
            a["accuracy_m"] = U16.unpack_from(b, off)[0] / 100
        off += sub

    if t == 0x17:
        a["driver_id"] = b[off : off + 8].hex()
        a["driver_id_valid"] = b[off + 8]
        off += 9
    elif t == 0x16 and end - off == 9:
        # VL103 family: language byte, then an 8-byte driver (iButton/RFID) id
        driver = b[off + 1 : off + 9]
        if driver.strip(b"\x00"):
            a["driver_id"] = driver.hex()
        off = end

    rest = end - off
    if not acc_done and (rest == 3 or rest == 7) and t not in STATUS_TYPES:
        off = _acc_tail(b, off, rec)
        rest = end - off
    if rest == 4 and t not in STATUS_TYPES:
        rec.f["odometer_m"] = float(U32.unpack_from(b, off)[0])
        off += 4
    if t in (0x27, 0xA4) and off < end:
        a["geofence"] = b[off]
    return report(kind, rec)


def _status_tail(b: bytes, off: int, rec: Fields, ctx: Ctx, t: int, variant: str) -> int:
    """Battery/voltage level, GSM level and the alarm byte, with the models that reuse them."""
    model = ctx.model or ""
    if t == 0xA2:
        rec.f["ext_voltage_v"] = U16.unpack_from(b, off)[0] / 100
        off += 2
    if t == 0x13 and model == "R11":
        rec.f["ext_voltage_v"] = U16.unpack_from(b, off)[0] / 100
        off += 2
    else:
        set_voltage_level(rec, b[off])
        off += 1
    set_gsm_level(rec, b[off])
    off += 1
    if t == 0x13 and model.startswith("LW"):
        rec.f["ext_voltage_v"] = (U16.unpack_from(b, off)[0] & 0x0FFF) / 10
        return off + 2
    ext = b[off]
    off += 1
    if t == 0x13 and model == "SEEWORLD":
        rec.f["ext_voltage_v"] = float(ext)
    elif variant != "vxt01":
        set_alarm(rec, ext, ctx.alarms)
    if t != 0xA2 and off < len(b):
        rec.a["language"] = b[off]
    return off


def _obd6(b: bytes, off: int, rec: Fields, ctx: Ctx) -> int:
    """0x13 with length 0x13: satellites in a signal word, battery %, working mode, volts."""
    signal = U16.unpack_from(b, off)[0]
    rec.f["satellites"] = ((signal >> 10) & 0x1F) + ((signal >> 5) & 0x1F)
    rec.a["gsm_signal_raw"] = signal & 0x1F
    set_alarm(rec, b[off + 2], ctx.alarms)
    rec.a["language"] = b[off + 3]
    rec.a["battery_pct"] = b[off + 4]
    mode = b[off + 5]
    rec.a["working_mode"] = mode
    rec.f["ext_voltage_v"] = U16.unpack_from(b, off + 6)[0] / 100
    off += 8
    if len(b) - off >= 5:
        off += 3  # reserved, working time
        if mode == 4:
            rec.a["temperature_c"] = S16.unpack_from(b, off)[0] / 10
            off += 2
    return off


def _acc_tail(b: bytes, off: int, rec: Fields) -> int:
    """ACC byte, data upload mode, real-time/re-upload flag (0x22 and its relatives)."""
    rec.f["ignition"] = b[off] > 0
    rec.a["upload_mode"] = b[off + 1]
    rec.a["reupload"] = b[off + 2] > 0
    return off + 3


def _modules36(b: bytes, off: int, rec: Fields) -> int:
    """Jimi 4G status 0x36: language, then (type, length, value) modules."""
    off += 1  # language
    end = len(b)
    while end - off >= 3:
        module, size = U16.unpack_from(b, off)[0], b[off + 2]
        off += 3
        if module == 0x18:
            rec.f["battery_voltage_v"] = U16.unpack_from(b, off)[0] / 100
        elif module == 0x32:
            rec.a["startup_status"] = b[off]
        elif module == 0x6A:
            rec.a["battery_pct"] = b[off]
        off += size
    return off


def _gps_lbs_1_tail(b: bytes, off: int, rec: Fields, ctx: Ctx, variant: str) -> int:
    """Per-variant extensions of 0x12 (card readers, analog inputs, VXT01/S5 status)."""
    f = rec.f
    a = rec.a
    if variant in ("gt06e_card", "wetrust"):
        f["odometer_m"] = float(U32.unpack_from(b, off)[0])
        size = b[off + 4]
        a["card"] = b[off + 5 : off + 5 + size].decode("ascii").strip()
        off += 5 + size
        if variant == "wetrust":
            if b[off]:
                f["event"] = "general"
            a["card_status"] = b[off + 1]
            a["driving_time"] = U16.unpack_from(b, off + 2)[0]
            return off + 4
        return off + 2  # alarm, swiped
    if variant == "benway":
        mask = U16.unpack_from(b, off)[0]
        f["ignition"] = bool(mask & 0x8000)
        a["in2"] = bool(mask & 0x4000)
        if mask & 0x1000:
            value = mask & 0x1FF
            a["temperature_c"] = -value if mask & 0x0200 else value
        else:
            value = mask & 0x3FF
            a["adc1"] = value if mask & 0x2000 else value / 10
        return off + 2
    off = read_terminal_info(b, off, rec, seven="overspeed" if variant == "vxt01" else "removing")
    f["ext_voltage_v"] = U16.unpack_from(b, off)[0] / 100
    set_gsm_level(rec, b[off + 2])
    off += 3
    if variant == "vxt01":
        return off + 1  # alarm extension
    set_alarm(rec, b[off], ctx.alarms)
    a["oil"] = U16.unpack_from(b, off + 1)[0]
    temp = b[off + 3]
    a["temperature_c"] = -(temp & 0x7F) if temp & 0x80 else temp
    f["odometer_m"] = float(U32.unpack_from(b, off + 4)[0] * 10)
    return off + 8


def _seeworld22(b: bytes, off: int, rec: Fields) -> int:
    """SeeWorld 0x22 (length 0x2F): ACC, modes, odometer, travel time, temperature, humidity."""
    rec.f["ignition"] = b[off] > 0
    rec.a["upload_mode"] = b[off + 1]
    rec.a["reupload"] = b[off + 2] > 0
    rec.f["odometer_m"] = float(U32.unpack_from(b, off + 3)[0])
    rec.a["travel_time_s"] = U32.unpack_from(b, off + 7)[0]
    temp = U16.unpack_from(b, off + 11)[0]
    value = -(temp & 0x7FFF) if temp & 0x8000 else temp
    rec.a["temperature_c"] = value / 100
    off += 13
    if len(b) - off >= 2:
        rec.a["humidity_pct"] = U16.unpack_from(b, off)[0] / 100
        off += 2
    return off


def _read_imei_header(ctx: Ctx, rec: Fields) -> int:
    """Source, IMEI, GPS and a length-prefixed cell: the head shared by 0x22 (NT20/XT40) and 0x25.

    The bytes between IMEI and GPS (offset 9-14) are not read, as in Traccar. Returns the offset
    just after the cell.
    """
    b = ctx.frame.content
    rec.a["location_source"] = b[0]
    rec.a["terminal_id"] = b[1:9].hex()
    off = read_gps(b, 15, rec, ctx.tz)
    size = b[off]
    return read_lbs(b, off, rec, has_length=True, cid_len=max(3, min(size - 6, 8)))


def _read_imei_power(ctx: Ctx, rec: Fields, off: int) -> int:
    """Status byte, supply volts, battery (volts only on the XT40) and GSM level of 0x22/0x25.

    Returns the offset of the alarm byte that follows in both layouts.
    """
    b = ctx.frame.content
    off = read_terminal_info(b, off, rec)
    rec.f["ext_voltage_v"] = U16.unpack_from(b, off)[0] / 100
    battery = b[off + 2]
    if ctx.model == "XT40":
        rec.f["battery_voltage_v"] = battery / 10
    else:
        rec.a["battery_raw"] = battery
    set_gsm_level(rec, b[off + 3])
    return off + 4


def _imei22(ctx: Ctx) -> Outcome:
    """0x22 of NT20/XT40 devices: source, IMEI and time first, then GPS, cell and status."""
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x22
    off = _read_imei_header(ctx, rec)
    off = _read_imei_power(ctx, rec, off)
    set_alarm(rec, b[off], ctx.alarms)
    off += 1
    if len(b) - off >= 7:
        a["language"] = b[off]
        rec.f["odometer_m"] = float(int.from_bytes(b[off + 1 : off + 4], "big"))
        a["engine_hours_s"] = int.from_bytes(b[off + 4 : off + 7], "big") * 60
    return report("location", rec)


def _gps36(ctx: Ctx) -> Outcome:
    """0x36 of the VL103 family: GPS, a cell with 4-byte id, ACC, odometer, battery, driver id.

    Layout inferred from captured frames (13 bytes between cell and driver id): ACC, upload
    mode, re-upload, odometer, voltage level, one unknown byte, battery volts x10, 3 unknown.
    """
    b = ctx.frame.content
    rec = Fields()
    a = rec.a
    a["msg_type"] = 0x36
    off = read_gps(b, 0, rec, ctx.tz)
    off = read_lbs(b, off, rec, cid_len=4)
    off = _acc_tail(b, off, rec)
    rec.f["odometer_m"] = float(U32.unpack_from(b, off)[0])
    set_voltage_level(rec, b[off + 4])
    rec.f["battery_voltage_v"] = b[off + 6] / 10
    off += 10
    driver = b[off : off + 8]
    if len(driver) == 8 and driver.strip(b"\x00"):
        a["driver_id"] = driver.hex()
    return report("location", rec)


HANDLERS: dict[int, Handler] = {t: decode_location for t in GPS_TYPES | LBS_TYPES | STATUS_TYPES}
