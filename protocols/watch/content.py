"""Watch frame content: positions (``UD``/``UD2``/``UD_LTE``/``AL``/``WT``...), heartbeats and health data.

Layouts after Traccar's ``WatchProtocolDecoder``. A position is::

    ddmmyy,hhmmss,A|V,lat,N|S,lon,E|W,speed km/h,course,altitude,satellites,GSM 0-100,
    battery %,steps,tumbles,status (hex),cells...,wifi...

Coordinates are signed decimal degrees (a hemisphere letter, when present, sets the sign).
GSM and battery are percentages, so they map straight to ``gsm_signal_pct`` and the
``battery_pct`` attribute. The status word carries alarms (Traccar's ``decodeAlarm`` order).
Numeric fields left empty decode to None.
"""

from __future__ import annotations

import re

from protocols.record import RecordFields, operator_code

PROTOCOL = "watch"

ALARM_BITS: tuple[tuple[int, str], ...] = (
    (0, "low_battery"),
    (1, "geofence_exit"),
    (2, "geofence_enter"),
    (14, "power_cut"),
    (16, "sos"),
    (17, "low_battery"),
    (18, "geofence_exit"),
    (19, "geofence_enter"),
    (20, "removing"),
    (21, "fall_down"),
    (22, "fall_down"),
)
"""Status bit -> alarm; the first set bit in this order names the event."""

MOTION_BIT = 4

POSITION = re.compile(
    r"(?P<date>\d{6}),(?P<time>\d{6}),(?P<valid>[AV]),"
    r" *(?P<lat>-?\d+(?:\.\d+)?),(?P<ns>[NS])?,"
    r" *(?P<lon>-?\d+(?:\.\d+)?),(?P<ew>[EW])?,"
    r"(?P<speed>\d+(?:\.\d*)?)?,(?P<course>\d+(?:\.\d*)?)?,(?P<alt>-?\d+(?:\.\d*)?)?,"
    r"(?P<sats>\d+)?,(?P<rssi>\d+)?,(?P<battery>\d+)?,(?P<steps>\d+)?,(?P<tumbles>\d+)?,"
    r"(?P<status>[0-9A-Fa-f]+)(?:,(?P<tail>.*))?",
    re.S,
)

_HEX_LETTERS = re.compile(r"[A-Fa-f]")


class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL


def _set_time(rec: Fields, ddmmyy: str, hhmmss: str) -> None:
    d, mo, y = int(ddmmyy[:2]), int(ddmmyy[2:4]), int(ddmmyy[4:])
    rec.set_time_parts(2000 + y, mo, d, int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:]))


def _signed(value: str, hemisphere: str | None, negative: str) -> float:
    number = float(value)
    return -abs(number) if hemisphere == negative else number


def alarm(status: int) -> str | None:
    for bit, name in ALARM_BITS:
        if status >> bit & 1:
            return name
    return None


def decode_position(text: str) -> Fields | None:
    """A ``UD``-family position; None when the text has no position layout."""
    m = POSITION.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    f, a = rec.f, rec.a
    _set_time(rec, m["date"], m["time"])
    f["valid"] = m["valid"] == "A"
    lat: float | None = _signed(m["lat"], m["ns"], "S")
    lon: float | None = _signed(m["lon"], m["ew"], "W")
    if lat == 0 and lon == 0:
        lat = lon = None  # no fix ever: 0,0 is "unknown"
    f["lat"], f["lon"] = lat, lon
    for key, group, cast in (
        ("speed_kmh", "speed", float), ("course_deg", "course", float), ("altitude_m", "alt", float),
        ("satellites", "sats", int),
    ):
        if m[group]:
            f[key] = cast(m[group])
    if m["rssi"]:
        f["gsm_signal_pct"] = min(int(m["rssi"]), 100)
    if m["battery"]:
        a["battery_pct"] = int(m["battery"])
    if m["steps"]:
        a["steps"] = int(m["steps"])
    if m["tumbles"]:
        a["tumbles"] = int(m["tumbles"])
    status = int(m["status"], 16)
    a["status"] = status
    f["event"] = alarm(status)
    if status >> MOTION_BIT & 1:
        f["motion"] = True
    if m["tail"]:
        _network(rec, m["tail"].split(","))
    return rec


def _cell_number(value: str) -> int:
    return int(value, 16 if _HEX_LETTERS.search(value) else 10)


def _network(rec: Fields, values: list[str]) -> None:
    """Cells (count, timing advance, MCC, MNC, then LAC/CID/signal each) and Wi-Fi (count,
    then name/MAC/signal each). A list that does not fit is kept raw."""
    a = rec.a
    try:
        index = 0
        cells = int(values[index])
        index += 1
        if cells > 0:
            a["timing_advance"] = values[index]
            index += 1
            mcc_text, mnc_text = values[index], values[index + 1]
            index += 2
            if not (mcc_text + mnc_text).isdigit() and (mcc_text or mnc_text):
                raise ValueError("MCC/MNC not decimal")  # e.g. FFFF,FFFF: no cell data
            mcc = int(mcc_text) if mcc_text else 0
            mnc = int(mnc_text) if mnc_text else 0
            for i in range(cells):
                lac, cid, signal = values[index : index + 3]
                index += 3
                if i == 0:
                    a.update(mcc=mcc, mnc=mnc, lac=_cell_number(lac), cell_id=_cell_number(cid))
                    if signal:
                        a["cell_signal"] = int(signal)
            if mcc:
                rec.f["operator"] = operator_code(mcc, mnc, 3 if len(mnc_text) == 3 else 2)
        a["cell_count"] = cells
        if index < len(values) and values[index]:
            wifi = int(values[index])
            index += 1
            a["wifi_count"] = wifi
            index += 3 * wifi
        if index < len(values) and "." in values[index]:
            a["accuracy_m"] = float(values[index])  # 3G firmware; SG ends in a 2-digit flag
    except (ValueError, IndexError):
        a["network_raw"] = ",".join(values)


def decode_link(values: list[str]) -> Fields | None:
    """``LK,steps,tumbles,battery``: a heartbeat; a record only when it carries the values."""
    if len(values) < 3:
        return None
    rec = Fields()
    rec.a["steps"] = int(values[0])
    rec.a["tumbles"] = int(values[1])
    rec.a["battery_pct"] = int(values[2])
    return rec


HEALTH = frozenset(("pulse", "heart", "blood", "bphrt", "temp", "btemp2", "oxygen"))


def decode_health(kind: str, values: list[str]) -> Fields | None:
    """Heart rate, blood pressure, body temperature and blood oxygen readings."""
    if not values or values == [""]:
        return None
    rec = Fields()
    a = rec.a
    if kind == "temp":
        a["temperature_c"] = float(values[0])
    elif kind == "btemp2":
        if int(values[0]) > 0:
            a["temperature_c"] = float(values[1])
    elif kind == "oxygen":
        a["blood_oxygen_pct"] = int(values[1])
    else:
        index = 0
        if kind in ("bphrt", "blood"):
            a["pressure_high"] = int(values[0])
            a["pressure_low"] = int(values[1])
            index = 2
        if index < len(values) and values[index]:
            a["heart_rate"] = int(values[index])
    return rec
