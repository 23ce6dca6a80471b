"""H02 values shared by the text and binary decoders, and their mapping to the normalised record.

Units as the protocol sends them: speed in knots, coordinates as degrees and minutes, the vehicle
status as a 32-bit word of mostly negative-logic flags (Traccar's ``processStatus``).
"""

from __future__ import annotations

import calendar

from protocols.record import Record, RecordFields

PROTOCOL = "h02"

KNOTS_TO_KMH = 1.852

_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float | None:
    """Epoch seconds for a two-digit-year date and a time, or None when it is no real moment."""
    if not (1 <= month <= 12 and 1 <= day <= _DAYS[month] and hour < 24 and minute < 60 and second < 60):
        return None
    return float(calendar.timegm((2000 + year, month, day, hour, minute, second, 0, 0, 0)))


def set_time(rec: Fields, ddmmyy: str | None, hhmmss: str | None, key: str = "fix_time") -> None:
    """``ddmmyy`` + ``hhmmss`` (both 6 digits) into ``key``; a missing or impossible one stays None.

    ``key`` is ``fix_time`` for GNSS sentences and the ``device_time`` attribute for reports that
    carry no fix (cells, heartbeats): their time is when the device spoke, not when it had a fix.
    """
    moment = None
    if ddmmyy and hhmmss and len(ddmmyy) == 6 and len(hhmmss) == 6 and (ddmmyy + hhmmss).isdigit():
        d, mo, y = int(ddmmyy[:2]), int(ddmmyy[2:4]), int(ddmmyy[4:])
        moment = utc(y, mo, d, int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:]))
        if moment is None:
            rec.a["invalid_time"] = ddmmyy + hhmmss
    if key == "fix_time":
        rec.f["fix_time"] = moment
    elif moment is not None:
        rec.a[key] = moment


def apply_status(rec: Fields, status: int) -> None:
    """The 32-bit vehicle status (negative logic for alarms): alarm, ignition, raw word.

    As Traccar: bit 0 clear = vibration, bit 1 or 18 clear = SOS, bit 2 clear = overspeed,
    bit 19 clear = power cut (first match wins); bit 10 set = ignition (ACC) on.
    """
    rec.a["status"] = status
    if not status & 0x1:
        event = "vibration"
    elif not status & 0x2 or not status & (1 << 18):
        event = "sos"
    elif not status & 0x4:
        event = "overspeed"
    elif not status & (1 << 19):
        event = "power_cut"
    else:
        event = None
    if event is not None:
        rec.f["event"] = event
    rec.f["ignition"] = bool(status & (1 << 10))


def battery_pct(value: int) -> int | None:
    """The binary frame's battery byte as a percentage (0-6 level, 0-100 %, or 0xF1-0xF6)."""
    if value == 0:
        return None
    if value <= 3:
        return (value - 1) * 10
    if value <= 6:
        return (value - 1) * 20
    if value <= 100:
        return value
    if 0xF1 <= value <= 0xF6:
        return value - 0xF0
    return None


def status_from_record(rec: Record) -> int:
    """The status word a device would send for ``rec`` (inverse of :func:`apply_status`)."""
    raw = rec.attributes.get("status")
    status = int(raw) & 0xFFFFFFFF if isinstance(raw, int) else 0xFFFFFBFF
    status &= ~(1 << 10)
    if rec.ignition:
        status |= 1 << 10
    status |= 0x7 | (1 << 18) | (1 << 19)
    event = rec.event
    if event is not None:
        bit = {"vibration": 0, "sos": 1, "overspeed": 2, "power_cut": 19}.get(event)
        if bit is None:
            raise ValueError(f"H02 has no status flag for event {event!r}")
        status &= ~(1 << bit)
    return status
