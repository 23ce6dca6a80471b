"""Each simulated fault gives its finding and self-check status, and only that; the finding clears
once the fault is gone; a healthy fleet over a simulated day raises nothing at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.faults import FAULTS
from simulators.scenario import DeviceScenario, simulate_device, simulate_fleet
from telediag.config import Thresholds
from telediag.diagnostics.catalogue import DEVICE_CODES, FINDINGS
from telediag.diagnostics.connectivity_events import parse_event
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.findings import list_findings
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.connectivity import save_events
from telediag.store.writer import IngestError, RecordBatch, Store
from tests.stores import database_at

START = 1_795_000_000.0  # a Tuesday in November 2026
HOUR = 3600.0
IMEI = "356307042441013"

EXPECTED: dict[str, set[str]] = {
    "activation_pending": {"ACTIVATION_PENDING"},
    "no_data_after_activation": {"NO_DATA_AFTER_ACTIVATION"},
    "silent": {"DEVICE_SILENT"},
    # never got a data session through since activation, so it has also never been heard from
    "wrong_apn": {"APN_MISCONFIGURED", "NO_DATA_AFTER_ACTIVATION"},
    # refused abroad, so nothing arrives: silence is the symptom, roaming the cause
    "roaming_rejected": {"ROAMING_REJECTED", "DEVICE_SILENT"},
    "eu_coverage": {"EU_COVERAGE_INACTIVE"},
    "gps_antenna": {"GPS_NO_FIX"},
    "gps_poor": {"GPS_POOR_QUALITY"},
    "ignition_permanent": {"IGNITION_ALWAYS_ON"},
    "ignition_unwired": {"IGNITION_NOT_DETECTED"},
    "motion_sensitive": {"JOURNEY_FALSE_STARTS"},
    "power_cut": {"EXTERNAL_POWER_LOST"},
    "battery_drain": {"BATTERY_LOW"},
    "rtc_reset": {"CLOCK_INVALID"},
    "backlog": {"DATA_DELAYED"},
    "weak_signal": {"LOW_GSM_SIGNAL"},
    "protocol_garbage": {"PROTOCOL_ERRORS"},
}
CHECKED_AFTER = {"activation_pending": 6 * HOUR}
"""When a fault is judged (default: after a simulated day); a pending activation only within its window."""


class Feed:
    """Plays scenarios into a real store up to a server time, as the ingest service would."""

    def __init__(self, store: Store, scenarios: list[DeviceScenario], registered_at: float = START) -> None:
        self.store = store
        self.scenarios = scenarios
        self.loaded_until = float("-inf")
        for scenario in scenarios:
            save(store._db, [parse_entry(scenario.registry_row)], registered_at, "import")

    def until(self, now: float) -> None:
        since, self.loaded_until = self.loaded_until, now
        changes: list = []
        for s in self.scenarios:
            changes += [RecordBatch(s.imei, "teltonika", records, at) for at, records in s.batches if since <= at < now]
            changes += [IngestError(s.imei, "teltonika", "127.0.0.1:5000", at, "CRC mismatch", "00ff")
                        for at in s.protocol_errors if since <= at < now]
            events = [parse_event(e) for e in s.events]
            save_events(self.store._db, [e for e in events if since <= e.at < now], now)
        self.store.commit(changes, flush_state=True)


def active_codes(engine: DiagnosticsEngine, imei: str) -> set[str]:
    return {f["code"] for f in engine.findings({imei})}


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    store = Store(database_at(tmp_path / "telediag.sqlite3"))
    yield store
    store.close()


def test_every_fault_has_an_expectation() -> None:
    assert set(EXPECTED) == set(FAULTS)
    assert set().union(*EXPECTED.values()) == set(DEVICE_CODES)


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_gives_its_finding_and_selfcheck_then_clears(fault: str, store: Store) -> None:
    checked_at = START + CHECKED_AFTER.get(fault, 24 * HOUR)
    fault_until = checked_at
    scenario = simulate_device(IMEI, fault, START, checked_at - START + 14 * HOUR, seed=3, fault_until=fault_until)
    feed = Feed(store, [scenario])
    engine = DiagnosticsEngine(store.database, Thresholds())
    try:
        feed.until(checked_at)
        engine.check_device(IMEI, checked_at)
        assert active_codes(engine, IMEI) == EXPECTED[fault]

        result = engine.selfcheck(IMEI, checked_at)
        checks = {check["id"]: check for check in result["checks"]}
        for code in EXPECTED[fault]:
            spec = FINDINGS[code]
            shown = checks[spec.check]
            assert shown["status"] in ("warn", "fail") and shown["hint"]
            if shown["finding"] == code:
                assert shown["status"] == spec.status
        assert any(checks[FINDINGS[code].check]["finding"] == code for code in EXPECTED[fault])
        assert result["overall"] in ("attention", "problem")

        recovered_at = fault_until + 13 * HOUR  # past every window that still holds the fault's data
        feed.until(recovered_at)
        engine.check_device(IMEI, recovered_at)
        assert active_codes(engine, IMEI) == set()
        cleared = {f.code for f in list_findings(store._db, {IMEI}, active=False)}
        assert EXPECTED[fault] <= cleared
        assert engine.selfcheck(IMEI, recovered_at)["overall"] == "ok"
    finally:
        engine.close()


@pytest.mark.longest
def test_healthy_fleet_over_a_simulated_day_raises_nothing(store: Store) -> None:
    fleet = simulate_fleet(200, START, 24 * HOUR, interval_s=60.0, seed=11)
    feed = Feed(store, fleet)
    engine = DiagnosticsEngine(store.database, Thresholds())
    try:
        for hours in (1, 5, 9, 13, 17, 21, 24):
            now = START + hours * HOUR
            feed.until(now)
            transitions = engine.sweep(now)
            assert [(t.finding.imei, t.finding.code) for t in transitions] == []
        assert store._db.execute("SELECT count(*) FROM records").fetchone()[0] > 200 * 1400
        assert list_findings(store._db, active=None) == []
    finally:
        engine.close()
