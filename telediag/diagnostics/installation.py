"""Installation faults visible in a device's history: how the ignition wire and sensors were fitted.

Each check takes the frame of :mod:`telediag.diagnostics.history` and returns the evidence of its
fault (a JSON-ready dict: plain numbers and strings, ISO 8601 times), or None when the data does not
show it. They are tuned so a healthy vehicle (ignition on only while it drives, parks with the
engine off) never trips one; see ``tests/telediag/test_installation.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from protocols.record import iso_utc
from telediag.config import Thresholds
from telediag.diagnostics.geodesy import haversine_m
from telediag.diagnostics.journeys import fix_steps, flag, movement_candidates, valid_fixes

PARKED_SPEED_KMH = 2.0
"""At or below this a vehicle stands (GNSS speed noise of a parked receiver stays under it)."""
PARKED_RADIUS_M = 200.0
"""A parked stretch ends when a fix lies further than this from where it began (drift stays well inside)."""
DRIVING_SPEED_KMH = 10.0
"""IGNITION_NOT_DETECTED only counts records this fast: clearly driving, not drift or creeping."""
MAX_EXAMPLES = 3


def ignition_always_on(frame: pd.DataFrame, thresholds: Thresholds) -> dict[str, Any] | None:
    """IGNITION_ALWAYS_ON: ignition never off, even through a long park at engine-off voltage.

    A running engine charges at 13.6-14.4 V, a parked one rests at 12.2-12.8 V; ignition that stays
    on through hours at rest voltage means the ignition wire sits on permanent +.
    """
    known, ignition = flag(frame, "ignition")
    if not known.any() or (known & ~ignition).any():
        return None
    best: dict[str, Any] | None = None
    best_span = 0.0
    time = frame["time"].to_numpy(dtype=np.float64)
    voltage = frame["ext_voltage_v"].to_numpy(dtype=np.float64)
    for first, last in _parked_stretches(frame, thresholds):
        span = time[last] - time[first]
        volts = voltage[first : last + 1]
        volts = volts[np.isfinite(volts)]
        if span < thresholds.parked_min_s or volts.size == 0 or not ignition[first : last + 1].any():
            continue
        median = float(np.median(volts))
        if median > thresholds.engine_off_voltage_v:
            continue
        if best is None or span > best_span:
            best_span = span
            best = {
                "parked_from": iso_utc(float(time[first])),
                "parked_until": iso_utc(float(time[last])),
                "parked_hours": round(float(span) / 3600.0, 2),
                "median_voltage_v": round(median, 2),
                "records": int(last - first + 1),
            }
    return best


def ignition_not_detected(frame: pd.DataFrame, thresholds: Thresholds) -> dict[str, Any] | None:
    """IGNITION_NOT_DETECTED: the vehicle clearly drives while the ignition input reads off.

    Only records with a valid fix, at least 10 km/h and a known ignition count; the distance is
    the sum of plausible fix-to-fix steps ending at those records.
    """
    known, ignition = flag(frame, "ignition")
    speed = frame["speed_kmh"].to_numpy(dtype=np.float64)
    driving = valid_fixes(frame) & known & (speed >= DRIVING_SPEED_KMH)
    count = int(driving.sum())
    if count == 0:
        return None
    steps, _ = fix_steps(frame, thresholds)
    distance = float(steps[driving].sum())
    off_share = float((driving & ~ignition).sum()) / count
    if distance < thresholds.ignition_off_driving_min_m or off_share < thresholds.ignition_off_driving_ratio:
        return None
    return {
        "distance_km": round(distance / 1000.0, 2),
        "moving_records": count,
        "ignition_off_share": round(off_share, 3),
    }


def journey_false_starts(frame: pd.DataFrame, thresholds: Thresholds) -> dict[str, Any] | None:
    """JOURNEY_FALSE_STARTS: movement starts (ignition or motion) that never get anywhere.

    A run counts when every fix in it stays within ``journey_min_distance_m`` of where it set off
    (its :attr:`Journey.reach_m`): GPS drift wanders without leaving the spot, so its path length
    can grow while its reach does not. Left out: a run without any fix (that is GPS_NO_FIX) and
    one still moving when the data ends (it may yet get somewhere).
    """
    spurious = [
        run
        for run in movement_candidates(frame, thresholds, source="any")
        if not run.ongoing
        and run.reach_m is not None
        and run.reach_m < thresholds.journey_min_distance_m
    ]
    if len(spurious) < thresholds.false_start_min:
        return None
    return {
        "count": len(spurious),
        "examples": [
            {
                "start": iso_utc(run.start_time),
                "duration_s": round(run.duration_s, 1),
                "distance_m": round(run.distance_m, 1),
                "reach_m": round(run.reach_m or 0.0, 1),
                "detected_by": run.detected_by,
            }
            for run in spurious[:MAX_EXAMPLES]
        ],
    }


def _parked_stretches(frame: pd.DataFrame, thresholds: Thresholds) -> list[tuple[int, int]]:
    """(first, last) record index of each stretch standing on one spot without a long data gap.

    Standing: speed known and at most 2 km/h, motion not reported. A stretch ends at a moving
    record, at a gap longer than ``journey_stop_gap_s`` (the vehicle may have left and come back),
    or at a fix more than ``PARKED_RADIUS_M`` from the stretch's first fix.
    """
    time = frame["time"].to_numpy(dtype=np.float64)
    speed = frame["speed_kmh"].to_numpy(dtype=np.float64)
    motion_known, motion = flag(frame, "motion")
    standing = (speed <= PARKED_SPEED_KMH) & ~(motion_known & motion)
    if not standing.any():
        return []
    gap = np.diff(time) > thresholds.journey_stop_gap_s
    starts = np.flatnonzero(standing & np.concatenate(([True], ~standing[:-1] | gap)))
    ends = np.flatnonzero(standing & np.concatenate((~standing[1:] | gap, [True])))
    lat = frame["lat"].to_numpy(dtype=np.float64)
    lon = frame["lon"].to_numpy(dtype=np.float64)
    fix = valid_fixes(frame)
    stretches: list[tuple[int, int]] = []
    for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
        stretches.extend(_split_by_radius(first, last, lat, lon, fix))
    return stretches


def _split_by_radius(
    first: int, last: int, lat: NDArray[np.float64], lon: NDArray[np.float64], fix: NDArray[np.bool_]
) -> list[tuple[int, int]]:
    """Cut ``[first, last]`` wherever a fix leaves ``PARKED_RADIUS_M`` around the current anchor."""
    pieces: list[tuple[int, int]] = []
    begin = first
    while begin <= last:
        located = np.flatnonzero(fix[begin : last + 1]) + begin
        if located.size == 0:
            pieces.append((begin, last))
            break
        anchor = located[0]
        away = located[haversine_m(lat[anchor], lon[anchor], lat[located], lon[located]) > PARKED_RADIUS_M]
        if away.size == 0:
            pieces.append((begin, last))
            break
        pieces.append((begin, int(away[0]) - 1))
        begin = int(away[0])
    return pieces
