"""One device's stored history as a typed pandas frame, the input of journeys and installation checks.

The checks work on whole columns, so the frame is built column-wise from a single query: numbers
as float64 with NaN for unknown, flags as pandas' nullable ``boolean`` (unknown stays unknown, it
never becomes False). ``time`` is the fix time, or the server time when the device sent none,
which is the order the store and ``telediag records`` use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from protocols.record import Record, parse_iso_utc
from telediag.config import Thresholds
from telediag.store.database import Connection

FLOAT_COLUMNS: tuple[str, ...] = (
    "fix_time", "server_time", "lat", "lon", "altitude_m", "speed_kmh", "course_deg", "satellites",
    "hdop", "ext_voltage_v", "battery_voltage_v", "gsm_signal_pct", "operator", "odometer_m",
)
"""Numeric columns; integers of the contract (satellites, signal, operator) too, so NaN can mean unknown."""

BOOLEAN_COLUMNS: tuple[str, ...] = ("valid", "ignition", "motion", "roaming")

FRAME_COLUMNS: tuple[str, ...] = (
    "time", "fix_time", "server_time", "valid", "lat", "lon", "altitude_m", "speed_kmh", "course_deg",
    "satellites", "hdop", "ignition", "motion", "ext_voltage_v", "battery_voltage_v",
    "gsm_signal_pct", "operator", "roaming", "odometer_m", "event",
)
"""Every frame has exactly these columns, in this order, even when empty."""

_SOURCE_COLUMNS = FRAME_COLUMNS[1:]
_SELECT = f"SELECT coalesce(fix_time, server_time), {', '.join(_SOURCE_COLUMNS)}, id FROM records "


def load_history(
    db: Connection, imei: str, since: float | None = None, until: float | None = None
) -> pd.DataFrame:
    """Records of ``imei`` with ``since <= time < until`` (either bound optional), oldest first."""
    query, params = history_query(imei, since, until)
    return _frame(db.execute(query, params).fetchall())


def history_query(imei: str, since: float | None, until: float | None) -> tuple[str, list[Any]]:
    """The one SQL query behind :func:`load_history`, with its parameters.

    With a time window it is two index searches (records with a fix time by the natural key's
    (imei, fix_time) range, and the few without one by their server time), so reading 48 h of a
    device that has months stored does not walk all its rows. There is no ORDER BY: sorting on
    (time, id) in numpy costs a millisecond where SQLite's temporary B-tree costs a sixth of the
    query. ``id`` comes last, to break ties.
    """
    if since is None and until is None:
        return _SELECT + "WHERE imei = ?", [imei]
    low = -math.inf if since is None else since
    high = math.inf if until is None else until
    query = (
        _SELECT + "WHERE imei = ? AND fix_time >= ? AND fix_time < ? UNION ALL "
        + _SELECT + "WHERE imei = ? AND fix_time IS NULL AND server_time >= ? AND server_time < ?"
    )
    return query, [imei, low, high, imei, low, high]


def clock_invalid(frame: pd.DataFrame, thresholds: Thresholds) -> NDArray[np.bool_]:
    """Records whose fix time cannot place them: none (the raw time was impossible), further ahead of
    their arrival than ``clock_future_tolerance_s``, or further behind it than ``clock_past_limit_s``
    (an unset RTC, a GPS week rollover, a clock that jumped back). A record without an arrival time
    (a frame built from bare records) is judged by its fix time alone."""
    fix = frame["fix_time"].to_numpy(dtype=np.float64)
    arrival = frame["server_time"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        offset = fix - arrival
        invalid: NDArray[np.bool_] = np.isnan(fix) | (offset > thresholds.clock_future_tolerance_s) | (
            offset < -thresholds.clock_past_limit_s
        )
    return invalid


def with_valid_clock(frame: pd.DataFrame, thresholds: Thresholds) -> tuple[pd.DataFrame, int]:
    """The frame without the records :func:`clock_invalid` names, and how many were left out.

    Journeys, charts and tracks place records by their fix time: one whose clock is wrong would draw
    a journey in 1999 or a leap across the map, so it is left out and counted, and the reader is told.
    """
    invalid = clock_invalid(frame, thresholds)
    left_out = int(invalid.sum())
    if not left_out:
        return frame, 0
    return frame[~invalid].reset_index(drop=True), left_out


def frame_from_records(records: Iterable[Record | Mapping[str, Any]]) -> pd.DataFrame:
    """The frame :func:`load_history` would give for these records (tests, simulators, API input).

    Accepts :class:`Record` objects or mappings such as normalised records (ISO or epoch times).
    A record with neither fix time nor server time cannot be placed in time and is left out.
    """
    rows: list[tuple[Any, ...]] = []
    for position, record in enumerate(records):
        get = record.get if isinstance(record, Mapping) else (lambda name, r=record: getattr(r, name, None))
        values = [get(name) for name in _SOURCE_COLUMNS]
        for index in (0, 1):  # fix_time, server_time
            value = values[index]
            if isinstance(value, str):
                values[index] = parse_iso_utc(value)
        time = values[0] if values[0] is not None else values[1]
        if time is None:
            continue
        rows.append((time, *values, position))
    return _frame(rows)


def _frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Columns from row tuples (``FRAME_COLUMNS`` order, then a tie-breaking id), sorted by time.

    The rows are transposed once and every column is typed by numpy in C; None becomes NaN.
    """
    transposed = list(zip(*rows, strict=True)) if rows else [()] * (len(FRAME_COLUMNS) + 1)
    time = np.array(transposed[0], dtype=np.float64)
    sort = np.lexsort((np.array(transposed[-1], dtype=np.float64), time))
    # None: already in order, as rows written live almost always are
    order = None if np.array_equal(sort, np.arange(sort.size)) else sort
    columns: dict[str, Any] = {}
    for name, values in zip(FRAME_COLUMNS, transposed, strict=False):  # the id column after FRAME_COLUMNS is left out
        if name == "event":
            column = np.array(values, dtype=object)
        else:
            column = time if name == "time" else np.array(values, dtype=np.float64)
        if order is not None:
            column = column[order]
        if name in BOOLEAN_COLUMNS:
            columns[name] = pd.arrays.BooleanArray(column != 0.0, np.isnan(column))
        else:
            columns[name] = column
    return pd.DataFrame(columns, columns=list(FRAME_COLUMNS))
