"""The vectorised time checks decide as the checks do, device by device, on a varied fleet; and the
sweep built on them raises, renews and clears as evaluating every device would."""

from __future__ import annotations

import itertools
from pathlib import Path

from protocols.record import iso_utc
from telediag.config import Thresholds
from telediag.diagnostics import checks
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.findings import list_findings
from telediag.diagnostics.fleet import TIME_CODES, device_time_verdicts, load_columns, time_verdicts
from telediag.diagnostics.snapshot import load_snapshot
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.writer import IngestError, RecordBatch, Store
from tests.stores import database_at
from tests.telediag.diagnostics.test_engine import healthy

NOW = 1_795_000_000.0
HOUR = 3600.0


def varied_fleet(store: Store) -> list[str]:
    """Every combination of activation, registration, report interval and last contact."""
    activations = (None, NOW - 2 * HOUR, NOW - 23.9 * HOUR, NOW - 3 * 24 * HOUR)
    registrations = (NOW - 30 * 24 * HOUR, NOW - 1 * HOUR)
    intervals = (None, "1", "60", "3600")
    contacts = (None, NOW - 60, NOW - 1799, NOW - 1801, NOW - 6 * HOUR, NOW - 30 * HOUR)
    imeis = []
    for n, (activated, registered, interval, contact) in enumerate(
        itertools.product(activations, registrations, intervals, contacts)
    ):
        imei = f"35000000{n:07d}"
        imeis.append(imei)
        row = {"imei": imei, "protocol": "teltonika", "account": "Acme",
               "activated_at": iso_utc(activated) if activated else "", "report_interval_s": interval or ""}
        save(store._db, [parse_entry(row)], registered, "import")
        store._db.execute("UPDATE devices SET registered_at = ? WHERE imei = ?", (registered, imei))
        if contact is not None:
            store.commit([RecordBatch(imei, "teltonika", [healthy(contact, imei=imei)], contact)], flush_state=True)
    stranger = "359999999999999"  # never registered, only sent bad frames
    store.commit([IngestError(stranger, "teltonika", "127.0.0.1:1", NOW - 60, "CRC", "00")], flush_state=True)
    unregistered = "359999999999998"  # never registered, reported (auto-registration off)
    store.commit([RecordBatch(unregistered, "teltonika", [healthy(NOW - 7200, imei=unregistered)], NOW - 7200)],
                 flush_state=True)
    store._db.execute("DELETE FROM devices WHERE imei = ?", (unregistered,))
    return [*imeis, stranger, unregistered]


def test_vectorised_time_checks_equal_the_checks_device_by_device(store: Store) -> None:
    imeis = varied_fleet(store)
    thresholds = Thresholds()
    columns = load_columns(store._db)
    assert sorted(columns.imei) == sorted({*imeis, "356307042441013"})
    verdicts = time_verdicts(columns, NOW, thresholds)
    outcomes = set()
    for position, imei in enumerate(columns.imei):
        snapshot = load_snapshot(store._db, imei, NOW, thresholds, with_history=False)
        expected = checks.check_activation(snapshot, thresholds)
        expected.update(checks.check_silence(snapshot, thresholds))
        for code in TIME_CODES:
            assert bool(verdicts.judged[code][position]) == (code in expected), (imei, code)
            assert bool(verdicts.present[code][position]) == (expected.get(code) is not None), (imei, code)
        assert device_time_verdicts(columns, position, NOW, thresholds) == expected, imei
        outcomes.add(tuple(sorted(code for code, evidence in expected.items() if evidence is not None)))
    assert outcomes >= {(), ("ACTIVATION_PENDING",), ("NO_DATA_AFTER_ACTIVATION",), ("DEVICE_SILENT",)}


def test_the_sweep_gives_the_time_findings_evaluating_every_device_gives(tmp_path: Path) -> None:
    stores = [Store(database_at(tmp_path / f"{name}.sqlite3")) for name in ("every", "sweep")]
    for store in stores:
        varied_fleet(store)
    thresholds = Thresholds(installation_interval_s=0.0)
    every, swept = (DiagnosticsEngine(store.database, thresholds) for store in stores)
    try:
        for now in (NOW, NOW + 10 * HOUR, NOW + 30 * HOUR):
            for imei in load_columns(stores[0]._db).imei:
                every.check_device(imei, now, with_history=False)
            swept.sweep(now)
            found = [{(f.imei, f.code, f.active, f.first_seen, f.cleared_at) for f in list_findings(s._db, active=None)
                      if f.code in TIME_CODES} for s in stores]
            assert found[0] and found[1] == found[0]
    finally:
        every.close()
        swept.close()
