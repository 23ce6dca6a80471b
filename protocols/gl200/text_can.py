"""Mask-driven and model-specific @Track messages: GTCAN (vehicle bus) and GTINF (device state).

GTCAN lists only the fields its ``<CAN Report Mask>`` selects, in bit order, so it is read by
walking the mask; the position at its end is found like any other block. Bits whose layout differs
between models and are not needed here are skipped by count; the walk stops after the expansion
mask's first fields rather than guess further.
"""

from __future__ import annotations

from protocols.gl200.fields import Fields, apply_motion_state, csq_pct, is_hex, to_float, to_hex, to_int
from protocols.gl200.sentence import Sentence


def read_info(s: Sentence, rec: Fields) -> None:
    """GTINF: ``<name>,<state>,<ICCID>,<CSQ RSSI>,<CSQ BER>,<power state>,<main mV or mileage>,
    <backup mV>,<battery V>,<charging>,...``; GV310LAU adds LED/PSM/antenna/fix/pins and 3 ADCs."""
    v, a, f, i = s.v, rec.a, rec.f, s.base
    if len(v[i]) == 17 and v[i].isalnum() and not v[i].isdigit():  # GV500VC: VIN before the name
        a["vin"] = v[i]
        i += 1
    if v[i]:
        a["device_name"] = v[i]
    if is_hex(v[i + 1], 2):
        apply_motion_state(rec, int(v[i + 1], 16))
    if v[i + 2]:
        a["iccid"] = v[i + 2]
    if (rssi := to_int(v[i + 3])) is not None:
        a["rssi"] = rssi
        f["gsm_signal_pct"] = csq_pct(rssi)
    i += 6
    value = v[i]
    if "." in value and (km := to_float(value)) is not None:
        f["odometer_m"] = round(km * 1000.0, 1)
    elif (mv := to_int(value)) is not None:
        f["ext_voltage_v"] = mv / 1000.0
    i += 1
    if s.model in ("GV350M", "GV310LAU"):
        i += 1
    else:
        if (mv := to_int(v[i])) is not None and not s.model.startswith(("GL", "GT")):
            a["backup_power_v"] = mv / 1000.0
        i += 1
    if (volts := to_float(v[i])) is not None and 0 <= volts < 40:
        f["battery_voltage_v"] = volts
    if (charging := to_int(v[i + 1])) is not None:
        a["charging"] = charging == 1
    i += 2
    if s.model == "GV310LAU":
        i += 5  # LED, power saving, external antenna, last fix time, pin mask
        for n in (1, 2, 3):
            if (adc := to_int(v[i])) is not None:
                a[f"adc{n}"] = adc
            i += 1


def _bit(mask: int, n: int) -> bool:
    return bool(mask >> n & 1)


class _Walk:
    """A cursor over the mask-selected fields of a GTCAN."""

    def __init__(self, s: Sentence, i: int) -> None:
        self.v, self.i, self.end = s.v, i, s.end

    def take(self, present: bool) -> str:
        """The next field if its bit is set ("" otherwise, or past the end)."""
        if not present:
            return ""
        value = self.v[self.i] if self.i < self.end else ""
        self.i += 1
        return value


def _strip_unit(value: str, *prefixes: str) -> float | None:
    for prefix in prefixes:
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    return to_float(value)


def read_can(s: Sentence, rec: Fields) -> None:
    """GTCAN: ``<name>,<report type>,<bus state>,<mask>,<fields of the set bits>...``."""
    v, a = s.v, rec.a
    if v[s.base]:
        a["device_name"] = v[s.base]
    mask = to_hex(v[s.base + 3])
    if mask is None:
        return
    w = _Walk(s, s.base + 4)
    if value := w.take(_bit(mask, 0)):
        a["vin"] = value
    if (ign := to_int(w.take(_bit(mask, 1)))) is not None:
        rec.f["ignition"] = ign > 0
    value = w.take(_bit(mask, 2))
    if value.startswith("H") and (hm := to_int(value[1:])) is not None:
        a["can_odometer_m"] = hm * 100
    value = w.take(_bit(mask, 3))
    if value and not value.startswith("K") and (litres := _strip_unit(value, "L")) is not None:
        a["fuel_used_l"] = litres
    if (rpm := to_int(w.take(_bit(mask, 5)))) is not None:  # bit 5 comes before bit 4
        a["rpm"] = rpm
    if (speed := to_int(w.take(_bit(mask, 4)))) is not None:
        a["obd_speed_kmh"] = speed
    if (coolant := to_int(w.take(_bit(mask, 6)))) is not None:
        a["coolant_temp_c"] = coolant
    value = w.take(_bit(mask, 7))
    if value.startswith("L/H") and (rate := to_float(value[3:])) is not None:
        a["fuel_consumption_lh"] = rate
    value = w.take(_bit(mask, 8))
    if value and (level := to_float(value[1:])) is not None:
        a["fuel"] = level
    if (rng := to_int(w.take(_bit(mask, 9)))) is not None:
        a["range_m"] = rng * 100
    if (throttle := to_int(w.take(_bit(mask, 10)))) is not None:
        a["throttle_pct"] = throttle
    if (hours := to_float(w.take(_bit(mask, 11)))) is not None:
        a["engine_hours_s"] = round(hours * 3600)
    for bit, key in ((12, "driving_time_h"), (13, "idle_hours_h")):
        if (value_f := to_float(w.take(_bit(mask, bit)))) is not None:
            a[key] = value_f
    value = w.take(_bit(mask, 14))
    if value and not value.startswith("K") and (litres := _strip_unit(value, "L")) is not None:
        a["idle_fuel_l"] = litres
    if (axle := to_int(w.take(_bit(mask, 15)))) is not None:
        a["axle_weight"] = axle
    for bit, key in ((16, "tachograph_info"), (17, "indicators"), (18, "lights"), (19, "doors")):
        if (flags := to_hex(w.take(_bit(mask, bit)))) is not None:
            a[key] = flags
    for bit, key in ((20, "vehicle_overspeed"), (21, "engine_overspeed")):
        if (value_f := to_float(w.take(_bit(mask, bit)))) is not None:
            a[key] = value_f
    model = s.model
    skipped: tuple[int, ...] = ()
    if model == "GV350M":
        skipped = (22, 23, 24)
    elif model in ("GV350CEU", "GV355CEU"):
        skipped = (23, 24, 25, 26, 27)
    for bit in skipped:
        w.take(_bit(mask, bit))
    ext = to_hex(w.take(_bit(mask, 29))) or 0
    value = w.take(_bit(ext, 0))
    if value and (level := _strip_unit(value, "L", "P")) is not None:
        a["adblue_level"] = level
    for bit, key in ((1, "axle_weight1"), (2, "axle_weight3"), (3, "axle_weight4")):
        if (weight := to_int(w.take(_bit(ext, bit)))) is not None:
            a[key] = weight
