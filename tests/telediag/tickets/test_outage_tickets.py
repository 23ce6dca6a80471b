"""Outages in the store, on both backends: the network's rejects become one P1 parent within one ticket
run; a fleet registered a moment ago, a restart and rejects spread over hours do not; the self-check of
a device in the outage says so; the outage resolves when the network accepts the devices again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocols.record import Record, iso_utc, parse_iso_utc
from telediag.config import SlaConfig, Thresholds, TicketsConfig
from telediag.diagnostics import checks
from telediag.diagnostics.connectivity_events import ConnectivityEvent
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.selfcheck import build_selfcheck, translate_selfcheck
from telediag.languages import catalogue
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.connectivity import save_events
from telediag.store.writer import RecordBatch, Store
from telediag.tickets import repository as repo
from telediag.tickets.desk import TicketDesk
from telediag.tickets.outage_lookup import active_outage
from tests.stores import database_at

NOW = parse_iso_utc("2026-11-16T07:00:00Z")  # Monday 10:00 in Moscow
MINUTE = 60.0
HOUR = 3600.0
DEVICES = 12
IMEIS = [f"35000000001{i:04d}" for i in range(DEVICES)]


def iccid(i: int) -> str:
    return f"89480000000000{i:05d}"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(database_at(tmp_path / "telediag.sqlite3"))
    yield store
    store.close()


def register(store: Store, at: float, activated_at: float = NOW - 90 * 86400) -> None:
    save(store._db, [parse_entry({
        "imei": imei, "protocol": "teltonika", "account": f"Fleet {i % 4}", "iccid": iccid(i),
        "apn": f"fleet{i % 4}.example", "roaming": "true", "coverage": "domestic", "home_country": "PL",
        "activated_at": iso_utc(activated_at), "report_interval_s": "60",
    }) for i, imei in enumerate(IMEIS)], at, "import")


def reported(store: Store, imei: str, at: float, i: int) -> None:
    """One record from ``imei`` at ``at`` (spread over Poland: no two share an area)."""
    record = Record(imei=imei, protocol="teltonika", fix_time=at, valid=True, lat=49.5 + (i % 6),
                    lon=14.5 + (i // 6) * 3, operator=26003)
    store.commit([RecordBatch(imei, "teltonika", [record], at + 1)], flush_state=True)


def events(store: Store, kind: str, times: list[float], cause: int | None = 17) -> None:
    save_events(store._db, [
        ConnectivityEvent(at=at, type=kind, iccid=iccid(i), cause=cause if "reject" in kind else None,
                          mcc=260, mnc=3, rat="LTE-M")
        for i, at in enumerate(times)], times[-1])


def documents(db: Any) -> list[dict[str, Any]]:
    return [repo.document(db, ticket_id) for ticket_id in repo.list_ids(db, limit=10_000)]


def outages_of(db: Any) -> list[dict[str, Any]]:
    return [d for d in documents(db) if d["problem"] == "MASS_OUTAGE"]


def healthy_fleet(store: Store) -> None:
    register(store, NOW - 30 * 86400)
    for i, imei in enumerate(IMEIS):
        reported(store, imei, NOW - 10 * MINUTE, i)
    events(store, "attach", [NOW - HOUR + i for i in range(DEVICES)])


def test_rejects_of_twelve_devices_in_one_minute_make_one_p1_parent_with_children_and_the_onset(store: Store) -> None:
    healthy_fleet(store)
    first = NOW - MINUTE
    events(store, "attach_reject", [first + 5 * i for i in range(DEVICES)])
    desk, db = TicketDesk(SlaConfig(), TicketsConfig()), store._db
    touched = desk.on_findings(db, [], NOW)  # a ticket run after an event-driven check: no finding changed

    [parent] = outages_of(db)
    assert parent["id"] in touched
    assert (parent["priority"], parent["team"], parent["state"], parent["origin"]) == ("P1", "it", "new", "auto")
    assert "operator 26003 (PL)" in parent["title"] and "2026-11-16 06:59 UTC" in parent["title"]
    [own] = [f for f in parent["findings"] if f["code"] == "MASS_OUTAGE"]
    assert own["evidence"]["onset"] == iso_utc(first) and own["evidence"]["operator"] == "26003"
    assert own["evidence"]["devices"] == DEVICES and own["evidence"]["causes"] == {"17": DEVICES}
    assert sorted(parent["devices"]) == IMEIS and len(parent["children"]) == DEVICES
    children = [repo.document(db, child) for child in parent["children"]]
    assert {c["problem"] for c in children} == {"NETWORK_REJECTED"}
    assert {c["parent_id"] for c in children} == {parent["id"]}
    assert {c["team"] for c in children} == {"technical"}
    for child in children:
        [finding] = child["findings"]
        onset = iso_utc(first + 5 * IMEIS.index(child["devices"][0]))
        assert finding["evidence"]["onset"] == finding["first_seen"] == onset
    desk.on_findings(db, [], NOW + MINUTE)
    assert len(documents(db)) == DEVICES + 1  # correlating again changes nothing

    outage = active_outage(db, IMEIS[3])
    assert outage is not None
    assert (outage["ticket_id"], outage["kind"], outage["value"], outage["country"], outage["onset"]) == (
        parent["id"], "operator", "26003", "PL", iso_utc(first))
    engine = DiagnosticsEngine(store.database, Thresholds())
    try:
        snapshot = engine.snapshot(IMEIS[3], NOW + MINUTE)
        result = build_selfcheck(snapshot, checks.evaluate(snapshot, Thresholds()), {}, outage=outage)
    finally:
        engine.close()
    [line] = [c for c in result["checks"] if c["id"] == "connectivity"]
    assert (line["status"], line["finding"]) == ("fail", "MASS_OUTAGE")
    assert "mobile operator 26003 (PL) has an outage since 2026-11-16 06:59 UTC" in line["detail"]
    assert "not at fault" in line["detail"] and f"ticket {parent['id']}" in line["hint"]
    for language in ("pl", "ru", "sv"):
        said = [c for c in translate_selfcheck(result, catalogue(language))["checks"] if c["id"] == "connectivity"][0]
        assert said["detail"] != line["detail"] and "26003 (PL)" in said["detail"] and said["hint"] != line["hint"]

    # the network accepts them again: each child resolves, then the parent with the sweep
    events(store, "attach", [NOW + 5 * MINUTE + i for i in range(DEVICES)])
    desk.on_findings(db, [], NOW + 6 * MINUTE)
    assert {repo.document(db, child)["state"] for child in parent["children"]} == {"resolved"}
    assert active_outage(db, IMEIS[3]) is None
    assert desk.sweep(db, NOW + 7 * MINUTE)["outages_recovered"] == 1
    assert outages_of(db)[0]["state"] == "resolved"


def test_the_same_rejects_spread_over_hours_make_no_outage(store: Store) -> None:
    register(store, NOW - 30 * 86400)
    start = NOW - 11 * HOUR
    for i, imei in enumerate(IMEIS):
        reported(store, imei, start - 10 * MINUTE, i)
    events(store, "attach_reject", [start + 50 * MINUTE * i for i in range(DEVICES)])
    desk = TicketDesk(SlaConfig(), TicketsConfig())
    desk.on_findings(store._db, [], NOW)
    assert documents(store._db) == []


def test_a_fleet_registered_a_moment_ago_has_no_finding_and_no_outage_at_its_first_sweep(store: Store) -> None:
    register(store, NOW, activated_at=NOW - 21 * 86400)  # SIMs activated three weeks ago, moved to us now
    engine = DiagnosticsEngine(store.database, Thresholds())
    desk = TicketDesk(SlaConfig(), TicketsConfig())
    try:
        transitions = engine.sweep(NOW + MINUTE)
        assert {(t.kind, t.finding.code) for t in transitions} == {("raised", "ACTIVATION_PENDING")}
        desk.on_findings(store._db, transitions, NOW + MINUTE)
        assert documents(store._db) == []
        day_later = NOW + 25 * HOUR  # still nothing a day later: each device is late, together is no outage
        late = engine.sweep(day_later)
        assert {t.finding.code for t in late if t.kind == "raised"} == {"NO_DATA_AFTER_ACTIVATION"}
        desk.on_findings(store._db, late, day_later)
        found = documents(store._db)
        assert len(found) == DEVICES and not outages_of(store._db)
    finally:
        engine.close()


WITNESSES = [f"35000000002{i:04d}" for i in range(3)]
"""Devices on another operator: whether the service heard anyone while the others fell silent."""


@pytest.mark.parametrize("case", ["scattered", "restart", "outage"])
def test_a_restart_finding_devices_silent_since_long_ago_makes_an_outage_only_if_their_onsets_cluster(
    store: Store, case: str,
) -> None:
    """A first sweep finds twelve devices silent. Silent since scattered times: no outage. Silent since the
    moment the service stopped (nobody was heard until it started again): no outage. Silent since one
    moment while others kept reporting: an outage, from the last records before the silence."""
    register(store, NOW - 30 * 86400)
    save(store._db, [parse_entry({"imei": imei, "protocol": "teltonika", "account": "Other", "home_country": "PL"})
                     for imei in WITNESSES], NOW - 30 * 86400, "import")
    stopped = NOW - 3 * HOUR
    for i, imei in enumerate(IMEIS):
        reported(store, imei, stopped + 10 * i if case != "scattered" else NOW - 11 * HOUR + 50 * MINUTE * i, i)
    witnessed = [stopped - MINUTE, NOW - 30] if case == "restart" else [stopped - MINUTE + 600 * k for k in range(19)]
    for at in witnessed:
        for imei in WITNESSES:
            record = Record(imei=imei, protocol="teltonika", fix_time=at, valid=True, lat=52.2, lon=21.0,
                            operator=26001)
            store.commit([RecordBatch(imei, "teltonika", [record], at + 1)], flush_state=True)
    engine = DiagnosticsEngine(store.database, Thresholds())
    desk = TicketDesk(SlaConfig(), TicketsConfig())
    try:
        transitions = engine.sweep(NOW)  # the first sweep after a restart: every device silent at once
    finally:
        engine.close()
    assert {(t.finding.imei, t.finding.code) for t in transitions} == {(imei, "DEVICE_SILENT") for imei in IMEIS}
    desk.on_findings(store._db, transitions, NOW)
    parents = outages_of(store._db)
    if case == "outage":
        [parent] = parents
        [own] = [f for f in parent["findings"] if f["code"] == "MASS_OUTAGE"]
        assert own["evidence"]["onset"] == iso_utc(stopped + 1)  # the last record before the silence
        assert len(parent["children"]) == DEVICES
    else:
        assert parents == []
        assert len(documents(store._db)) == DEVICES  # one ticket per silent device
