"""Plausibility: no impossible value is stored as a valid fix, and none is thrown away.

Every transport hands its decoded records to the pipeline, and the pipeline passes them through
:func:`checked` before the commit, so one rule holds for every protocol (DESIGN.md, Plausibility):

- a latitude outside [-90, 90], a longitude outside [-180, 180] (NaN and infinity included), a speed
  that is negative or above ``max_speed_kmh``, and a fix time that is not finite or lies outside
  [``min_fix_time``, server time + ``max_future_s``] make the record ``valid = false``;
- the offending value leaves its column (so no reader meets it), and is kept in
  ``attributes["raw_<field>"]`` with the reasons in ``attributes["invalid_reason"]``;
- a kept raw fix time still counts as clock evidence (``raw_fix_seconds``), so a device sending
  year 2100 or 1970 is diagnosed CLOCK_INVALID.

Other measurements that are not finite or outside what their unit allows (a signal of 300 %, a
satellite count of 65535) lose their column value the same way without touching ``valid``: they say
nothing about the fix. The common case, a plausible record, is returned as it came, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from protocols.record import Record

RAW_PREFIX = "raw_"
REASON_KEY = "invalid_reason"

_INT64_MAX = 2**63 - 1

_MEASUREMENT_RANGES: dict[str, tuple[float, float]] = {
    "altitude_m": (-12_000.0, 100_000.0),
    "course_deg": (0.0, 360.0),
    "satellites": (0, 255),
    "hdop": (0.0, 1000.0),
    "ext_voltage_v": (0.0, 1000.0),
    "battery_voltage_v": (0.0, 100.0),
    "gsm_signal_pct": (0, 100),
    "operator": (0, 999_999),
    "odometer_m": (0.0, 1e12),
}
"""Columns that are dropped to null (raw kept) outside these ranges; wide on purpose: only values no
device can mean (a 100 km altitude is a balloon at most, 1e12 m is 25,000 trips to the Moon)."""
_MEASUREMENTS = tuple((name, low, high) for name, (low, high) in _MEASUREMENT_RANGES.items())


@dataclass(frozen=True, slots=True)
class Bounds:
    """What counts as possible; from ``[ingest]`` (max_speed_kmh, min_fix_year, max_future_s)."""

    max_speed_kmh: float = 500.0
    min_fix_time: float = 946_684_800.0
    """2000-01-01T00:00:00Z."""
    max_future_s: float = 86_400.0

    @classmethod
    def from_settings(cls, max_speed_kmh: float, min_fix_year: int, max_future_s: float) -> Bounds:
        """Bounds from the ``[ingest]`` settings (the year becomes its first second, UTC)."""
        start = datetime(min_fix_year, 1, 1, tzinfo=UTC).timestamp()
        return cls(float(max_speed_kmh), start, float(max_future_s))


def _in(value: Any, low: float, high: float) -> bool:
    """``low <= value <= high``; False for NaN, infinity and anything that is not a number."""
    try:
        inside: bool = low <= value <= high
        return inside
    except TypeError:
        return False


def _raw(value: Any) -> Any:
    """The raw value as JSON can carry it: finite numbers as they are, the rest as text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_INT64_MAX <= value <= _INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def checked(record: Record, server_time: float, bounds: Bounds) -> Record:
    """``record`` if every value is possible, else a copy with the impossible ones moved to attributes.

    NaN fails every comparison, so the one chain of range tests below also catches it; a value of the
    wrong type (a codec's text) raises TypeError and is judged field by field in :func:`_repaired`.
    """
    fix_time, lat, lon, speed = record.fix_time, record.lat, record.lon, record.speed_kmh
    try:
        if not ((fix_time is None or bounds.min_fix_time <= fix_time <= server_time + bounds.max_future_s)
                and (lat is None or -90.0 <= lat <= 90.0)
                and (lon is None or -180.0 <= lon <= 180.0)
                and (speed is None or 0.0 <= speed <= bounds.max_speed_kmh)):
            return _repaired(record, server_time, bounds)
        for name, low, high in _MEASUREMENTS:
            value = getattr(record, name)
            if value is not None and not low <= value <= high:
                return _repaired(record, server_time, bounds)
    except TypeError:
        return _repaired(record, server_time, bounds)
    return record


def checked_all(records: Sequence[Record], server_time: float, bounds: Bounds) -> Sequence[Record]:
    """:func:`checked` for a packet's records; the same sequence when nothing changed."""
    out: list[Record] | None = None
    for at, record in enumerate(records):
        fixed = checked(record, server_time, bounds)
        if fixed is not record:
            if out is None:
                out = list(records)
            out[at] = fixed
    return records if out is None else out


def _measurement_ok(record: Record, name: str, low: float, high: float) -> bool:
    value = getattr(record, name)
    return value is None or _in(value, low, high)


def _repaired(record: Record, server_time: float, bounds: Bounds) -> Record:
    """The copy :func:`checked` returns for a record with at least one impossible value."""
    changes: dict[str, Any] = {}
    attributes = dict(record.attributes)
    reasons: list[str] = []

    def drop(name: str, reason: str) -> None:
        attributes[RAW_PREFIX + name] = _raw(getattr(record, name))
        changes[name] = None
        reasons.append(f"{name} {_raw(getattr(record, name))} {reason}")

    fix_time = record.fix_time
    if fix_time is not None:
        if not _in(fix_time, -math.inf, math.inf):
            drop("fix_time", "is not a time")
        elif fix_time < bounds.min_fix_time:
            drop("fix_time", f"is before {_iso(bounds.min_fix_time)}")
        elif fix_time > server_time + bounds.max_future_s:
            drop("fix_time", f"is more than {bounds.max_future_s:g} s ahead of the server clock")
    lat_bad = record.lat is not None and not _in(record.lat, -90.0, 90.0)
    lon_bad = record.lon is not None and not _in(record.lon, -180.0, 180.0)
    if lat_bad or lon_bad:  # one impossible coordinate makes the position meaningless
        for name, bad, limit in (("lat", lat_bad, 90), ("lon", lon_bad, 180)):
            if getattr(record, name) is not None:
                drop(name, f"outside [-{limit}, {limit}]" if bad else "dropped with its impossible pair")
    speed = record.speed_kmh
    if speed is not None and not _in(speed, 0.0, bounds.max_speed_kmh):
        drop("speed_kmh", f"outside [0, {bounds.max_speed_kmh:g}] km/h")
    fix_impossible = bool(changes)
    for name, (low, high) in _MEASUREMENT_RANGES.items():
        if not _measurement_ok(record, name, low, high):
            drop(name, f"outside [{low:g}, {high:g}]")
    if fix_impossible:
        changes["valid"] = False
    previous = attributes.get(REASON_KEY)
    attributes[REASON_KEY] = "; ".join(([str(previous)] if previous else []) + reasons)
    return replace(record, attributes=attributes, **changes)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_fix_seconds(attributes: Mapping[str, Any] | None) -> float | None:
    """The fix time a device sent that was too absurd to store as ``fix_time``, as epoch seconds.

    Used as clock evidence: an unrepresentable value (1e30, NaN as text) is taken as "far off"
    (``inf``); a codec's impossible calendar date (month 13) as text is "far off" too.
    """
    if not attributes:
        return None
    raw = attributes.get(RAW_PREFIX + "fix_time")
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return math.inf
    return value if not math.isnan(value) else math.inf

