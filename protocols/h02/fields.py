"""H02 values shared by the text and binary decoders, and their mapping to the normalised record.

Units as the protocol sends them: speed in knots, coordinates as degrees and minutes, the vehicle
status as a 32-bit word of mostly negative-logic flags (Traccar's ``processStatus``).
"""

from __future__ import annotations

from protocols.record import Record, RecordFields

PROTOCOL = "h02"

KNOTS_TO_KMH = 1.852

class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL


def set_time(rec: Fields, ddmmyy: str | None, hhmmss: str | None, key: str = "fix_time") -> None:
    """``ddmmyy`` + ``hhmmss`` (both 6 digits) into ``key``; a missing one stays None, an impossible
    one is kept as sent (``RecordFields.set_time_parts``).

    ``key`` is ``fix_time`` for GNSS sentences and the ``device_time`` attribute for reports that
    carry no fix (cells, heartbeats): their time is when the device spoke, not when it had a fix.
    """
    if ddmmyy and hhmmss and len(ddmmyy) == 6 and len(hhmmss) == 6 and (ddmmyy + hhmmss).isdigit():
        d, mo, y = int(ddmmyy[:2]), int(ddmmyy[2:4]), int(ddmmyy[4:])
        rec.set_time_parts(2000 + y, mo, d, int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:]), key=key)
    elif key == "fix_time":
        rec.f["fix_time"] = None


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
