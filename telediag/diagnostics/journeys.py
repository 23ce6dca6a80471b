"""Journeys from a device's history, with the semantics of Traccar's trip report.

A record counts as moving by its ignition when the device reports ignition at all, otherwise by its
motion flag (or a speed above 5 km/h when the flag is unknown). A run of moving records is one
journey until the vehicle stands still for ``journey_min_parking_s`` or the data has a gap longer
than ``journey_stop_gap_s``; shorter stops (traffic lights, a delivery) stay inside it. A journey
starts at its first moving record and ends at the first standing record after its last moving one
(where the vehicle parked), or at the last moving record when the data stops there. As in
Traccar, the way from the last parked fix to the first moving one is not part of the journey.

Distance: the haversine sum over consecutive valid fixes inside the journey, skipping a step whose
implied speed exceeds ``max_plausible_speed_kmh`` (a glitch, not driving). The device's odometer
delta replaces it when it is trustworthy: read at both ends of the journey, not decreasing, not
faster than the plausible speed, and at least half the GPS distance (so a stuck odometer, or one
in other units, is not believed). The odometer does not cut corners between sparse fixes and
does not add GPS drift, so where it is sane it is the better figure.

Everything per record is numpy over whole columns; Python only loops over the journeys found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from protocols.record import iso_utc
from telediag.config import Thresholds
from telediag.diagnostics.geodesy import haversine_m, next_index, previous_index
from telediag.diagnostics.history import with_valid_clock

MOTION_SPEED_KMH = 5.0
"""Without a motion flag a record above this speed is moving: faster than walking a car round a yard
and than the speed noise of a parked receiver."""

Source = Literal["auto", "ignition", "motion", "any"]
"""What makes a record moving: ``auto`` is ignition when reported, else motion; ``any`` is either."""


@dataclass(frozen=True)
class Journey:
    """One trip: where and when it started and ended, how far and how fast it went."""

    start_time: float
    end_time: float
    start_lat: float | None
    start_lon: float | None
    end_lat: float | None
    end_lon: float | None
    distance_m: float
    duration_s: float
    max_speed_kmh: float | None
    avg_speed_kmh: float | None
    records: int
    detected_by: Literal["ignition", "motion"]
    reach_m: float | None = None
    """Farthest fix of the run from where it set off (the last fix before it, else its first one).

    A spurious run (GPS drift, a bumped motion sensor) stays small. Measured from the fix before
    the run because with sparse reports a real drive may have only one or two moving records, all
    already far from the parking place they left."""
    ongoing: bool = False
    """The data ends while still moving: the journey may not be over (nor its figures final)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ISO 8601 UTC times, numbers rounded to what a fix can tell."""
        return {
            "start_time": iso_utc(self.start_time),
            "end_time": iso_utc(self.end_time),
            "start_lat": _round(self.start_lat, 6),
            "start_lon": _round(self.start_lon, 6),
            "end_lat": _round(self.end_lat, 6),
            "end_lon": _round(self.end_lon, 6),
            "distance_m": round(self.distance_m, 1),
            "duration_s": round(self.duration_s, 1),
            "max_speed_kmh": _round(self.max_speed_kmh, 1),
            "avg_speed_kmh": _round(self.avg_speed_kmh, 1),
            "records": self.records,
            "detected_by": self.detected_by,
            "reach_m": _round(self.reach_m, 1),
            "ongoing": self.ongoing,
        }


@dataclass(frozen=True)
class JourneyReport:
    """Journeys of a history, and how many of its records were left out for a clock that cannot
    place them (``telediag.diagnostics.history.clock_invalid``)."""

    journeys: list[Journey]
    left_out_bad_clock: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"journeys": [j.as_dict() for j in self.journeys], "left_out_bad_clock": self.left_out_bad_clock}


def journey_report(frame: pd.DataFrame, thresholds: Thresholds) -> JourneyReport:
    """Journeys over the records whose clock is valid; the others are counted, not placed."""
    timed, left_out = with_valid_clock(frame, thresholds)
    return JourneyReport(detect_journeys(timed, thresholds), left_out)


def detect_journeys(frame: pd.DataFrame, thresholds: Thresholds) -> list[Journey]:
    """Journeys at least ``journey_min_distance_m`` long and ``journey_min_duration_s`` long."""
    return [
        journey
        for journey in movement_candidates(frame, thresholds)
        if journey.distance_m >= thresholds.journey_min_distance_m
        and journey.duration_s >= thresholds.journey_min_duration_s
    ]


def movement_candidates(frame: pd.DataFrame, thresholds: Thresholds, source: Source = "auto") -> list[Journey]:
    """Every run of movement before the distance and duration filter (false starts included)."""
    time = frame["time"].to_numpy(dtype=np.float64)
    if time.size == 0:
        return []
    moving, by_ignition = moving_mask(frame, source)
    starts, ends = _runs(time, moving, thresholds)
    if starts.size == 0:
        return []
    ongoing = (ends == time.size - 1) & moving[ends]
    return _journeys(frame, time, starts, ends, ongoing, by_ignition, thresholds)


def moving_mask(frame: pd.DataFrame, source: Source = "auto") -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(moving, moving because of ignition) per record, by the rule ``source`` names."""
    ignition_known, ignition = flag(frame, "ignition")
    by_motion = motion_rule(frame)
    if source == "motion" or (source == "auto" and not ignition_known.any()):
        return by_motion, np.zeros_like(by_motion)
    if source == "any":
        by_ignition = ignition_known & ignition
        return by_ignition | by_motion, by_ignition
    moving = np.where(ignition_known, ignition, by_motion)
    return moving, ignition_known.copy()


def motion_rule(frame: pd.DataFrame) -> NDArray[np.bool_]:
    """Moving by the motion flag, or by speed above 5 km/h where the flag is unknown."""
    known, motion = flag(frame, "motion")
    fast = frame["speed_kmh"].to_numpy(dtype=np.float64) > MOTION_SPEED_KMH
    return np.where(known, motion, fast)


def flag(frame: pd.DataFrame, name: str) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(known, value) arrays of a nullable boolean column; unknown values read as False."""
    column = frame[name]
    known = column.notna().to_numpy(dtype=bool)
    return known, column.fillna(False).to_numpy(dtype=bool)


def valid_fixes(frame: pd.DataFrame) -> NDArray[np.bool_]:
    """Records with a valid GNSS fix and both coordinates."""
    _, valid = flag(frame, "valid")
    fixes: NDArray[np.bool_] = valid & np.isfinite(frame["lat"].to_numpy(dtype=np.float64)) & np.isfinite(
        frame["lon"].to_numpy(dtype=np.float64)
    )
    return fixes


def fix_steps(frame: pd.DataFrame, thresholds: Thresholds) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """(metres from the previous valid fix, its index) per record; 0 where not a plausible step.

    A step counts only between valid fixes no further apart than ``journey_stop_gap_s`` and not
    faster than ``max_plausible_speed_kmh`` (a jump is a glitch, or a route restarting in a simulator).
    """
    time = frame["time"].to_numpy(dtype=np.float64)
    lat = frame["lat"].to_numpy(dtype=np.float64)
    lon = frame["lon"].to_numpy(dtype=np.float64)
    fix = valid_fixes(frame)
    if fix.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.intp)
    previous = np.concatenate(([-1], previous_index(fix)[:-1]))
    has_previous = fix & (previous >= 0)
    before = np.where(has_previous, previous, 0)
    metres = np.where(has_previous, haversine_m(lat[before], lon[before], lat, lon), 0.0)
    elapsed = time - time[before]
    limit = thresholds.max_plausible_speed_kmh / 3.6 * np.maximum(elapsed, 1.0)
    plausible = has_previous & (elapsed <= thresholds.journey_stop_gap_s) & (metres <= limit)
    return np.where(plausible, metres, 0.0), np.where(has_previous, previous, -1)


def _runs(
    time: NDArray[np.float64], moving: NDArray[np.bool_], thresholds: Thresholds
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """First and last record index of each run of movement (the last is the stop that ended it)."""
    size = time.size
    moving_at = np.flatnonzero(moving)
    if moving_at.size == 0:
        return moving_at, moving_at
    gap = np.zeros(size, dtype=bool)
    gap[1:] = np.diff(time) > thresholds.journey_stop_gap_s
    gaps_so_far = np.cumsum(gap)
    a, b = moving_at[:-1], moving_at[1:]
    gap_between = gaps_so_far[b] > gaps_so_far[a]
    stop_start = np.minimum(a + 1, size - 1)
    parked = (b - a > 1) & (time[b] - time[stop_start] >= thresholds.journey_min_parking_s)
    split = gap_between | parked
    starts = np.concatenate((moving_at[:1], b[split]))
    last_moving = np.concatenate((a[split], moving_at[-1:]))
    after = np.minimum(last_moving + 1, size - 1)
    ends = np.where((last_moving + 1 < size) & ~gap[after], last_moving + 1, last_moving)
    return starts, ends


def _journeys(
    frame: pd.DataFrame,
    time: NDArray[np.float64],
    starts: NDArray[np.intp],
    ends: NDArray[np.intp],
    ongoing: NDArray[np.bool_],
    by_ignition: NDArray[np.bool_],
    thresholds: Thresholds,
) -> list[Journey]:
    """Journey objects for the runs ``[starts[k], ends[k]]`` (contiguous, not overlapping)."""
    size = time.size
    lat = frame["lat"].to_numpy(dtype=np.float64)
    lon = frame["lon"].to_numpy(dtype=np.float64)
    speed = frame["speed_kmh"].to_numpy(dtype=np.float64)
    fix = valid_fixes(frame)
    steps, previous = fix_steps(frame, thresholds)

    run_marker = np.zeros(size, dtype=bool)
    run_marker[starts] = True
    run_of = np.cumsum(run_marker) - 1  # run number of each record (meaningful inside runs only)
    run_start = starts[np.maximum(run_of, 0)]
    inside_steps = np.where(previous >= run_start, steps, 0.0)
    cumulative = np.concatenate(([0.0], np.cumsum(inside_steps)))
    gps_m = cumulative[ends + 1] - cumulative[starts]

    first_fix = next_index(fix)[starts]
    last_fix = previous_index(fix)[ends]
    has_fix = first_fix <= ends
    set_off = _set_off_fix(time, fix, starts, thresholds)
    anchor = np.where(set_off >= 0, set_off, np.where(has_fix, first_fix, 0))[np.maximum(run_of, 0)]
    away = np.where(fix, haversine_m(lat[anchor], lon[anchor], lat, lon), np.nan)
    bounds = np.empty(2 * starts.size, dtype=np.intp)
    bounds[0::2], bounds[1::2] = starts, ends + 1
    reach = np.fmax.reduceat(np.append(away, np.nan), bounds)[0::2]
    max_speed = np.fmax.reduceat(np.append(speed, np.nan), bounds)[0::2]
    ignition_runs = np.add.reduceat(np.append(by_ignition, False).astype(np.intp), bounds)[0::2] > 0

    distance = _with_odometer(frame, time, starts, ends, gps_m, thresholds)
    duration = time[ends] - time[starts]
    rows = zip(
        time[starts].tolist(), time[ends].tolist(), has_fix.tolist(), first_fix.tolist(),
        last_fix.tolist(), distance.tolist(), duration.tolist(), max_speed.tolist(),
        (ends - starts + 1).tolist(), ignition_runs.tolist(), reach.tolist(), ongoing.tolist(),
        strict=True,
    )
    journeys = []
    for start_t, end_t, located, first, last, metres, seconds, top, count, ignition, reach_m, open_ in rows:
        journeys.append(
            Journey(
                start_time=start_t,
                end_time=end_t,
                start_lat=float(lat[first]) if located else None,
                start_lon=float(lon[first]) if located else None,
                end_lat=float(lat[last]) if located else None,
                end_lon=float(lon[last]) if located else None,
                distance_m=metres,
                duration_s=seconds,
                max_speed_kmh=None if np.isnan(top) else top,
                avg_speed_kmh=metres / seconds * 3.6 if seconds > 0 else None,
                records=count,
                detected_by="ignition" if ignition else "motion",
                reach_m=None if np.isnan(reach_m) else reach_m,
                ongoing=open_,
            )
        )
    return journeys


def _set_off_fix(
    time: NDArray[np.float64], fix: NDArray[np.bool_], starts: NDArray[np.intp], thresholds: Thresholds
) -> NDArray[np.intp]:
    """Index of the last valid fix before each run, or -1 when none lies within the stop gap."""
    before = np.concatenate(([-1], previous_index(fix)[:-1]))[starts]
    recent = (before >= 0) & (time[starts] - time[np.maximum(before, 0)] <= thresholds.journey_stop_gap_s)
    return np.where(recent, before, -1)


def _with_odometer(
    frame: pd.DataFrame,
    time: NDArray[np.float64],
    starts: NDArray[np.intp],
    ends: NDArray[np.intp],
    gps_m: NDArray[np.float64],
    thresholds: Thresholds,
) -> NDArray[np.float64]:
    """The odometer delta of each run where it is trustworthy (see the module docstring), else GPS."""
    odometer = frame["odometer_m"].to_numpy(dtype=np.float64)
    delta = odometer[ends] - odometer[starts]  # NaN unless read at both ends
    limit = thresholds.max_plausible_speed_kmh / 3.6 * (time[ends] - time[starts])
    trusted = (ends > starts) & (delta >= 0.0) & (delta <= limit) & (delta >= 0.5 * gps_m)
    return np.where(trusted, delta, gps_m)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
