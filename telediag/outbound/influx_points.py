"""Stored records as InfluxDB points (line protocol): the measurement schema of the InfluxDB export.

Pure: no I/O, no clock. One ``records`` row (with the device's registry account) becomes at most one
point of the measurement ``telemetry``:

=====================  =======  =====================================================================
name                   kind     value
=====================  =======  =====================================================================
``imei``               tag      the device IMEI
``protocol``           tag      the protocol the record arrived in (``teltonika``, ``gt06``, ...)
``account``            tag      the device's account in the registry at export time; absent when none
``lat``                float    degrees, WGS84
``lon``                float    degrees, WGS84
``altitude_m``         float    metres
``speed_kmh``          float    km/h
``course_deg``         float    degrees from north
``satellites``         float    satellites in use
``hdop``               float    horizontal dilution of precision
``ext_voltage_v``      float    external (vehicle) power, volts
``battery_voltage_v``  float    internal battery, volts
``gsm_signal_pct``     float    signal strength, 0-100
``odometer_m``         float    metres
``valid``              boolean  the GNSS fix is valid
``ignition``           boolean  ignition on
``motion``             boolean  the device reports movement
``roaming``            boolean  the device is roaming
``event``              string   alarm or event name
time                   ns       ``fix_time``, or ``server_time`` when the record has no fix time
=====================  =======  =====================================================================

Why these choices:

* A value the device did not report (None) is left out of the point, never written as 0 or false.
  Non-finite numbers (NaN, infinity) are left out too: line protocol has no spelling for them; so is
  a value that is not a number at all.
* Numbers are all floats, so that a field never changes type between points (InfluxDB refuses a
  point whose field type conflicts with earlier points of the same shard).
* Series identity is measurement + tags + timestamp, so writing the same record twice overwrites the
  first copy (InfluxDB) or is merged by deduplication (VictoriaMetrics with
  ``-dedup.minScrapeInterval``): re-sending a batch after a crash creates no duplicates.
* Times are kept to the microsecond (a float of epoch seconds carries no more), written in ns.
  Old fix times (a tracker whose clock reset to 2000, a GPS week rollover) are written as they are:
  the diagnostics want to see them. A time InfluxDB cannot represent at all (outside 1677-09-21 ..
  2262-04-11) gives no point. Servers may still drop some times on their side: InfluxDB 2 refuses points
  outside the bucket's retention (HTTP 422, counted by the exporter as rejected), VictoriaMetrics
  silently drops points before 1970, outside its ``-retentionPeriod`` or more than two days ahead.
* A record with no field at all (every value unknown) gives no point: line protocol needs a field.
* Text never contains a raw newline (one line per point): in tags and ``event``, CR/LF/TAB are written
  as the two characters ``\\n``, ``\\r``, ``\\t`` (the escaping influxdb-client itself uses for keys).
* VictoriaMetrics stores each field as the metric ``telemetry_<field>`` with the tags as labels;
  booleans become 1/0, and strings (``event``) become a sample of value 0, so the event text is only
  kept by InfluxDB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MEASUREMENT = "telemetry"
TAG_KEYS: tuple[str, ...] = ("account", "imei", "protocol")
"""Tag keys, sorted (the order InfluxDB stores them in, so it has no sorting to do)."""
FLOAT_FIELDS: tuple[str, ...] = (
    "lat", "lon", "altitude_m", "speed_kmh", "course_deg", "satellites", "hdop", "ext_voltage_v",
    "battery_voltage_v", "gsm_signal_pct", "odometer_m",
)
BOOLEAN_FIELDS: tuple[str, ...] = ("valid", "ignition", "motion", "roaming")
STRING_FIELDS: tuple[str, ...] = ("event",)
FIELD_KEYS: tuple[str, ...] = FLOAT_FIELDS + BOOLEAN_FIELDS + STRING_FIELDS

ROW_COLUMNS: tuple[str, ...] = ("imei", "protocol", "account", "fix_time", "server_time") + FIELD_KEYS
"""The columns :func:`row_point` and :func:`row_line` expect, in this order (the exporter's SELECT)."""

MIN_TIME_NS = -9_223_372_036_854_775_806
MAX_TIME_NS = 9_223_372_036_854_775_806
"""The timestamps InfluxDB accepts (1677-09-21 .. 2262-04-11)."""

_ESCAPE_TAG = str.maketrans({
    "\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t",
})
_ESCAPE_STRING = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_TAG_SPECIALS = frozenset("\\,= \n\r\t")
_ESCAPE_MEASUREMENT = str.maketrans({
    "\\": "\\\\", ",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t",
})
_FLOAT_OFFSET = ROW_COLUMNS.index(FLOAT_FIELDS[0])
_BOOLEAN_OFFSET = ROW_COLUMNS.index(BOOLEAN_FIELDS[0])
_EVENT_INDEX = ROW_COLUMNS.index("event")


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    """One point: tags and fields in schema order, unknown ones left out."""

    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, float | bool | str], ...]
    time_ns: int
    measurement: str = MEASUREMENT

    def field(self, name: str) -> float | bool | str | None:
        """The value of field ``name``, None when the point does not carry it."""
        return dict(self.fields).get(name)


def time_ns(fix_time: float | None, server_time: float | None) -> int | None:
    """The point time: the fix time (else the server time), microsecond-rounded, in ns; None if unusable."""
    seconds = fix_time if fix_time is not None else server_time
    if seconds is None or not math.isfinite(seconds):
        return None
    nanoseconds = round(seconds * 1_000_000) * 1000
    if not MIN_TIME_NS <= nanoseconds <= MAX_TIME_NS:
        return None
    return nanoseconds


def row_point(row: Sequence[Any]) -> TelemetryPoint | None:
    """The point for one row laid out as :data:`ROW_COLUMNS`; None when the row gives no point."""
    nanoseconds = time_ns(row[3], row[4])
    if nanoseconds is None:
        return None
    tags = tuple(
        (key, str(value)) for key, value in (("account", row[2]), ("imei", row[0]), ("protocol", row[1]))
        if value is not None and str(value) != ""
    )
    fields: list[tuple[str, float | bool | str]] = []
    for offset, name in enumerate(FLOAT_FIELDS, _FLOAT_OFFSET):
        value = row[offset]
        if value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):  # SQLite keeps whatever a column was given
                continue
            if math.isfinite(number):
                fields.append((name, number))
    for offset, name in enumerate(BOOLEAN_FIELDS, _BOOLEAN_OFFSET):
        if row[offset] is not None:
            fields.append((name, bool(row[offset])))
    if row[_EVENT_INDEX] is not None:
        fields.append(("event", str(row[_EVENT_INDEX])))
    if not fields:
        return None
    return TelemetryPoint(tags, tuple(fields), nanoseconds)


def record_point(values: Mapping[str, Any]) -> TelemetryPoint | None:
    """The point for a mapping with the names of :data:`ROW_COLUMNS` (missing names are unknown)."""
    return row_point([values.get(name) for name in ROW_COLUMNS])


def _tag_text(value: str) -> str:
    return value.translate(_ESCAPE_TAG) if not _TAG_SPECIALS.isdisjoint(value) else value


def _field_text(value: float | bool | str) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPE_STRING) + '"'
    return repr(value)


def line_protocol(point: TelemetryPoint) -> bytes:
    """One line of InfluxDB line protocol, UTF-8, without the trailing newline."""
    tags = "".join(f",{key}={_tag_text(value)}" for key, value in point.tags)
    fields = ",".join(f"{key}={_field_text(value)}" for key, value in point.fields)
    measurement = point.measurement.translate(_ESCAPE_MEASUREMENT)
    return f"{measurement}{tags} {fields} {point.time_ns}".encode()


def row_line(row: Sequence[Any]) -> bytes | None:
    """:func:`line_protocol` of :func:`row_point`: what the exporter writes for one row."""
    point = row_point(row)
    return None if point is None else line_protocol(point)
