"""Ticket automation and lifecycle on a real SQLite store with an explicit clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocols.record import Record, iso_utc, parse_iso_utc
from telediag.config import SlaConfig, TicketsConfig
from telediag.diagnostics.findings import Finding, Transition
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.writer import RecordBatch, Store
from telediag.tickets import repository as repo
from telediag.tickets.desk import TicketDesk
from telediag.tickets.model import TicketError
from tests.stores import database_at

MONDAY_10_MSK = parse_iso_utc("2026-11-16T07:00:00Z")  # Monday 10:00 in Moscow, a working day
HOUR = 3600.0
IMEI = "356307042441013"


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Any]:
    connection = database_at(tmp_path / "telediag.sqlite3").connect()
    save(connection, [parse_entry({"imei": IMEI, "protocol": "teltonika", "account": "Acme",
                                   "vehicle_plate": "WX 1234"})], MONDAY_10_MSK, "import")
    yield connection
    connection.close()


@pytest.fixture()
def desk() -> TicketDesk:
    return TicketDesk(SlaConfig(), TicketsConfig())


def transition(kind: str, code: str, at: float, imei: str = IMEI, count: int = 1) -> Transition:
    active = kind != "cleared"
    return Transition(kind, Finding(1, imei, code, active, at, at, count, {"note": "evidence"}, None if active else at))  # type: ignore[arg-type]


def tickets(db: Any, **filters: Any) -> list[dict[str, Any]]:
    return [repo.document(db, ticket_id) for ticket_id in repo.list_ids(db, **filters)]


def test_one_ticket_per_problem_while_the_fault_persists(db: Any, desk: TicketDesk) -> None:
    now = MONDAY_10_MSK
    desk.on_findings(db, [transition("raised", "EXTERNAL_POWER_LOST", now)], now)
    for minute in range(1, 30):
        desk.on_findings(db, [transition("updated", "EXTERNAL_POWER_LOST", now, count=minute + 1)], now + 60 * minute)
    [ticket] = tickets(db)
    assert (ticket["origin"], ticket["team"], ticket["state"], ticket["priority"]) == ("auto", "technical", "new", "P2")
    assert ticket["title"] == "The tracker has lost the vehicle's power: WX 1234"
    assert ticket["findings"][0]["count"] == 30 and ticket["devices"] == [IMEI]
    assert [entry["kind"] for entry in ticket["timeline"]] == ["created"]  # renewals update counts, not the timeline
    assert ticket["category"] == "system_problem" and ticket["topic"] == "remote_diagnostics"
    # remote diagnostics: 5 working days of 8.5 h from Monday 10:00 -> Monday 10:00 a week later
    assert ticket["sla"]["resolution_due"] == "2026-11-23T07:00:00.000Z"
    assert ticket["sla"]["first_response_due"] == "2026-11-17T07:00:00.000Z"


def test_informational_findings_never_open_tickets(db: Any, desk: TicketDesk) -> None:
    desk.on_findings(db, [transition("raised", "ACTIVATION_PENDING", MONDAY_10_MSK),
                          transition("raised", "LOW_GSM_SIGNAL", MONDAY_10_MSK)], MONDAY_10_MSK)
    assert tickets(db) == []


def test_auto_resolve_reopen_within_the_window_and_new_ticket_after_it(db: Any, desk: TicketDesk) -> None:
    now = MONDAY_10_MSK
    desk.on_findings(db, [transition("raised", "GPS_NO_FIX", now)], now)
    desk.on_findings(db, [transition("cleared", "GPS_NO_FIX", now + HOUR)], now + HOUR)
    [ticket] = tickets(db)
    assert ticket["state"] == "resolved" and ticket["timeline"][-1]["kind"] == "auto_resolved"
    desk.on_findings(db, [transition("raised", "GPS_NO_FIX", now + 2 * HOUR)], now + 2 * HOUR)
    [ticket] = tickets(db)
    assert ticket["state"] == "open" and ticket["timeline"][-1]["kind"] == "reopened"
    desk.on_findings(db, [transition("cleared", "GPS_NO_FIX", now + 3 * HOUR)], now + 3 * HOUR)
    later = now + 3 * HOUR + 8 * 86400  # past the 7-day reopen window
    desk.on_findings(db, [transition("raised", "GPS_NO_FIX", later)], later)
    assert [t["state"] for t in tickets(db)] == ["new", "resolved"]  # newest first: a fresh ticket


def test_resolved_ticket_closes_by_itself_after_24_hours(db: Any, desk: TicketDesk) -> None:
    now = MONDAY_10_MSK
    desk.on_findings(db, [transition("raised", "CLOCK_INVALID", now)], now)
    desk.on_findings(db, [transition("cleared", "CLOCK_INVALID", now + HOUR)], now + HOUR)
    assert desk.sweep(db, now + 24 * HOUR)["auto_closed"] == 0
    assert desk.sweep(db, now + 25 * HOUR)["auto_closed"] == 1
    [ticket] = tickets(db)
    assert ticket["state"] == "closed" and ticket["timeline"][-1]["kind"] == "auto_closed" and ticket["rating"] is None


def test_fifty_devices_silent_on_one_operator_make_one_p1_parent(tmp_path: Path, desk: TicketDesk) -> None:
    store = Store(database_at(tmp_path / "fleet.sqlite3"))
    now = MONDAY_10_MSK
    imeis = [f"35000000000{i:04d}" for i in range(50)]
    save(store._db, [parse_entry({"imei": imei, "protocol": "teltonika", "account": f"Fleet {i % 5}"})
                     for i, imei in enumerate(imeis)], now - 24 * HOUR, "import")
    for i, imei in enumerate(imeis):  # spread over Poland: no common area, APN unknown: only the operator is shared
        record = Record(imei=imei, protocol="teltonika", fix_time=now - HOUR, valid=True,
                        lat=49.5 + (i % 10) * 0.5, lon=14.5 + (i // 10) * 1.5, operator=26003)
        store.commit([RecordBatch(imei, "teltonika", [record], now - HOUR)], flush_state=True)
    witness = "350000000009999"  # another operator's tracker, heard all along: not the service's own silence
    for minute in range(0, 60, 5):
        record = Record(imei=witness, protocol="teltonika", fix_time=now - HOUR + 60 * minute, valid=True,
                        lat=52.2, lon=21.0, operator=26001)
        store.commit([RecordBatch(witness, "teltonika", [record], now - HOUR + 60 * minute)], flush_state=True)
    db = store._db
    for i, imei in enumerate(imeis):  # each silent since its one record, an hour ago: their onsets cluster
        evidence = f'{{"onset": "{iso_utc(now - HOUR)}"}}'
        db.execute("INSERT INTO findings (imei, code, first_seen, last_seen, evidence) "
                   "VALUES (?, 'DEVICE_SILENT', ?, ?, ?)", (imei, now + i, now + i, evidence))
    desk.on_findings(db, [transition("raised", "DEVICE_SILENT", now + i, imei) for i, imei in enumerate(imeis)],
                     now + 60)
    parents = tickets(db, topic="critical_server_failure")
    assert len(parents) == 1
    parent = parents[0]
    assert (parent["priority"], parent["team"], parent["problem"]) == ("P1", "it", "MASS_OUTAGE")
    assert len(parent["children"]) == 50 and sorted(parent["devices"]) == imeis
    children = [repo.document(db, child) for child in parent["children"]]
    assert {child["parent_id"] for child in children} == {parent["id"]}
    assert len(tickets(db)) == 51  # the parent and one ticket per device, not more
    desk.on_findings(db, [], now + 120)
    assert len(tickets(db)) == 51  # correlating again changes nothing

    desk.comment(db, parent["id"], "it#1", "The operator confirms an outage; fix expected by 14:00.", now + 300,
                 staff=True)
    assert repo.document(db, parent["children"][0])["timeline"][-1]["kind"] == "outage_update"
    desk.change_state(db, parent["id"], "resolved", "it#1", now + 600, "operator fixed it")
    assert {repo.document(db, child)["state"] for child in parent["children"]} == {"resolved"}
    store.close()


def test_customer_ticket_on_a_tracker_in_its_activation_window_is_answered(db: Any, desk: TicketDesk) -> None:
    now = MONDAY_10_MSK
    check = {"imei": IMEI, "overall": "attention", "checks": [
        {"id": "activation", "status": "warn", "finding": "ACTIVATION_PENDING", "hint": "Wait 12 to 24 hours.",
         "evidence": {"hours_since_activation": 6.0}}]}
    ticket_id = desk.file(db, origin="customer", by="customer#3", account="Acme", devices=[IMEI],
                          description="Nie widać pozycji na mapie", now=now,
                          selfcheck=lambda imei: check, findings=lambda imeis: [])
    ticket = repo.document(db, ticket_id)
    assert (ticket["category"], ticket["topic"], ticket["state"]) == ("how_to", "consultation", "waiting_customer")
    assert ticket["team"] == "customer_office" and ticket["language"] == "pl"
    assert ticket["sla"]["paused"] is True and ticket["sla"]["first_response_at"] is not None
    kinds = [entry["kind"] for entry in ticket["timeline"]]
    assert kinds == ["created", "selfcheck", "suggested_answer", "state"]
    assert "Wait 12 to 24 hours." in ticket["timeline"][2]["text"]
    desk.comment(db, ticket_id, "customer#3", "Still nothing after two days", now + 3 * HOUR, staff=False)
    reopened = repo.document(db, ticket_id)
    assert reopened["state"] == "open" and reopened["sla"]["paused"] is False
    # consultation: 5 working days; 3 business hours spent waiting push the due time by 3 business hours
    assert reopened["sla"]["resolution_due"] == "2026-11-23T10:00:00.000Z"


def test_lifecycle_rules_and_rating(db: Any, desk: TicketDesk) -> None:
    now = MONDAY_10_MSK
    ticket_id = desk.file(db, origin="customer", by="customer#3", account="Acme", devices=[IMEI],
                          description="The tracker does not work", now=now,
                          selfcheck=lambda imei: {"imei": imei, "overall": "ok", "checks": []},
                          findings=lambda imeis: [])
    with pytest.raises(TicketError):
        desk.change_state(db, ticket_id, "new", "technical#1", now)
    desk.change_state(db, ticket_id, "open", "technical#1", now + 60)
    desk.change_state(db, ticket_id, "resolved", "technical#1", now + 120)
    with pytest.raises(TicketError):
        desk.close(db, ticket_id, "customer#3", "bad", "", now + 180)
    desk.close(db, ticket_id, "customer#3", "bad", "it took too long", now + 180)
    ticket = repo.document(db, ticket_id)
    assert ticket["state"] == "closed" and ticket["rating"] == {"value": "bad", "reason": "it took too long"}
    assert ticket["quality_follow_up"] is True and ticket["timeline"][-1]["kind"] == "quality_follow_up"
    assert all(entry["by"] and entry["at"] for entry in ticket["timeline"])


def test_sla_breach_is_recorded_once(db: Any, desk: TicketDesk) -> None:
    now = MONDAY_10_MSK
    desk.on_findings(db, [transition("raised", "PROTOCOL_ERRORS", now)], now)
    assert desk.sweep(db, now + 20 * HOUR)["breached"] == 0
    assert desk.sweep(db, now + 25 * HOUR)["breached"] == 1  # first response (1 working day) missed
    assert desk.sweep(db, now + 26 * HOUR)["breached"] == 0
    [ticket] = tickets(db)
    assert ticket["sla"]["breached"] == ["first_response"]
    assert [e["kind"] for e in ticket["timeline"]].count("sla_breach") == 1


class CountingConnection:
    """The store's connection, counting the transactions begun on it."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.begun = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith("BEGIN"):
            self.begun += 1
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_the_renewals_of_one_call_are_written_in_one_transaction(db: Any, desk: TicketDesk) -> None:
    now = MONDAY_10_MSK
    imeis = [f"35630704244{i:04d}" for i in range(30)]
    counting = CountingConnection(db)
    desk.on_findings(counting, [transition("raised", "GPS_NO_FIX", now, imei) for imei in imeis], now)  # type: ignore[arg-type]
    assert counting.begun == 1 and len(tickets(db)) == 30
    counting.begun = 0
    renewals = [transition("updated", "GPS_NO_FIX", now, imei, count=2) for imei in imeis]
    desk.on_findings(counting, renewals, now + 60)  # type: ignore[arg-type]
    assert counting.begun == 1
    assert {t["findings"][0]["count"] for t in tickets(db)} == {2}
    counting.begun = 0
    desk.on_findings(counting, [], now + 120)  # type: ignore[arg-type]
    assert counting.begun == 0  # nothing to write, nothing to correlate


def test_a_failing_transition_is_undone_alone_and_the_others_of_its_call_are_kept(db: Any) -> None:
    now = MONDAY_10_MSK
    broken = "356307042449999"

    def notify(connection: Any, event: str, document: dict[str, Any], at: float) -> None:
        if broken in document["devices"]:
            raise ValueError("a subscriber could not take this ticket")

    desk = TicketDesk(SlaConfig(), TicketsConfig(), notify=notify)
    imeis = [f"35630704244{i:04d}" for i in range(5)]
    transitions = [transition("raised", "GPS_NO_FIX", now, imei) for imei in imeis[:2]]
    transitions += [transition("raised", "GPS_NO_FIX", now, broken)]
    transitions += [transition("raised", "GPS_NO_FIX", now, imei) for imei in imeis[2:]]
    touched = desk.on_findings(db, transitions, now)
    found = tickets(db)
    assert sorted(t["devices"][0] for t in found) == imeis and len(touched) == 5
    assert db.execute("SELECT count(*) FROM ticket_devices WHERE imei = ?", (broken,)).fetchone()[0] == 0
    desk.on_findings(db, [transition("updated", "GPS_NO_FIX", now, imei, count=3) for imei in imeis], now + 60)
    assert {t["findings"][0]["count"] for t in tickets(db)} == {3}
