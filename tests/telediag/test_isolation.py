"""One device's unreadable data costs that device its turn, logged with its IMEI, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.logger import globalLogPublisher

from protocols.record import iso_utc
from telediag.app import build_desk
from telediag.config import Thresholds, parse_config
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.findings import Finding, Transition
from telediag.store.reader import Reader
from telediag.store.writer import RecordBatch, Store
from tests.stores import database_at
from tests.telediag.diagnostics.test_engine import START, healthy

GOOD, BAD = "356307042441013", "356307042441021"


@pytest.fixture()
def logged() -> Iterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def _messages(events: list[dict[str, Any]]) -> str:
    return " ".join(str(e.get("item", "")) + str(e.get("what", "")) for e in events)


def _store_with_two_powerless_devices(path: Path) -> None:
    store = Store(database_at(path))
    for imei in (GOOD, BAD):
        store.commit([RecordBatch(imei, "teltonika", [healthy(START, imei=imei, ext_voltage_v=0.0)], START + 2)])
    store.close()


def test_a_device_with_unreadable_findings_does_not_stop_the_sweep(tmp_path: Path, logged: list) -> None:
    path = tmp_path / "telediag.sqlite3"
    _store_with_two_powerless_devices(path)
    db = database_at(path).connect()
    db.execute("INSERT INTO findings (imei, code, first_seen, last_seen, evidence) "
               "VALUES (?, 'EXTERNAL_POWER_LOST', ?, ?, 'not json')", (BAD, START, START))
    db.close()
    engine = DiagnosticsEngine(database_at(path), Thresholds())
    transitions = engine.sweep(START + 60)
    engine.close()
    assert {(t.finding.imei, t.finding.code) for t in transitions if t.kind == "raised"} >= {
        (GOOD, "EXTERNAL_POWER_LOST")}
    assert all(t.finding.imei != BAD for t in transitions)
    assert f"device {BAD}" in _messages(logged)


def test_an_unreadable_record_is_skipped_in_listings(tmp_path: Path, logged: list) -> None:
    path = tmp_path / "telediag.sqlite3"
    _store_with_two_powerless_devices(path)
    db = database_at(path).connect()
    db.execute("UPDATE records SET attributes = '{broken' WHERE imei = ?", (BAD,))
    store = Store(database_at(path))
    store.commit([RecordBatch(BAD, "teltonika", [healthy(START + 60, imei=BAD)], START + 62)])
    store.close()
    db.close()
    reader = Reader(database_at(path))
    try:
        rows = list(reader.records(BAD))
    finally:
        reader.close()
    assert [r["fix_time"] for r in rows] == [iso_utc(START + 60)]
    assert f"device {BAD}" in _messages(logged)


def test_a_finding_the_desk_cannot_file_does_not_stop_the_others(tmp_path: Path, logged: list) -> None:
    path = tmp_path / "telediag.sqlite3"
    database_at(path).connect().close()
    desk = build_desk(parse_config({}))
    broken = Transition("raised", Finding(1, BAD, "NOT_A_CODE", True, START, START, 1, {}, None))
    fine = Transition("raised", Finding(2, GOOD, "EXTERNAL_POWER_LOST", True, START, START, 1, {}, None))
    db = database_at(path).connect()
    try:
        touched = desk.on_findings(db, [broken, fine], START)
        assert len(touched) == 1
        assert db.execute("SELECT count(*) FROM ticket_devices WHERE imei = ?", (GOOD,)).fetchone()[0] == 1
    finally:
        db.close()
    assert f"NOT_A_CODE of device {BAD}" in _messages(logged)
