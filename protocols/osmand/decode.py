"""OsmAnd request contents to records: query/form parameters, or the Traccar Client JSON body.

As Traccar's ``OsmAndProtocolDecoder``: a ``Content-Type: application/json`` body is the JSON
layout; otherwise the URL's query parameters, or the form-encoded body when the URL has none.
A request must name its device (``id``/``deviceid``, ``device_id`` in JSON) and carry a position
(``lat``+``lon``, ``location``, or at least one ``cell``/``wifi`` for a network fix); anything
else raises :class:`BadRequest` and is answered 400.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from protocols.osmand.fields import (
    KNOT_KMH,
    MPS_KMH,
    BadRequest,
    Fields,
    device_id,
    flag,
    number,
    scalar,
    set_timestamp,
)
from protocols.record import operator_code

SKIPPED = frozenset(("notificationToken",))
"""Parameters that are no telemetry (a push token) and are not stored."""


def _cell(value: str) -> dict[str, Any]:
    parts = value.split(",")
    if len(parts) not in (4, 5):
        raise BadRequest(f"cell must be mcc,mnc,lac,cid[,rssi], got {value[:40]!r}")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise BadRequest(f"cell must be integers, got {value[:40]!r}") from None
    cell = {"mcc": numbers[0], "mnc": numbers[1], "lac": numbers[2], "cell_id": numbers[3]}
    if len(numbers) == 5:
        cell["rssi"] = numbers[4]
    cell["_mnc_digits"] = 3 if len(parts[1].strip().lstrip("+-")) == 3 else 2
    return cell


def _wifi(value: str) -> dict[str, Any]:
    parts = value.split(",")
    if len(parts) < 2:
        raise BadRequest(f"wifi must be mac,rssi, got {value[:40]!r}")
    try:
        rssi = int(parts[1])
    except ValueError:
        raise BadRequest(f"wifi rssi must be an integer, got {value[:40]!r}") from None
    return {"mac": parts[0].replace("-", ":").lower(), "rssi": rssi}


def decode_params(params: Iterable[tuple[str, str]]) -> tuple[str, list[Fields]]:
    """Query or form parameters (one record)."""
    rec = Fields()
    f, a = rec.f, rec.a
    ident: str | None = None
    lat = lon = None
    valid: bool | None = None
    alarm: str | None = None
    cells: list[dict[str, Any]] = []
    wifi: list[dict[str, Any]] = []
    for key, value in params:
        if key in ("id", "deviceid"):
            ident = device_id(value)
        elif key == "valid":
            valid = flag(value)
        elif key == "timestamp":
            set_timestamp(rec, value)
        elif key == "lat":
            lat = number(value, "lat")
        elif key == "lon":
            lon = number(value, "lon")
        elif key == "location":
            parts = value.split(",")
            if len(parts) < 2:
                raise BadRequest("location must be lat,lon")
            lat, lon = number(parts[0], "lat"), number(parts[1], "lon")
        elif key == "cell":
            cells.append(_cell(value))
        elif key == "wifi":
            wifi.append(_wifi(value))
        elif key == "speed":
            speed = number(value, "speed")
            f["speed_kmh"] = speed * KNOT_KMH if speed >= 0 else None
        elif key in ("bearing", "heading"):
            course = number(value, key)
            f["course_deg"] = course if course >= 0 else None
        elif key == "altitude":
            f["altitude_m"] = number(value, "altitude")
        elif key == "accuracy":
            accuracy = number(value, "accuracy")
            if accuracy >= 0:
                a["accuracy_m"] = accuracy
        elif key == "hdop":
            f["hdop"] = number(value, "hdop")
        elif key in ("sat", "satellites"):
            f["satellites"] = int(number(value, key))
        elif key == "batt":
            a["battery_pct"] = number(value, "batt")
        elif key == "charge":
            a["charging"] = value.strip().lower() == "true"
        elif key == "ignition":
            f["ignition"] = flag(value)
        elif key in ("motion", "is_moving"):
            f["motion"] = flag(value)
        elif key == "odometer":
            f["odometer_m"] = number(value, "odometer")
        elif key == "power":
            f["ext_voltage_v"] = number(value, "power")
        elif key == "battery":
            f["battery_voltage_v"] = number(value, "battery")
        elif key == "event":
            f.setdefault("event", value or None)
            a["client_event"] = value
        elif key == "alarm":
            alarm = value or None
        elif key == "driverUniqueId":
            a["driver_id"] = value
        elif key not in SKIPPED and key:
            a[key] = scalar(value)
    if alarm is not None:
        f["event"] = alarm
    if ident is None:
        raise BadRequest("no device id (id or deviceid)")
    if (lat is None) != (lon is None):
        raise BadRequest("lat without lon or lon without lat")
    if lat is not None and lon is not None:
        rec.position(lat, lon)
    elif not cells and not wifi:
        raise BadRequest("no position (lat/lon, location, cell or wifi)")
    if cells:
        first = cells[0]
        f["operator"] = operator_code(first["mcc"], first["mnc"], first["_mnc_digits"])
        a.update(mcc=first["mcc"], mnc=first["mnc"], lac=first["lac"], cell_id=first["cell_id"])
        a["cells"] = [{k: v for k, v in c.items() if not k.startswith("_")} for c in cells]
    if wifi:
        a["wifi"] = wifi
    f["valid"] = valid if valid is not None else lat is not None
    return ident, [rec]


def decode_query(target: bytes, body: bytes) -> tuple[str, list[Fields]]:
    """The URL's query parameters, or the form body's when the URL carries none."""
    text = target.decode("latin-1")
    query = text.split("?", 1)[1] if "?" in text else ""
    params = parse_qsl(query, keep_blank_values=True, errors="replace")
    if not params:
        params = parse_qsl(body.decode("latin-1"), keep_blank_values=True, errors="replace")
    return decode_params(params)


def _location(loc: Any) -> Fields:
    if not isinstance(loc, dict):
        raise BadRequest("location must be an object")
    rec = Fields()
    f, a = rec.f, rec.a
    if loc.get("timestamp") is not None:
        set_timestamp(rec, loc["timestamp"])
    coords = loc.get("coords")
    if not isinstance(coords, dict) or coords.get("latitude") is None or coords.get("longitude") is None:
        raise BadRequest("location without coords.latitude/longitude")
    rec.position(number(coords["latitude"], "latitude"), number(coords["longitude"], "longitude"))
    f["valid"] = True
    if coords.get("speed") is not None:
        speed = number(coords["speed"], "speed")
        if speed >= 0:
            f["speed_kmh"] = speed * MPS_KMH
    if coords.get("heading") is not None:
        heading = number(coords["heading"], "heading")
        if heading >= 0:
            f["course_deg"] = heading
    if coords.get("accuracy") is not None:
        accuracy = number(coords["accuracy"], "accuracy")
        if accuracy >= 0:
            a["accuracy_m"] = accuracy
    if coords.get("altitude") is not None:
        f["altitude_m"] = number(coords["altitude"], "altitude")
    event = loc.get("event")
    if isinstance(event, str) and event:
        f["event"] = event
        a["client_event"] = event
    if isinstance(loc.get("is_moving"), bool):
        f["motion"] = loc["is_moving"]
    if loc.get("odometer") is not None:
        f["odometer_m"] = number(loc["odometer"], "odometer")
    if isinstance(loc.get("mock"), bool):
        a["mock"] = loc["mock"]
    activity = loc.get("activity")
    if isinstance(activity, dict) and isinstance(activity.get("type"), str):
        a["activity"] = activity["type"]
    battery = loc.get("battery")
    if isinstance(battery, dict):
        if battery.get("level") is not None:
            level = number(battery["level"], "battery.level")
            if level >= 0:
                a["battery_pct"] = round(level * 100)
        if isinstance(battery.get("is_charging"), bool):
            a["charging"] = battery["is_charging"]
    if isinstance(loc.get("uuid"), str):
        a["uuid"] = loc["uuid"]
    extras = loc.get("extras")
    alarm = loc.get("alarm")
    if isinstance(extras, dict):
        if alarm is None:
            alarm = extras.get("alarm")
        for key, value in extras.items():
            if isinstance(value, (str, int, float, bool)) and key != "alarm":
                a.setdefault(key, value)
    if isinstance(alarm, str) and alarm:
        f["event"] = alarm
    return rec


def decode_json(body: bytes) -> tuple[str, list[Fields]]:
    """Traccar Client's JSON: ``{"device_id", "location": {...} or [{...}, ...]}``."""
    try:
        root = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(root, dict):
        raise BadRequest("JSON body must be an object")
    if root.get("device_id") is None:
        raise BadRequest("no device_id")
    ident = device_id(root["device_id"])
    location = root.get("location")
    locations = location if isinstance(location, list) else [location]
    if not locations:
        raise BadRequest("no location")
    return ident, [_location(loc) for loc in locations]
