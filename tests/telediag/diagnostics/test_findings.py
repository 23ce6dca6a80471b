"""Findings written from verdicts: raised, updated, cleared, and nothing written when nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from telediag.diagnostics.findings import active_findings, apply_verdicts
from tests.stores import database_at

IMEI = "356307042441013"
NOW = 1_790_000_000.0


def test_raised_updated_and_cleared(tmp_path: Path) -> None:
    db = database_at(tmp_path / "telediag.sqlite3").connect()
    try:
        raised = apply_verdicts(db, IMEI, {"GPS_NO_FIX": {"without_fix_share": 1.0}, "BATTERY_LOW": None}, NOW)
        assert [(t.kind, t.finding.code) for t in raised] == [("raised", "GPS_NO_FIX")]
        updated = apply_verdicts(db, IMEI, {"GPS_NO_FIX": {"without_fix_share": 0.9}}, NOW + 60)
        assert [(t.kind, t.finding.count) for t in updated] == [("updated", 2)]
        cleared = apply_verdicts(db, IMEI, {"GPS_NO_FIX": None, "BATTERY_LOW": None}, NOW + 120)
        assert [(t.kind, t.finding.cleared_at) for t in cleared] == [("cleared", NOW + 120)]
        assert active_findings(db, IMEI) == {}
    finally:
        db.close()


@pytest.mark.sqlite_only  # SQLite's one write lock: PostgreSQL has none to wait on
def test_verdicts_that_change_nothing_do_not_wait_for_the_writers_lock(tmp_path: Path) -> None:
    database = database_at(tmp_path / "telediag.sqlite3")
    db, writer = database.connect(), database.connect()
    try:
        apply_verdicts(db, IMEI, {"GPS_NO_FIX": {"without_fix_share": 1.0}}, NOW)
        writer.execute("BEGIN IMMEDIATE")  # the ingest writer in the middle of a commit
        assert apply_verdicts(db, IMEI, {"BATTERY_LOW": None, "LOW_GSM_SIGNAL": None}, NOW + 60) == []
        writer.execute("ROLLBACK")
        assert set(active_findings(db, IMEI)) == {"GPS_NO_FIX"}
    finally:
        db.close()
        writer.close()
