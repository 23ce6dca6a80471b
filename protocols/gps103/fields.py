"""GPS103 field helpers: times, coordinates, alarm keywords and the record builder.

Coban TK103-2 / GPS103 trackers send their local date and minute next to the UTC time of the fix,
so the device's time zone follows from the difference; the session remembers it to place the few
sentences that carry only local time (OBD, cell-only).
"""

from __future__ import annotations

from protocols.record import RecordFields

PROTOCOL = "gps103"
DEFAULT_PORT = 5001

KNOT_KMH = 1.852
"""Coban speeds are in knots (NMEA); the record wants km/h."""

ALARMS: dict[str, str] = {
    "help me": "sos",
    "low battery": "low_battery",
    "stockade": "geofence",
    "move": "movement",
    "speed": "overspeed",
    "door alarm": "door",
    "ac alarm": "power_cut",
    "accident alarm": "accident",
    "sensor alarm": "vibration",
    "bonnet alarm": "bonnet",
    "footbrake alarm": "foot_brake",
    "DTC": "fault",
    "acc on": "ignition_on",
    "acc off": "ignition_off",
}
"""Device keyword -> event name (Traccar's ``decodeAlarm``, plus ACC on/off as ignition events)."""

KEYWORDS: dict[str, str] = {event: keyword for keyword, event in ALARMS.items()}
"""Event name -> the keyword a device sends for it (the device encoder's table)."""
KEYWORDS["temperature"] = "T:"  # with no reading: event only
KEYWORDS["fuel_leak"] = "oil1"

QUIET_KEYWORDS = frozenset(("", "tracker", "rfid"))
"""Keywords of plain reports: no event."""

def keyword_event(keyword: str) -> str | None:
    """The event a keyword stands for, or None for a plain report."""
    if keyword in ALARMS:
        return ALARMS[keyword]
    if keyword.startswith("T:"):
        return "temperature"
    if keyword.startswith("oil"):
        return "fuel_leak"
    if keyword in QUIET_KEYWORDS or keyword.startswith("vt"):
        return None
    return keyword.strip().replace(" ", "_") or None


def csq_percent(value: int) -> int | None:
    """GSM CSQ 0-31 as 0-100 % (99 and anything else: unknown)."""
    if 0 <= value <= 31:
        return round(value * 100 / 31)
    return None


class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL
