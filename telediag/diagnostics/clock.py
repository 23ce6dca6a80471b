"""Whether a tracker's clock jumped, judged on its latest records in the order they arrived.

A reset real-time clock (back to 2000-01-01 or the GPS epoch 1980-01-06) or a GPS week rollover
(1024 weeks back) dates every record after it far before the data already received, while the
records keep arriving on time. A buffered backlog is far behind its arrival too, but it is not a
clock fault: its fix times continue where the data left off and advance faster than they arrive
(it catches up), or, sent newest first, walk steadily backwards through the gap.

Pure: the records and the device's latest fix time in, a :class:`ClockJump` or None out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from telediag.config import Thresholds

GPS_EPOCH = 315_964_800.0
"""1980-01-06T00:00:00Z, where GPS time starts (and where a GPS receiver without almanac restarts)."""
WEEK_ROLLOVER_S = 1024 * 7 * 86400.0
"""The 10-bit GPS week number wraps every 1024 weeks: a receiver that misses it dates fixes 19.6 years back."""
RESET_EPOCHS = (0.0, GPS_EPOCH, 946_684_800.0)
"""Where reset clocks start: 1970-01-01 (Unix), 1980-01-06 (GPS), 2000-01-01 (most RTC chips)."""
_NEAR_EPOCH_S = 366 * 86400.0
_NEAR_ROLLOVER_S = 2 * 86400.0

Row = dict[str, Any]


@dataclass(frozen=True)
class ClockJump:
    """A trailing run of records whose clock is wrong."""

    run: list[Row]
    """The records, oldest arrival first."""
    jump_s: float
    """Fix time of the run's first record minus the latest good fix time before it (negative: back)."""
    cause: str
    """``gps_week_rollover``, ``rtc_reset``, ``clock_ahead`` or ``clock_jump``."""


def arrival_order(records: Iterable[Row]) -> list[Row]:
    """Records oldest arrival first (ties keep their order), whatever order the snapshot holds them in."""
    return sorted(records, key=lambda r: r["server_time"])


def likely_cause(fix_time: float, arrived: float, future_tolerance_s: float) -> str:
    """What most likely moved this clock, from where the wrong time lies."""
    offset = fix_time - arrived
    if offset > future_tolerance_s:
        return "clock_ahead"
    if any(abs(offset + k * WEEK_ROLLOVER_S) <= _NEAR_ROLLOVER_S for k in (1, 2)):
        return "gps_week_rollover"
    if any(0 <= fix_time - epoch <= _NEAR_EPOCH_S for epoch in RESET_EPOCHS):
        return "rtc_reset"
    return "clock_jump"


def _backlog(run: Sequence[Row], back: bool, t: Thresholds) -> bool:
    """A buffered backlog: sent newest first (fix times fall steadily through the gap), or, when it is
    not dated before earlier data, catching up (fix times rise faster than the records arrive)."""
    if any(r["fix_time"] - r["server_time"] > t.clock_future_tolerance_s for r in run):
        return False
    fixes: list[float] = [r["fix_time"] for r in run]
    steps = list(zip(fixes, fixes[1:], strict=False))
    if steps and all(later < earlier for earlier, later in steps):
        return True
    if back or any(later < earlier for earlier, later in steps):
        return False
    fix_span = fixes[-1] - fixes[0]
    arrival_span: float = run[-1]["server_time"] - run[0]["server_time"]
    return fix_span > 0 and fix_span >= t.clock_catch_up_rate * arrival_span


def clock_jump(recent: Iterable[Row], latest_fix: float | None, now: float, t: Thresholds) -> ClockJump | None:
    """The trailing run of arrivals dated far before earlier data (or ahead of their arrival, or far
    behind it right after records that were on time), unless it is a backlog.

    ``latest_fix`` is the latest fix time the device ever sent (``device_state.last_fix_time``): it
    keeps a clock that jumped back recognised after the good records have left the recent window. A
    latest fix lying in the future is itself a wrong clock and is not trusted.
    """
    high = latest_fix if latest_fix is not None and latest_fix <= now + t.clock_future_tolerance_s else None
    anchor: float | None = high
    """The latest good fix time before the current run."""
    last_good: Row | None = None
    run: list[Row] = []
    run_anchor: float | None = None
    run_back = False
    for record in arrival_order(recent):
        fix, arrived = record["fix_time"], record["server_time"]
        ahead = fix - arrived > t.clock_future_tolerance_s
        back = high is not None and high - fix > t.clock_jump_s
        late = (arrived - fix > t.clock_jump_s and last_good is not None
                and last_good["server_time"] - last_good["fix_time"] <= t.delay_threshold_s)
        if ahead or back or late:
            if not run:
                run_anchor, run_back = anchor, False
            run.append(record)
            run_back = run_back or back
            continue
        run = []
        last_good = record
        high = fix if high is None else max(high, fix)
        anchor = fix
    if len(run) < max(1, t.clock_jump_min_records):
        return None
    if _backlog(run, run_back, t):
        return None
    first = run[0]
    reference = run_anchor if run_anchor is not None else first["server_time"]
    latest = run[-1]
    return ClockJump(run=run, jump_s=first["fix_time"] - reference,
                     cause=likely_cause(latest["fix_time"], latest["server_time"], t.clock_future_tolerance_s))
