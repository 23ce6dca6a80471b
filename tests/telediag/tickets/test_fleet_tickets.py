"""A simulated fleet with faults over a simulated day, swept every 30 minutes through diagnostics and
the ticket desk: exactly one ticket per problem, one parent for the outage, due times on the calendar."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from protocols.record import parse_iso_utc
from simulators.scenario import DeviceScenario, simulate_device
from telediag.app import build_desk
from telediag.config import Config, Thresholds
from telediag.diagnostics.catalogue import FINDINGS
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.store.writer import Store
from telediag.tickets import repository as repo
from tests.stores import database_at
from tests.telediag.diagnostics.test_faults_diagnosed import EXPECTED, Feed

START = parse_iso_utc("2026-11-17T06:00:00Z")  # Tuesday 09:00 in Moscow
HOUR = 3600.0
OUTAGE_AT = START + 12 * HOUR
FAULTS = sorted(set(EXPECTED) - {"activation_pending"})


def changed(scenarios: list[DeviceScenario], since: float, until: float) -> list[str]:
    """Devices that sent records or bad frames, or had network events, in [since, until)."""
    return sorted(s.imei for s in scenarios
                  if any(since <= at < until for at, _ in s.batches)
                  or any(since <= at < until for at in s.protocol_errors)
                  or any(since <= parse_iso_utc(e["at"]) < until for e in s.events))


@pytest.mark.longest
def test_fleet_with_faults_gives_one_ticket_per_problem_and_one_outage_parent(tmp_path: Path) -> None:
    scenarios = [simulate_device(f"3500100000{i:05d}", fault, START, 24 * HOUR, seed=i)
                 for i, fault in enumerate(FAULTS)]
    healthy = [simulate_device(f"3500200000{i:05d}", None, START, 24 * HOUR, seed=100 + i) for i in range(40)]
    apn = Counter(s.registry_row["apn"] for s in healthy).most_common(1)[0][0]
    outage = [s for s in healthy if s.registry_row["apn"] == apn][:10]
    assert len(outage) == 10
    for scenario in outage:  # their operator's data network fails at noon: nothing arrives any more
        scenario.batches[:] = [(at, records) for at, records in scenario.batches if at < OUTAGE_AT]
    store = Store(database_at(tmp_path / "telediag.sqlite3"))
    feed = Feed(store, scenarios + healthy, registered_at=START)
    engine = DiagnosticsEngine(store.database, Thresholds())
    desk = build_desk(Config())
    db = store._db
    raised: set[tuple[str, str]] = set()
    try:
        now = START
        while now < START + 24 * HOUR:
            since, now = now, now + 1800
            feed.until(now)  # as the service: the devices whose inputs changed, then the sweep
            transitions = engine.check_devices(changed(scenarios + healthy, since, now), now) + engine.sweep(now)
            raised |= {(t.finding.imei, t.finding.code) for t in transitions if t.kind == "raised"
                       and not FINDINGS[t.finding.code].informational}
            desk.on_findings(db, transitions, now)
            desk.sweep(db, now)
        documents = [repo.document(db, ticket_id) for ticket_id in repo.list_ids(db, limit=10_000)]
    finally:
        engine.close()
        store.close()

    parents = [d for d in documents if d["problem"] == "MASS_OUTAGE"]
    assert len(parents) == 1
    [parent] = parents
    outage_imeis = sorted(s.imei for s in outage)
    assert (parent["priority"], parent["team"], parent["state"]) == ("P1", "it", "new")
    assert sorted(parent["devices"]) == outage_imeis and len(parent["children"]) == 10

    per_problem = Counter((d["devices"][0], d["problem"]) for d in documents if d["problem"] != "MASS_OUTAGE")
    assert all(count == 1 for count in per_problem.values()), per_problem.most_common(3)
    assert set(per_problem) == raised  # every problem has its ticket, and nothing else has one
    for scenario in scenarios:
        wanted = {code for code in EXPECTED[scenario.fault] if not FINDINGS[code].informational}
        assert {code for imei, code in per_problem if imei == scenario.imei} == wanted, scenario.fault
    assert {code for imei, code in per_problem if imei in outage_imeis} == {"DEVICE_SILENT"}
    healthy_rest = {s.imei for s in healthy} - set(outage_imeis)
    assert not any(imei in healthy_rest for imei, _ in per_problem)

    power = next(d for d in documents if d["problem"] == "EXTERNAL_POWER_LOST")
    # raised at the first sweep, Tuesday 09:30 Moscow (opening time); a working day is 8.5 h, so the first
    # response (1 day) is due at Tuesday's closing, 18:00, and the resolution (remote diagnostics,
    # 5 days: Tue, Wed, Thu, Fri, Mon) at Monday 18:00
    assert power["created_at"] == "2026-11-17T06:30:00.000Z"
    assert power["sla"]["first_response_due"] == "2026-11-17T15:00:00.000Z"
    assert power["sla"]["resolution_due"] == "2026-11-23T15:00:00.000Z"
    assert "first_response" in power["sla"]["breached"]  # nobody answered within the working day
