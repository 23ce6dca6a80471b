"""Meitrack values shared by the text and binary decoders, and their mapping to the record.

GSM signal is a 0-31 CSQ value (99: unknown); event codes name alarms after Traccar's
``decodeAlarm`` (snake_case); the checksum is the sum of every byte up to and including ``*``,
modulo 256, as two upper-case hex digits.
"""

from __future__ import annotations

from protocols.record import RecordFields

PROTOCOL = "meitrack"

EPOCH_2000 = 946_684_800
"""Binary times count seconds from 2000-01-01 UTC."""

EVENTS: dict[int, str] = {
    1: "sos",
    17: "low_battery",
    18: "low_power",
    19: "overspeed",
    20: "geofence_enter",
    21: "geofence_exit",
    22: "power_restored",
    23: "power_cut",
    36: "tow",
    44: "jamming",
    78: "accident",
    90: "hard_cornering",
    91: "hard_cornering",
    129: "hard_braking",
    130: "hard_acceleration",
    135: "fatigue_driving",
}
"""Event code -> alarm name; other codes (35 = timed report, 2-9 inputs...) name no alarm."""

EVENT_CODES: dict[str, int] = {}
for _code, _name in sorted(EVENTS.items()):
    EVENT_CODES.setdefault(_name, _code)

TIMED_REPORT = 35


class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL


def checksum(data: bytes) -> bytes:
    """Two upper-case hex digits of the byte sum of ``data`` (which ends with ``*``)."""
    return b"%02X" % (sum(data) & 0xFF)


def set_event(rec: Fields, code: int) -> None:
    rec.a["event_code"] = code
    name = EVENTS.get(code)
    if name is not None:
        rec.f["event"] = name


def set_gsm(rec: Fields, csq: int) -> None:
    """0-31 CSQ to a percentage; 99 (and anything else off scale) stays unknown."""
    rec.a["gsm_csq"] = csq
    if 0 <= csq <= 31:
        rec.f["gsm_signal_pct"] = round(csq * 100 / 31)


def csq_from_pct(pct: int | None) -> int:
    return 99 if pct is None else min(max(round(pct * 31 / 100), 0), 31)


def set_position(rec: Fields, lat: float, lon: float) -> None:
    """Coordinates; exactly 0,0 is "no fix ever" and stays unknown."""
    if lat == 0 and lon == 0:
        rec.f["lat"] = rec.f["lon"] = None
    else:
        rec.f["lat"], rec.f["lon"] = lat, lon


def set_text_time(rec: Fields, value: str) -> None:
    """``yymmddhhmmss`` (UTC) as the fix time; empty stays unknown, anything else that names no
    moment is kept as sent (``RecordFields.set_time_parts``)."""
    if len(value) == 12 and value.isdigit():
        y, mo, d, h, mi, s = (int(value[i : i + 2]) for i in range(0, 12, 2))
        rec.set_time_parts(2000 + y, mo, d, h, mi, s)
    elif value:
        rec.impossible_time(value)
    else:
        rec.f["fix_time"] = None
