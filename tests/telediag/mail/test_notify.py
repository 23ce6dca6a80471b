"""Notification rules on a real store (SQLite, or PostgreSQL in that run) with an explicit clock:
durations, quiet hours, digests of a mass outage, ticket events from the desk, staff without
personal data. What would be sent is read from the mail outbox; tests/telediag/mail/test_smtp.py
sends it to a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from telediag.config import SlaConfig, TicketsConfig
from telediag.diagnostics.findings import Transition, list_findings
from telediag.mail import outbox
from telediag.mail import rules as rule_store
from telediag.mail.notify import event_notifier
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.database import Connection, transaction
from telediag.tickets.desk import TicketDesk
from tests.stores import database_at
from tests.telediag.mail.fleet import (
    MONDAY_NOON_WARSAW,
    add_contact,
    add_rule,
    clear_finding,
    mass_outage,
    notifier,
    raise_finding,
    register,
)

HOUR = 3600.0


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Any]:
    connection = database_at(tmp_path / "telediag.sqlite3").connect()
    yield connection
    connection.close()


def queued(db: Connection) -> list[tuple[str, EmailMessage]]:
    """Every queued message (recipient, parsed), oldest first; marks them sent so the next call
    returns only new ones."""
    found = []
    for row in outbox.due(db, float("inf"), 1000):
        message = message_from_bytes(row.message, policy=default)
        assert isinstance(message, EmailMessage)
        found.append((row.recipient, message))
        outbox.mark_sent(db, row.id, 0.0)
    return found


def test_a_finding_that_lasts_past_the_rule_duration_is_told_once_in_the_rule_language(db: Connection) -> None:
    [imei, *_] = register(db)
    add_rule(db, codes=["DEVICE_SILENT"], min_duration_s=600, language="ru", recipients=["account"])
    rules = notifier()
    start = MONDAY_NOON_WARSAW
    raise_finding(db, imei, "DEVICE_SILENT", start)
    assert rules.sweep(db, start + 300) == 0  # not long enough yet
    raise_finding(db, imei, "DEVICE_SILENT", start + 300)  # renewed: still the same finding
    assert rules.sweep(db, start + 601) == 1
    [(recipient, message)] = queued(db)
    assert recipient == "fleet@acme.example" and message["To"] == "fleet@acme.example"
    assert message["Subject"] == "[telediag] Трекер перестал выходить на связь: WX 1234 (356307042441013)"
    assert "2026-11-16 12:00 (Europe/Warsaw)" in message.get_content()
    assert rules.sweep(db, start + 5 * HOUR) == 0 and queued(db) == []  # told once however long it lasts


def test_a_finding_cleared_before_the_duration_is_never_told(db: Connection) -> None:
    [imei, *_] = register(db)
    add_rule(db, codes=["GPS_NO_FIX"], min_duration_s=HOUR)
    raise_finding(db, imei, "GPS_NO_FIX", MONDAY_NOON_WARSAW)
    clear_finding(db, imei, "GPS_NO_FIX", MONDAY_NOON_WARSAW + 600)
    assert notifier().sweep(db, MONDAY_NOON_WARSAW + 2 * HOUR) == 0


def test_quiet_hours_hold_a_message_until_they_end(db: Connection) -> None:
    first, second, _ = register(db)
    add_rule(db, codes=["EXTERNAL_POWER_LOST"], quiet_hours="22:00-07:00", recipients=["account"])
    rules = notifier()
    evening = MONDAY_NOON_WARSAW + 10 * HOUR  # 22:00 in Warsaw
    raise_finding(db, first, "EXTERNAL_POWER_LOST", evening + 600)
    raise_finding(db, second, "EXTERNAL_POWER_LOST", evening + 1200)
    assert rules.sweep(db, evening + 1800) == 0
    clear_finding(db, second, "EXTERNAL_POWER_LOST", evening + 2 * HOUR)  # came back in the night: no news
    assert rules.sweep(db, evening + 8 * HOUR)  == 0  # 06:00: still quiet
    assert rules.sweep(db, evening + 9 * HOUR) == 1  # 07:00: the morning message, about what still holds
    [(_, message)] = queued(db)
    assert first in message["Subject"] and second not in message.get_content()


def test_a_mass_outage_is_one_digest_then_one_more_per_window(db: Connection) -> None:
    entries = [parse_entry({"imei": f"3563070400{n:05d}", "protocol": "teltonika", "account": "Acme",
                            "iccid": f"8948000000000000{n:03d}", "apn": "fleet.apn"}) for n in range(12)]
    save(db, entries, MONDAY_NOON_WARSAW - 86400, "import")
    db.execute("UPDATE accounts SET email = 'fleet@acme.example', home_country = 'PL'")
    add_rule(db, codes=["DEVICE_SILENT"], language="pl", recipients=["account"])
    desk = TicketDesk(SlaConfig(), TicketsConfig())
    rules = notifier(digest_window_s=600)
    start = MONDAY_NOON_WARSAW
    imeis = [entry.imei for entry in entries]
    for imei in imeis[:11]:
        raise_finding(db, imei, "DEVICE_SILENT", start)
    parent = mass_outage(db, desk, imeis[:11], "DEVICE_SILENT", start)
    assert rules.sweep(db, start + 60) == 1
    [(_, digest)] = queued(db)
    assert digest["Subject"] == f"[telediag] Awaria masowa #{parent}: 11 powiadomień"
    assert digest.get_content().count("\n- ") == 11
    from telediag.tickets import repository as repo

    raise_finding(db, imeis[11], "DEVICE_SILENT", start + 120)
    desk.on_findings(db, [Transition("raised", f) for f in list_findings(db, [imeis[11]])], start + 120)
    late = repo.find_for_problem(db, imeis[11], "DEVICE_SILENT", ("new",))
    assert late is not None
    with transaction(db):  # the device joins the outage a little later
        repo.update_ticket(db, late["id"], parent_id=parent)
    assert rules.sweep(db, start + 180) == 0  # held: the outage's group wrote two minutes ago
    assert rules.sweep(db, start + 660) == 1
    [(_, single)] = queued(db)
    assert imeis[11] in single["Subject"]


def test_ticket_events_reach_contacts_in_their_language_and_staff_without_personal_data(db: Connection) -> None:
    [imei, *_] = register(db)
    add_contact(db, "Sven", "sven@acme.example", language="sv")
    add_rule(db, events=["ticket.created", "ticket.commented"], recipients=["contacts", "team:technical"])
    desk = TicketDesk(SlaConfig(), TicketsConfig(), event_notifier(None))
    rules = notifier(teams={"technical": ("tech@ops.example",)})
    ticket = desk.file(db, origin="customer", by="customer#1", account="Acme", devices=[imei],
                       description="WX 1234 shows no position since Monday", now=MONDAY_NOON_WARSAW,
                       selfcheck=lambda i: {"imei": i, "overall": "ok", "checks": []}, findings=lambda _: [])
    assert rules.sweep(db, MONDAY_NOON_WARSAW + 1) == 2
    by_address = dict(queued(db))
    assert by_address["sven@acme.example"]["Subject"] == f"[#{ticket}] WX 1234 shows no position since Monday"
    assert "ärendet öppnades" in by_address["sven@acme.example"].get_content()
    staff = by_address["tech@ops.example"]
    assert "WX 1234" not in staff["Subject"] + staff.get_content() and "Acme" not in staff.get_content()
    assert "acct-000000000000" in staff.get_content()
    desk.comment(db, ticket, "staff#2", "Please restart the tracker", MONDAY_NOON_WARSAW + 7200, staff=True)
    assert rules.sweep(db, MONDAY_NOON_WARSAW + 7201) == 2  # the window of 600 s has passed
    assert "Please restart the tracker" in dict(queued(db))["sven@acme.example"].get_content()


def test_events_without_a_rule_leave_nothing_behind(db: Connection) -> None:
    [imei, *_] = register(db)
    desk = TicketDesk(SlaConfig(), TicketsConfig(), event_notifier(None))
    desk.file(db, origin="customer", by="customer#1", account="Acme", devices=[imei], description="help",
              now=MONDAY_NOON_WARSAW, selfcheck=lambda i: {"imei": i, "overall": "ok", "checks": []},
              findings=lambda _: [])
    assert notifier().sweep(db, MONDAY_NOON_WARSAW + 1) == 0
    assert db.execute("SELECT count(*) FROM notification_events").fetchone()[0] == 0


def test_customers_write_only_to_their_own_account_addresses(db: Connection) -> None:
    register(db)
    add_contact(db, "Anna", "anna@acme.example")
    fields = rule_store.parse_rule({"account": "Acme", "events": ["ticket.resolved"],
                                    "recipients": ["anna@acme.example", "stranger@elsewhere.example"]}, staff=False)
    with pytest.raises(rule_store.RuleError, match="stranger@elsewhere.example is not an address of this account"):
        with transaction(db):
            rule_store.add(db, fields, "customer#1", MONDAY_NOON_WARSAW, staff=False)
    fields = rule_store.parse_rule({"account": "Acme", "events": ["ticket.resolved"],
                                    "recipients": ["anna@acme.example", "fleet@acme.example"]}, staff=False)
    with transaction(db):
        rule = rule_store.add(db, fields, "customer#1", MONDAY_NOON_WARSAW, staff=False)
    assert rule_store.listing(db, "Acme") == [rule]
    with transaction(db):
        assert rule_store.remove(db, rule.id)
    assert rule_store.listing(db) == []
