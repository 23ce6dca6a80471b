"""Times too absurd to store still tell the diagnosis that the tracker's clock is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from telediag.config import Thresholds
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.plausibility import Bounds, checked
from telediag.store.writer import RecordBatch, Store
from tests.stores import database_at
from tests.telediag.diagnostics.test_engine import IMEI, START, healthy

BOUNDS = Bounds()


def send_checked(store: Store, start: float, count: int, fix_offset_s: float | None = None,
                 fix_time: float | None = None) -> None:
    """Records through the plausibility rules, as the pipeline stores them, one a minute."""
    for i in range(count):
        at = start + 60 * i
        when = fix_time if fix_time is not None else at + (fix_offset_s or 0.0)
        record = checked(healthy(when), at + 2, BOUNDS)
        store.commit([RecordBatch(IMEI, "teltonika", [record], at + 2)])


@pytest.mark.parametrize("fix_time", [
    4_102_444_800.0,          # 2100-01-01: representable, implausible
    0.0,                      # 1970-01-01: the RTC never set
    0xFFFFFFFFFFFFFFFF / 1000,  # beyond any calendar
])
def test_a_device_sending_impossible_times_gets_clock_invalid(store: Store, tmp_path: Path, fix_time: float) -> None:
    send_checked(store, START, 10, fix_time=fix_time)
    engine = DiagnosticsEngine(database_at(tmp_path / "telediag.sqlite3"), Thresholds())
    now = START + 60 * 10
    raised = {t.finding.code: t.finding for t in engine.check_device(IMEI, now) if t.kind == "raised"}
    assert "CLOCK_INVALID" in raised
    evidence: dict[str, Any] = raised["CLOCK_INVALID"].evidence
    assert evidence["unusable_times"] == 10
    selfcheck = engine.selfcheck(IMEI, now)
    clock = next(c for c in selfcheck["checks"] if c["id"] == "clock")
    assert clock["status"] == "fail" and clock["finding"] == "CLOCK_INVALID"
    engine.close()


def test_clock_invalid_clears_once_the_device_sends_real_times_again(store: Store, tmp_path: Path) -> None:
    send_checked(store, START, 10, fix_time=0.0)
    engine = DiagnosticsEngine(database_at(tmp_path / "telediag.sqlite3"), Thresholds())
    assert any(t.finding.code == "CLOCK_INVALID" for t in engine.check_device(IMEI, START + 600))
    later = START + 2 * 3600  # the hour of absurd times is over; good records since
    send_checked(store, later, 10)
    cleared = [t for t in engine.check_device(IMEI, later + 600) if t.kind == "cleared"]
    assert [t.finding.code for t in cleared] == ["CLOCK_INVALID"]
    engine.close()


def test_one_absurd_record_among_good_ones_is_not_a_clock_fault(store: Store, tmp_path: Path) -> None:
    send_checked(store, START, 10)
    send_checked(store, START + 600, 1, fix_time=1e30)
    send_checked(store, START + 660, 5)
    engine = DiagnosticsEngine(database_at(tmp_path / "telediag.sqlite3"), Thresholds())
    assert not [t for t in engine.check_device(IMEI, START + 1000) if t.finding.code == "CLOCK_INVALID"]
    engine.close()
