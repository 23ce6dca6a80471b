"""Skipping devices whose verdicts cannot change finds the same findings as evaluating every device at
every commit: a fleet with every record-driven fault, played batch by batch through both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.faults import FAULTS
from simulators.scenario import simulate_fleet
from telediag.config import Thresholds
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.findings import list_findings
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.writer import IngestError, RecordBatch, Store
from tests.stores import database_at

START = 1_795_000_000.0
HOUR = 3600.0
RECORD_FAULTS = ("wrong_apn", "eu_coverage", "gps_antenna", "gps_poor", "power_cut", "battery_drain", "rtc_reset",
                 "backlog", "weak_signal", "protocol_garbage", "roaming_rejected")


def findings_of(store: Store) -> set[tuple[str, str, float]]:
    """(imei, code, first_seen) of every finding, active or cleared."""
    return {(f.imei, f.code, f.first_seen) for f in list_findings(store._db, active=None)}


@pytest.mark.slow
def test_gated_evaluation_finds_what_evaluating_every_commit_finds(tmp_path: Path) -> None:
    assert set(RECORD_FAULTS) <= set(FAULTS)
    fleet = simulate_fleet(len(RECORD_FAULTS) + 4, START, 3 * HOUR, 60.0, seed=3,
                           faults={name: 1 for name in RECORD_FAULTS})
    stores = [Store(database_at(tmp_path / f"{name}.sqlite3")) for name in ("every", "gated")]
    engines = [DiagnosticsEngine(store.database, Thresholds()) for store in stores]
    every, gated = engines
    try:
        for store in stores:
            save(store._db, [parse_entry(s.registry_row) for s in fleet], START - HOUR, "import")
        arrivals = sorted(
            [(at, s.imei, records) for s in fleet for at, records in s.batches]
            + [(at, s.imei, None) for s in fleet for at in s.protocol_errors], key=lambda a: (a[0], a[1]),
        )
        skipped = 0
        for at, imei, records in arrivals:
            change = (RecordBatch(imei, "teltonika", records, at) if records is not None
                      else IngestError(imei, "teltonika", "127.0.0.1:1", at, "CRC mismatch", "00"))
            for store in stores:
                store.commit([change], flush_state=True)
            every.check_device(imei, at + 1, with_history=False)
            if isinstance(change, RecordBatch):
                before = gated.skipped
                gated.check_devices(sorted(gated.fold([change])), at + 1)
                skipped += gated.skipped - before
            else:
                gated.check_devices([imei], at + 1)
        raised = findings_of(stores[0])
        assert {code for _, code, _ in raised} >= {"EXTERNAL_POWER_LOST", "GPS_NO_FIX", "LOW_GSM_SIGNAL"}
        assert findings_of(stores[1]) == raised
        healthy = sum(len(s.batches) for s in fleet if s.fault is None)
        assert skipped >= healthy - 4 * 2  # a healthy device is evaluated only until its window is known
    finally:
        for engine in engines:
            engine.close()
        for store in stores:
            store.close()


def test_batches_already_in_the_snapshot_a_track_was_rebuilt_from_are_not_folded_again() -> None:
    from protocols.record import Record
    from telediag.diagnostics.rolling import RollingState

    imei = "356307042441013"

    def fix(at: float) -> Record:
        return Record(imei=imei, protocol="teltonika", fix_time=at, valid=True, lat=52.23, lon=21.01, satellites=9,
                      hdop=1.0, ext_voltage_v=13.9, battery_voltage_v=4.1, gsm_signal_pct=80)

    def row(at: float, arrived: float) -> dict[str, object]:
        return {"fix_time": at, "server_time": arrived, "valid": 1, "lat": 52.23, "lon": 21.01, "satellites": 9,
                "hdop": 1.0, "ext_voltage_v": 13.9, "battery_voltage_v": 4.1, "gsm_signal_pct": 80}

    rolling = RollingState(Thresholds())
    # committed one a second; the run that evaluates the device reads the store after the third commit,
    # while the batches of the second and third still wait to be folded
    arrivals = [START + n for n in range(3)]
    rolling.rebuild(imei, [row(at - 5, at) for at in reversed(arrivals)], extra=False)
    waiting = [(imei, at, [fix(at - 5)]) for at in arrivals[1:]]
    assert rolling.fold(waiting).evaluate == set()  # quiet: not a clock jumping back
    later = START + 3
    assert rolling.fold([(imei, later, [fix(later - 5)])]).evaluate == set()
    assert rolling.fold([(imei, later + 1, [fix(START - 60)])]).evaluate == {imei}  # a new one jumping back is seen


def test_records_committed_elsewhere_are_read_back_and_a_long_backlog_is_evaluated_from_the_store(
        tmp_path: Path) -> None:
    from protocols.record import Record

    imei = "356307042441013"
    store = Store(database_at(tmp_path / "telediag.sqlite3"))
    engine = DiagnosticsEngine(store.database, Thresholds())
    window = engine.thresholds.recent_records

    def commit(first: float, count: int) -> float:
        records = [Record(imei=imei, protocol="teltonika", fix_time=first + n, valid=True, lat=52.23, lon=21.01,
                          satellites=9, hdop=1.0, ext_voltage_v=13.9, battery_voltage_v=4.1) for n in range(count)]
        for n, record in enumerate(records):
            store.commit([RecordBatch(imei, "teltonika", [record], first + n + 2)], flush_state=True)
        return first + count + 1

    try:
        save(store._db, [parse_entry({"imei": imei, "protocol": "teltonika"})], START - HOUR, "import")
        arrived = commit(START, 3)
        engine.check_device(imei, arrived + 1, with_history=False)  # the window is known here from now on
        assert engine.rolling.arrived(imei) == arrived
        arrived = commit(START + 10, 2)  # two more, committed by an ingest worker
        assert engine.fold([], [imei]) == set()  # read back, folded, nothing to evaluate
        assert engine.rolling.arrived(imei) == arrived
        commit(START + 20, window + 1)  # more than a window since: the store's window is read instead
        assert engine.fold([], [imei]) == {imei}
        assert engine.rolling.arrived(imei) is None
    finally:
        engine.close()
        store.close()


@pytest.mark.sqlite_only  # a text in a REAL column: SQLite stores it, PostgreSQL refuses it
def test_a_row_that_cannot_be_folded_sends_its_device_to_the_store_and_spares_the_others(tmp_path: Path) -> None:
    from protocols.record import Record

    good, bad = "356307042441013", "356307042441021"
    store = Store(database_at(tmp_path / "telediag.sqlite3"))
    engine = DiagnosticsEngine(store.database, Thresholds())
    try:
        save(store._db, [parse_entry({"imei": imei, "protocol": "teltonika"}) for imei in (good, bad)],
             START - HOUR, "import")
        for imei in (good, bad):
            record = Record(imei=imei, protocol="teltonika", fix_time=START, valid=True, lat=52.23, lon=21.01,
                            satellites=9, hdop=1.0, ext_voltage_v=13.9, battery_voltage_v=4.1)
            store.commit([RecordBatch(imei, "teltonika", [record], START + 1)], flush_state=True)
            engine.check_device(imei, START + 2, with_history=False)
            later = Record(imei=imei, protocol="teltonika", fix_time=START + 10, valid=True, lat=52.23, lon=21.01,
                           satellites=9, hdop=1.0, ext_voltage_v=13.9, battery_voltage_v=4.1)
            store.commit([RecordBatch(imei, "teltonika", [later], START + 11)], flush_state=True)
        store._db.execute("UPDATE records SET lat = 'north' WHERE imei = ? AND fix_time = ?", (bad, START + 10))
        assert engine.fold([], [good, bad]) == {bad}  # logged; the other device is folded as usual
        assert engine.rolling.arrived(good) == START + 11 and engine.rolling.arrived(bad) is None
    finally:
        engine.close()
        store.close()
