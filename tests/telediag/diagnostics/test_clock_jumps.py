"""A clock that jumps back or ahead after good data is CLOCK_INVALID; a buffered backlog is DATA_DELAYED.

Hand-built snapshots in simulated time: ``recent`` holds the records newest arrival first, as the
snapshot reads them.
"""

from __future__ import annotations

import random
from typing import Any

from protocols.record import iso_utc
from telediag.diagnostics import checks
from telediag.diagnostics.clock import GPS_EPOCH, WEEK_ROLLOVER_S
from tests.telediag.diagnostics.test_checks import NOW, T, record, snapshot

DAY = 86400.0
YEAR_2000 = 946_684_800.0


def arrivals(fixes_and_arrivals: list[tuple[float, float]]) -> list[dict[str, Any]]:
    """Records from (fix time, arrival) pairs given oldest arrival first; returned newest arrival first."""
    rows = [dict(record(), fix_time=fix, server_time=arrived) for fix, arrived in fixes_and_arrivals]
    return rows[::-1]


def good_then(bad_fixes: list[float], good: int = 27) -> list[dict[str, Any]]:
    """``good`` records on time, one a minute, then records arriving on time with the given fix times."""
    start = NOW - 60 * (good + len(bad_fixes))
    pairs = [(start + 60 * i, start + 60 * i + 1) for i in range(good)]
    pairs += [(fix, start + 60 * (good + i) + 1) for i, fix in enumerate(bad_fixes)]
    return arrivals(pairs)


def latest_fix(recent: list[dict[str, Any]]) -> dict[str, Any]:
    """The device state the snapshot carries: the latest fix time the device ever sent (valid ones)."""
    on_time = [r["fix_time"] for r in recent if r["fix_time"] <= r["server_time"] + T.clock_future_tolerance_s]
    return {"last_fix_time": max(on_time)}


def verdicts(recent: list[dict[str, Any]], state: dict[str, Any] | None = None) -> dict[str, Any]:
    return checks.evaluate(snapshot(recent, state=state if state is not None else latest_fix(recent)), T)


def test_an_rtc_reset_after_good_data_is_clock_invalid_from_the_first_bad_arrivals() -> None:
    recent = good_then([YEAR_2000 + 60 * i for i in range(3)])  # 3 of the latest 10: no majority yet
    found = verdicts(recent)["CLOCK_INVALID"]
    assert found is not None
    assert found["likely_cause"] == "rtc_reset" and found["bad_records"] == 3
    assert found["jump_s"] < -20 * 365 * DAY
    first_bad = min(r["server_time"] for r in recent if r["fix_time"] < NOW - DAY)
    assert found["first_bad_arrival"] == iso_utc(first_bad) == found["onset"]
    assert found["reported_fix_time"].startswith("2000-01-01T00:02")


def test_a_gps_week_rollover_and_a_reset_to_the_gps_epoch_are_named() -> None:
    start = NOW - 60 * 30
    rollover = good_then([start + 60 * (27 + i) + 1 - WEEK_ROLLOVER_S for i in range(3)])
    assert verdicts(rollover)["CLOCK_INVALID"]["likely_cause"] == "gps_week_rollover"
    epoch = good_then([GPS_EPOCH + 60 * i for i in range(4)])
    assert verdicts(epoch)["CLOCK_INVALID"]["likely_cause"] == "rtc_reset"


def test_a_jump_back_of_days_is_caught_though_it_is_far_short_of_the_past_limit() -> None:
    start = NOW - 60 * 30
    recent = good_then([start + 60 * (27 + i) - 3 * DAY for i in range(3)])
    found = verdicts(recent)["CLOCK_INVALID"]
    assert found is not None and found["likely_cause"] == "clock_jump"
    assert round(found["jump_s"] / DAY) == -3
    assert "DATA_DELAYED" not in {code for code, evidence in verdicts(recent).items() if evidence}


def test_the_jump_stays_recognised_once_the_good_records_left_the_recent_window() -> None:
    last_good = NOW - 2 * 3600
    pairs = [(last_good - 3 * DAY + 60 * (i + 1), last_good + 60 * (i + 1)) for i in range(30)]
    recent = arrivals(pairs)
    found = verdicts(recent, state={"last_fix_time": last_good})["CLOCK_INVALID"]
    assert found is not None and found["bad_records"] == 30
    # without the device's latest fix time nothing says these records are out of place
    assert verdicts(recent, state={"last_fix_time": None})["CLOCK_INVALID"] is None


def test_a_clock_jumping_ahead_is_clock_invalid() -> None:
    start = NOW - 60 * 30
    recent = good_then([start + 60 * (27 + i) + 2 * DAY for i in range(3)])
    found = verdicts(recent)["CLOCK_INVALID"]
    assert found is not None and found["likely_cause"] == "clock_ahead" and found["jump_s"] > DAY


def test_one_odd_time_among_good_records_is_not_a_clock_fault() -> None:
    recent = good_then([YEAR_2000], good=20)
    start = NOW - 60 * 30
    recent = arrivals([(start + 60 * i, start + 60 * i + 1) for i in range(5)]) + recent  # good ones after it
    recent.sort(key=lambda r: -r["server_time"])
    assert verdicts(recent)["CLOCK_INVALID"] is None


def test_a_buffered_backlog_is_data_delayed_and_not_clock_invalid() -> None:
    offline_from = NOW - 2 * DAY
    live = [(offline_from - 60 * (10 - i), offline_from - 60 * (10 - i) + 1) for i in range(10)]
    backlog = [(offline_from + i * 2 * DAY / 20, NOW - 60 + 3 * i) for i in range(20)]  # catches up in a minute
    recent = arrivals(live + backlog)
    found = verdicts(recent)
    assert found["CLOCK_INVALID"] is None
    assert found["DATA_DELAYED"] is not None and found["DATA_DELAYED"]["left_out_invalid_clock"] == 0


def test_a_backlog_sent_newest_first_is_not_a_clock_fault() -> None:
    offline_from = NOW - 3 * DAY
    live = [(offline_from - 60 * (10 - i), offline_from - 60 * (10 - i) + 1) for i in range(10)]
    backlog = [(NOW - 60 - i * 3 * DAY / 20, NOW - 60 + 3 * i) for i in range(20)]  # newest first
    recent = arrivals(live + backlog)
    found = verdicts(recent, state={"last_fix_time": NOW - 60})
    assert found["CLOCK_INVALID"] is None and found["DATA_DELAYED"] is not None


def test_a_clock_stopped_while_powered_off_keeps_the_old_time_and_is_clock_invalid() -> None:
    off_at = NOW - 3 * DAY
    live = [(off_at - 60 * (10 - i), off_at - 60 * (10 - i) + 1) for i in range(10)]
    resumed = [(off_at + 60 * i, NOW - 60 * (5 - i)) for i in range(5)]  # ticking again from where it stopped
    found = verdicts(arrivals(live + resumed))["CLOCK_INVALID"]
    assert found is not None and found["bad_records"] == 5 and round(found["jump_s"]) == 60


def test_delay_leaves_out_records_with_a_jumped_clock_and_says_how_many() -> None:
    start = NOW - 60 * 30
    pairs = [(start + 60 * i - 7200, start + 60 * i) for i in range(27)]  # two hours late throughout
    pairs += [(YEAR_2000 + 60 * i, start + 60 * (27 + i)) for i in range(3)]
    recent = arrivals(pairs)
    found = verdicts(recent, state={"last_fix_time": start + 26 * 60 - 7200})
    assert found["CLOCK_INVALID"] is not None
    delayed = found["DATA_DELAYED"]
    assert delayed["left_out_invalid_clock"] == 3 and delayed["records"] == 27 and delayed["median_delay_s"] == 7200


def test_the_order_the_snapshot_holds_records_in_does_not_change_the_verdict() -> None:
    recent = good_then([YEAR_2000 + 60 * i for i in range(3)])
    shuffled = recent[:]
    random.Random(4).shuffle(shuffled)
    by_fix_time = sorted(recent, key=lambda r: -r["fix_time"])
    expected = verdicts(recent)["CLOCK_INVALID"]
    assert verdicts(shuffled)["CLOCK_INVALID"] == expected == verdicts(by_fix_time)["CLOCK_INVALID"]
