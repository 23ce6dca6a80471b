"""The engine on a real SQLite store: raise, update, clear, survive a restart, sweep, self-check."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from protocols.record import Record, iso_utc
from telediag.config import Thresholds
from telediag.diagnostics.catalogue import CHECK_IDS
from telediag.diagnostics.engine import DiagnosticsEngine, UnknownDevice, parse_param_answer
from telediag.store.writer import RecordBatch, Store
from tests.stores import database_at

IMEI = "356307042441013"
START = 1_790_000_000.0


def healthy(at: float, **values: Any) -> Record:
    fields: dict[str, Any] = dict(
        imei=IMEI, protocol="teltonika", fix_time=at, valid=True, lat=52.23, lon=21.01, speed_kmh=40.0,
        satellites=10, hdop=0.8, ignition=True, motion=True, ext_voltage_v=13.9, battery_voltage_v=4.1,
        gsm_signal_pct=80, operator=26001, roaming=False,
    )
    fields.update(values)
    return Record(**fields)


def send(store: Store, start: float, count: int, **values: Any) -> None:
    for i in range(count):
        at = start + 60 * i
        store.commit([RecordBatch(IMEI, "teltonika", [healthy(at, **values)], at + 2)])


def test_finding_is_raised_updated_cleared_and_survives_a_restart(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "telediag.sqlite3"
    send(store, START, 5, ext_voltage_v=0.0)
    engine = DiagnosticsEngine(database_at(path), Thresholds())
    raised = engine.check_device(IMEI, START + 300)
    assert [(t.kind, t.finding.code) for t in raised] == [("raised", "EXTERNAL_POWER_LOST")]
    updated = engine.check_device(IMEI, START + 360)
    assert [(t.kind, t.finding.count) for t in updated] == [("updated", 2)]
    engine.close()

    restarted = DiagnosticsEngine(database_at(path), Thresholds())
    [active] = restarted.findings()
    assert active["code"] == "EXTERNAL_POWER_LOST" and active["team"] == "technical" and active["count"] == 2
    assert active["first_seen"] == iso_utc(START + 300) and "fuse" in active["hint"]
    send(store, START + 600, 1)
    cleared = restarted.check_device(IMEI, START + 700)
    assert [(t.kind, t.finding.code) for t in cleared] == [("cleared", "EXTERNAL_POWER_LOST")]
    assert restarted.findings() == []
    [history] = restarted.findings(active=False)
    assert history["cleared_at"] is not None and history["active"] is False
    restarted.close()


def test_sweep_notices_silence_without_new_data(store: Store, tmp_path: Path) -> None:
    send(store, START, 3)
    store.commit((), flush_state=True)
    engine = DiagnosticsEngine(database_at(tmp_path / "telediag.sqlite3"), Thresholds())
    assert engine.sweep(START + 600) == []
    silent = engine.sweep(START + 3 * 3600)
    assert [t.finding.code for t in silent] == ["DEVICE_SILENT"]
    assert silent[0].finding.evidence["silent_for_s"] > 1800
    engine.close()


def test_selfcheck_has_every_check_in_order_and_a_fix(store: Store, tmp_path: Path) -> None:
    send(store, START, 12, valid=False, lat=None, lon=None, satellites=0)
    store.commit((), flush_state=True)
    engine = DiagnosticsEngine(database_at(tmp_path / "telediag.sqlite3"), Thresholds())
    result = engine.selfcheck(IMEI, START + 800)
    assert [check["id"] for check in result["checks"]] == list(CHECK_IDS)
    assert result["overall"] == "problem"
    gnss = next(check for check in result["checks"] if check["id"] == "gnss")
    assert gnss["status"] == "fail" and gnss["finding"] == "GPS_NO_FIX" and "antenna" in gnss["hint"]
    power = next(check for check in result["checks"] if check["id"] == "power")
    assert power["status"] == "ok" and power["finding"] is None
    with pytest.raises(UnknownDevice):
        engine.selfcheck("000000000000000", START)
    engine.close()


def test_device_reported_apn_is_kept_as_evidence_and_compared(store: Store, tmp_path: Path) -> None:
    send(store, START, 3)
    engine = DiagnosticsEngine(database_at(tmp_path / "telediag.sqlite3"), Thresholds())
    assert engine.wanted_queries([IMEI], START + 200) == [(IMEI, "getparam 2001")]
    engine.store_answer(IMEI, "getparam 2001", "Param ID:2001 Value:internet", START + 200)
    assert engine.wanted_queries([IMEI], START + 300) == []
    [raised] = engine.check_device(IMEI, START + 300)
    assert raised.finding.code == "APN_MISCONFIGURED"
    assert raised.finding.evidence["reported_apn"] == "internet"
    assert "setparam 2001:fleet.example" in engine.findings()[0]["hint"]
    engine.close()


def test_param_answers_are_parsed_strictly() -> None:
    assert parse_param_answer("Param ID:2001 Value:internet.gprs", "2001") == "internet.gprs"
    assert parse_param_answer("Param ID:2001 New Val:iot", "2001") == "iot"
    assert parse_param_answer("Param ID:2002 Value:user", "2001") is None
    assert parse_param_answer("Unknown command", "2001") is None


def test_close_releases_the_callers_and_ended_threads_connections_only(store: Store, tmp_path: Path) -> None:
    engine = DiagnosticsEngine(database_at(tmp_path / "telediag.sqlite3"), Thresholds())
    engine.findings()  # this thread's connection
    ended = threading.Thread(target=engine.findings)  # an API reader thread that has been joined
    ended.start()
    ended.join()
    release, busy = threading.Event(), threading.Event()

    def running() -> None:
        engine.findings()
        busy.set()
        release.wait(5)
        engine.findings()  # still usable: nobody closed it under this thread

    live = threading.Thread(target=running)
    live.start()
    busy.wait(5)
    assert engine.open_connections == 3
    engine.close()
    assert engine.open_connections == 1  # the live thread's stays
    release.set()
    live.join()
    engine.findings()  # the caller opens a new one when it needs it again
    engine.close()
    assert engine.open_connections == 0
