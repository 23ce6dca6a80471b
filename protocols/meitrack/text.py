"""Meitrack text reports (``AAA`` and the like) after Traccar's ``decodeRegular``::

    event,lat,lon,yymmddhhmmss,A|V,satellites,GSM 0-31,speed km/h,course,HDOP,altitude,
    odometer m,runtime s,MCC|MNC|LAC|CI,IIOO (inputs, outputs hex),analog,
    [event data,reserved,protocol,fuel,temperatures,data count,data...]

``analog`` is either five decimal voltages (battery|power|RTC|MCU|GPS) or hex
``AD1|AD2|AD3|battery|power`` whose scale depends on the model (Traccar's table; without a
model the T3xx scale, 1/100 V, as Traccar's default). Some firmware inserts a sub-type before the
event (``AFF,0004,35,...``). A field that does not parse makes the frame malformed.
"""

from __future__ import annotations

from protocols.meitrack.fields import Fields, set_event, set_gsm, set_position, set_text_time
from protocols.record import operator_code

_SCALES: dict[str, tuple[float, float]] = {
    "MVT340": (3.0 * 2.0 / 1024.0, 3.0 * 16.0 / 1024.0),
    "MVT380": (3.0 * 2.0 / 1024.0, 3.0 * 16.0 / 1024.0),
    "MT90": (3.3 * 2.0 / 4096.0, 1.0),
    "T1": (3.3 * 2.0 / 4096.0, 3.3 * 16.0 / 4096.0),
    "T3": (3.3 * 2.0 / 4096.0, 3.3 * 16.0 / 4096.0),
    "MVT100": (3.3 * 2.0 / 4096.0, 3.3 * 16.0 / 4096.0),
    "MVT600": (3.3 * 2.0 / 4096.0, 3.3 * 16.0 / 4096.0),
    "MVT800": (3.3 * 2.0 / 4096.0, 3.3 * 16.0 / 4096.0),
    "TC68": (3.3 * 2.0 / 4096.0, 3.3 * 16.0 / 4096.0),
    "TC68S": (3.3 * 2.0 / 4096.0, 3.3 * 16.0 / 4096.0),
}
"""Model -> (battery, power) volts per count of the hex analog values."""

DEFAULT_SCALE = (0.01, 0.01)

DRIVER_ID_EVENT = 37


def _hex(value: str) -> int | None:
    return int(value, 16) if value else None


def decode_report(fields: list[str], model: str | None = None) -> Fields:
    """The fields after ``<type>,`` of a text report; raises ValueError/IndexError on bad data."""
    f = list(fields)
    if len(f) > 3 and "." not in f[1] and "." in f[2]:
        sub = f.pop(0)
    else:
        sub = None
    if len(f) < 16:
        raise ValueError(f"report of {len(f)} fields, at least 16 expected")
    rec = Fields()
    r, a = rec.f, rec.a
    if sub is not None:
        a["sub_type"] = sub
    set_event(rec, int(f[0]))
    set_position(rec, float(f[1]), float(f[2]))
    set_text_time(rec, f[3])
    if f[4] not in ("A", "V"):
        raise ValueError(f"validity {f[4]!r}")
    r["valid"] = f[4] == "A"
    r["satellites"] = int(f[5])
    set_gsm(rec, int(f[6]))
    r["speed_kmh"] = float(f[7])
    r["course_deg"] = float(f[8])
    r["hdop"] = float(f[9])
    r["altitude_m"] = float(f[10])
    r["odometer_m"] = float(int(f[11]))
    a["runtime_s"] = int(f[12])
    _cell(rec, f[13])
    io = f[14]
    if len(io) != 4:
        raise ValueError(f"I/O field {io!r}")
    a["input"] = int(io[:2], 16)
    a["output"] = int(io[2:], 16)
    _analog(rec, f[15].split("|"), model)
    _optional(rec, f[16:])
    return rec


def _cell(rec: Fields, text: str) -> None:
    mcc_text, mnc_text, lac, cid = text.split("|")
    mcc, mnc = int(mcc_text), int(mnc_text)
    a = rec.a
    a.update(mcc=mcc, mnc=mnc)
    if lac:
        a["lac"] = int(lac, 16)
    if cid:
        a["cell_id"] = int(cid, 16)
    if mcc:
        rec.f["operator"] = operator_code(mcc, mnc, 3 if len(mnc_text) == 3 else 2)


def _analog(rec: Fields, values: list[str], model: str | None) -> None:
    a = rec.a
    if len(values) != 5:
        raise ValueError(f"analog field of {len(values)} values")
    if "." in values[0]:
        rec.f["battery_voltage_v"] = float(values[0])
        rec.f["ext_voltage_v"] = float(values[1])
        a.update(rtc_voltage_v=float(values[2]), mcu_voltage_v=float(values[3]), gps_voltage_v=float(values[4]))
        return
    for i, value in enumerate(values[:3], start=1):
        if value:
            a[f"adc{i}"] = int(value, 16)
    battery, power = _hex(values[3]), _hex(values[4])
    if battery is None:
        raise ValueError("analog field without battery")
    scale = _SCALES.get((model or "").upper(), DEFAULT_SCALE)
    a["battery_raw"] = battery
    rec.f["battery_voltage_v"] = battery * scale[0]
    if power is not None:
        a["power_raw"] = power
        rec.f["ext_voltage_v"] = power * scale[1]


def _optional(rec: Fields, rest: list[str]) -> None:
    """Event data, reserved, protocol version, fuel, temperatures, data count, data."""
    a = rec.a

    def get(i: int) -> str:
        return rest[i] if i < len(rest) else ""

    if get(0):
        if a["event_code"] == DRIVER_ID_EVENT:
            a["driver_id"] = get(0)
        else:
            a["event_data"] = get(0)
    protocol = int(get(2)) if get(2).isdigit() else 0
    if get(2):
        a["protocol_version"] = get(2)
    fuel = get(3)
    if len(fuel) == 4:
        a["fuel_level_pct"] = int(fuel[:2], 16) + int(fuel[2:], 16) * 0.01
    for temp in filter(None, get(4).split("|")):
        index = int(temp[:2], 16)
        if protocol >= 3:
            raw = int(temp[2:], 16)
            value = (raw - 0x10000 if raw & 0x8000 else raw) * 0.01
        else:
            whole = int(temp[2:4], 16)
            whole = whole - 0x100 if whole & 0x80 else whole
            value = whole + (-0.01 if whole < 0 else 0.01) * int(temp[4:], 16)
        a[f"temperature{index}_c"] = round(value, 2)
    if len(rest) > 6:
        a["data"] = ",".join(rest[6:])
