"""JT808 messages other than locations: heartbeats, texts, terminal data, transparent uplinks.

Each decoder takes the body and the session context and returns an :class:`Outcome`; the session
adds the header-dependent answer. Status-only records (a heartbeat's battery, a command's text)
carry ``fix_time`` None: they say something about the device, not about where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from protocols.jt808.fields import Fields, ascii_text, decode_status_and_position, gbk_text, set_time
from protocols.jt808.location import decode_batch, decode_location, decode_lock_location, device_time
from protocols.jt808.reader import Reader
from protocols.jt808.values import decode_obd_rt, power, signal


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a decoder may need besides the body: device model and the terminal's time zone."""

    model: str | None
    tz: int


class Outcome(NamedTuple):
    """A decoder's result: records to store, whether to send the general response, and the text
    of a command answer (which makes the message a ``CommandResponse``)."""

    kind: str
    records: tuple[Fields, ...] = ()
    answer: bool = False
    text: str | None = None


def status(**attributes: object) -> Fields:
    rec = Fields()
    rec.a.update(attributes)
    return rec


def location(body: bytes, ctx: Ctx) -> Outcome:
    return Outcome("location", (decode_location(body, ctx.model, ctx.tz),), answer=True)


def location_query(body: bytes, ctx: Ctx) -> Outcome:
    """0x0201: the answer serial, then a location; a reply to our query, so not answered."""
    return Outcome("location_query", (decode_location(body[2:], ctx.model, ctx.tz),))


def batch(body: bytes, ctx: Ctx, msg_id: int) -> Outcome:
    return Outcome("batch", tuple(decode_batch(body, msg_id, ctx.model, ctx.tz)), answer=True)


def batch_2(body: bytes, ctx: Ctx) -> Outcome:
    """0x0210: a 7-byte body is a battery level with a time; anything else a batch of locations."""
    if len(body) == 7:
        rec = status(battery_pct=body[0])
        rec.a["device_time"] = device_time(body, 1, ctx.tz)
        return Outcome("battery", (rec,), answer=True)
    return batch(body, ctx, 0x0210)


def lock_location(body: bytes, ctx: Ctx, msg_id: int) -> Outcome:
    return Outcome("lock_location", (decode_lock_location(body, msg_id == 0x5502),))


def heartbeat(body: bytes, ctx: Ctx) -> Outcome:
    if len(body) >= 3:
        rec = status(battery_pct=body[0], status=body[2])
        signal(rec, body[1])
        return Outcome("heartbeat", (rec,), answer=True)
    return Outcome("heartbeat", answer=True)


def text_report(body: bytes, ctx: Ctx) -> Outcome:
    """0x6006: an encoding byte, then GBK text."""
    text = gbk_text(body[1:])
    return Outcome("text", (status(result=text),), answer=True, text=text)


def text_response(body: bytes, ctx: Ctx) -> Outcome:
    """0x1300: the answer serial, then UTF-16BE text."""
    text = body[2:].decode("utf-16-be", errors="replace").strip()
    return Outcome("text_response", (status(result=text),), text=text)


def command_response(body: bytes, ctx: Ctx) -> Outcome:
    """0x0701 (electronic waybill, used by some for command answers): length (4), ASCII text."""
    r = Reader(body)
    text = r.take(r.u32()).decode("latin-1")
    return Outcome("command_response", (status(result=text),), text=text)


def terminal_attributes(body: bytes, ctx: Ctx) -> Outcome:
    """0x0107: type (2), maker (5), model (20), terminal id (7), ICCID (10 BCD), versions..."""
    r = Reader(body)
    kind = r.u16()
    maker = ascii_text(r.take(5))
    model = ascii_text(r.take(20))
    terminal = ascii_text(r.take(7))
    rec = status(terminal_type=kind, maker=maker, model=model, terminal_id=terminal, iccid=r.take(10).hex())
    return Outcome("attributes", (rec,), answer=True)


def driver_identity(body: bytes, ctx: Ctx) -> Outcome:
    r = Reader(body)
    a: dict[str, object] = {"card_status": r.u8()}
    a["device_time"] = device_time(body, 1, ctx.tz)
    r.skip(6)
    a["card_result"] = r.u8()
    a["driver"] = r.take(r.u8()).decode("latin-1")
    a["card_code"] = ascii_text(r.take(20))
    a["card_agency"] = r.take(r.u8()).decode("latin-1")
    a["card_validity"] = r.take(4).hex()
    return Outcome("driver_identity", (status(**a),))


_PARAMETERS: dict[int, tuple[str, Callable[[Reader, int], object]]] = {
    0x0001: ("heartbeat_interval_s", lambda r, n: r.u32()),
    0x0010: ("apn", lambda r, n: gbk_text(r.take(n))),
    0x0013: ("server", lambda r, n: gbk_text(r.take(n))),
    0x0018: ("port", lambda r, n: r.u32()),
    0x0027: ("sleep_report_interval_s", lambda r, n: r.u32()),
    0x0028: ("emergency_report_interval_s", lambda r, n: r.u32()),
    0x0029: ("default_report_interval_s", lambda r, n: r.u32()),
    0x0055: ("overspeed_threshold_kmh", lambda r, n: r.u32()),
    0x0056: ("speed_limit_duration_s", lambda r, n: r.u32()),
    0x0080: ("odometer_m", lambda r, n: r.u32() * 100),
    0x0083: ("plate_number", lambda r, n: gbk_text(r.take(n)).strip()),
}


def parameters(body: bytes, ctx: Ctx) -> Outcome:
    """0x0104: the answer to a parameter query (the APN among them, which diagnostics want)."""
    r = Reader(body)
    r.u16()  # answer serial
    r.u8()  # count
    rec = Fields()
    while r.left >= 5:
        pid = r.u32()
        length = r.u8()
        if length > r.left:
            break
        sub = Reader(r.take(length))
        entry = _PARAMETERS.get(pid)
        try:
            if entry is None:
                continue
            name, read = entry
            if name == "odometer_m":
                rec.f["odometer_m"] = float(read(sub, length))  # type: ignore[arg-type]
            else:
                rec.a[name] = read(sub, length)
        except IndexError:
            rec.a[f"param_0x{pid:04x}"] = sub.data.hex()
    return Outcome("parameters", (rec,))


def acceleration(body: bytes, ctx: Ctx) -> Outcome:
    """0x2070: samples of time (6) and three signed axes."""
    r = Reader(body)
    samples = []
    while r.left >= 12:
        r.skip(6)
        samples.append([_signed_word(r.u16()) for _ in range(3)])
    return Outcome("acceleration", (status(g_sensor=samples),))


def _signed_word(value: int) -> int:
    return -(value & 0x7FFF) if value & 0x8000 else value & 0x7FFF


def transparent(body: bytes, ctx: Ctx) -> Outcome:
    """0x0900 pass-through data; its first byte says whose format follows."""
    r = Reader(body)
    kind = r.u8()
    rec = Fields()
    if kind == 0x40:
        text = ascii_text(r.rest())
        if text.startswith("GTSL"):
            values = text.split("|")
            if len(values) > 4:
                rec.a["driver_id"] = values[4]
        else:
            rec.a["data"] = text
        return Outcome("transparent", (rec,) if rec.a else (), answer=True)
    if kind == 0x41:
        decode_obd_rt(rec, r.rest().decode("latin-1"))
        return Outcome("obd", (rec,), answer=True)
    if kind == 0xF0:
        return _transparent_f0(r, ctx)
    if kind == 0xFF:
        t = set_time(rec, body, 1, ctx.tz)
        r.pos = t
        rec.f["valid"] = True
        rec.f["lat"] = r.s32() / 1_000_000.0
        rec.f["lon"] = r.s32() / 1_000_000.0
        rec.f["altitude_m"] = float(r.s16())
        rec.f["speed_kmh"] = r.u16() / 10.0
        rec.f["course_deg"] = float(r.u16())
        return Outcome("transparent_location", (rec,), answer=True)
    if kind == 0xF3:
        while r.left > 4:
            sub_kind = r.u16()
            sub = Reader(r.take(min(r.u16(), r.left)))
            if sub_kind == 0x0002:
                rec.a["collision"] = sub.u16() / 256.0 / 100.0
            elif sub_kind == 0x0006:
                rec.a["device_time"] = device_time(sub.data, 0, ctx.tz)
        return Outcome("transparent", (rec,), answer=True)
    if kind in (0x53, 0x54):
        return _transparent_sensors(r, ctx, kind)
    rec.a["transparent_type"] = kind
    rec.a["data"] = r.rest().hex()
    return Outcome(f"transparent_0x{kind:02x}", (), answer=True)


_F0_IDS: dict[int, tuple[str, Callable[[Reader], object]]] = {
    0x0102: ("odometer", lambda r: r.u32() * 100),
    0x0528: ("odometer", lambda r: r.u32() * 100),
    0x0546: ("odometer", lambda r: r.u32() * 100),
    0x0103: ("fuel", lambda r: r.u32() / 100.0),
    0x0111: ("fuel_temp_c", lambda r: r.u8() - 40),
    0x012E: ("oil_level", lambda r: r.u16() / 10.0),
    0x052A: ("fuel", lambda r: r.u16() / 100.0),
    0x0105: ("fuel_used", lambda r: r.u32() / 100.0),
    0x052C: ("fuel_used", lambda r: r.u32() / 100.0),
    0x014A: ("fuel_consumption", lambda r: r.u16() / 100.0),
    0x0537: ("fuel_consumption", lambda r: r.u16() / 100.0),
    0x0538: ("fuel_consumption", lambda r: r.u16() / 100.0),
    0x0539: ("fuel_consumption", lambda r: r.u16() / 100.0),
    0x052B: ("fuel", Reader.u8),
    0x052D: ("coolant_temp_c", lambda r: r.u8() - 40),
    0x052E: ("air_temp_c", lambda r: r.u8() - 40),
    0x0530: ("power", lambda r: r.u16() / 1000.0),
    0x0535: ("obd_speed_kmh", lambda r: r.u16() / 10.0),
    0x0536: ("rpm", Reader.u16),
    0x053D: ("intake_pressure", lambda r: r.u16() / 10.0),
    0x0544: ("liquid_level", Reader.u8),
    0x0547: ("throttle_pct", Reader.u8),
    0x0548: ("throttle_pct", Reader.u8),
}

_F0_ALARMS = {
    0x01: "power_restored", 0x02: "power_cut", 0x0E: "idle", 0x1A: "hard_acceleration",
    0x1B: "hard_braking", 0x1C: "hard_cornering", 0x1D: "lane_change", 0x1E: "lane_change",
    0x1F: "lane_change", 0x23: "fatigue_driving", 0x25: "overspeed", 0x26: "accident",
    0x27: "accident", 0x28: "accident", 0x31: "door", 0x32: "door",
}


def _transparent_f0(r: Reader, ctx: Ctx) -> Outcome:
    """0x0900/0xF0 OBD boxes: time, archive flag, vehicle type, then a data-stream subtype."""
    rec = Fields()
    a = rec.a
    when = device_time(r.data, r.pos, ctx.tz)
    r.skip(6)
    if r.u8() > 0:
        a["archive"] = True
    r.u8()  # vehicle type
    subtype = r.u8()
    if subtype == 0x01:
        for _ in range(r.u8()):
            pid = r.u16()
            sub = Reader(r.take(r.u8()))
            if pid == 0xFEEC:
                a["vin"] = sub.rest().decode("latin-1")
            elif pid in _F0_IDS:
                name, read = _F0_IDS[pid]
                value = read(sub)
                if name == "odometer":
                    rec.f["odometer_m"] = float(value)  # type: ignore[arg-type]
                elif name == "power":
                    power(rec, value)  # type: ignore[arg-type]
                else:
                    a[name] = value
            elif sub.left in (1, 2, 4):
                a[f"io{pid}"] = int.from_bytes(sub.rest(), "big")
    elif subtype == 0x02:
        codes = []
        for _ in range(r.u16()):
            r.u32()  # system id
            for _ in range(r.u16()):
                r.u32()
                r.u32()
                codes.append(ascii_text(r.take(r.u16())))
        a["dtcs"] = " ".join(codes)
    elif subtype == 0x03:
        for _ in range(r.u8()):
            rec.alarm(_F0_ALARMS.get(r.u8()))
            r.skip(r.u8())
    elif subtype == 0x04:
        trip = r.u8()
        a["trip_number"] = r.u32()
        r.skip(6)
        if trip == 0x02:
            r.skip(6 + 8 + 8 + 1)
            a["idling_count"] = r.u16()
            a["idling_time"] = r.u16()
            a["trip_odometer"] = r.u16() * 100
            a["trip_fuel"] = r.u16() / 100.0
        a["device_time"] = when
        return Outcome("obd", (rec,), answer=True)
    elif subtype == 0x0B:
        if r.u8() > 0:
            a["vin"] = r.take(17).decode("latin-1")
        a["device_time"] = when
        return Outcome("obd", (rec,), answer=True)
    elif subtype == 0x15:
        event = r.s32()
        alarm = {51: "hard_acceleration", 52: "hard_braking", 53: "hard_cornering", 54: "lane_change",
                 56: "accident"}.get(event)
        if alarm:
            rec.alarm(alarm)
        else:
            a["event_code"] = event
        a["device_time"] = when
        return Outcome("obd", (rec,), answer=True)
    else:
        return Outcome(f"obd_0x{subtype:02x}", (), answer=True)
    decode_status_and_position(rec, r.data, r.pos, ctx.model)
    rec.f["fix_time"] = when
    return Outcome("obd", (rec,), answer=True)


def _transparent_sensors(r: Reader, ctx: Ctx, kind: int) -> Outcome:
    """0x0900/0x53 (BLE tags) and 0x54 (sensor samples) of AOVX devices, after a location block."""
    rec = Fields()
    a = rec.a
    r.pos = decode_status_and_position(rec, r.data, r.pos, ctx.model)
    rec.f["altitude_m"] = float(r.s16())
    rec.f["speed_kmh"] = r.u16() / 10.0
    rec.f["course_deg"] = float(r.u16())
    r.pos = set_time(rec, r.data, r.pos, ctx.tz)
    if kind == 0x53:
        r.u8()  # total node count
        while r.left > 0:
            i = r.u8() + 1
            a[f"tag{i}_mac"] = r.take(6).hex()
            a[f"tag{i}_rssi"] = r.s8()
            a[f"tag{i}_data"] = r.take(r.u8()).hex()
    else:
        while r.left > 0:
            mask = r.u16()
            r.skip(6)
            if mask & 0x01:
                a["light_sensor"] = r.u16()
            if mask & 0x02:
                a["device_temp_c"] = r.s16() / 10.0
                a["humidity_pct"] = r.s16() / 10.0
            if mask & 0x04:
                a["temp3_c"] = r.s16() / 10.0
            if mask & 0x08:
                r.skip(6)
            if mask & 0x10:
                a["air_pressure"] = r.u16()
    return Outcome("sensors", (rec,), answer=True)

