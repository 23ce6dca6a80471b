"""A small registry for the e-mail tests: account Acme in Poland with three trackers, contacts, rules."""

from __future__ import annotations

from typing import Any

from protocols.record import parse_iso_utc
from telediag.config import MailConfig, NotificationsConfig
from telediag.diagnostics.findings import apply_verdicts
from telediag.mail import contacts, rules
from telediag.mail.notify import Notifier
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.database import Connection, transaction

MONDAY_NOON_WARSAW = parse_iso_utc("2026-11-16T11:00:00Z")
IMEIS = ("356307042441013", "356307042441021", "356307042441039")
PLATES = ("WX 1234", "KR-55AB", None)


def register(db: Connection, devices: int = 3, account: str = "Acme", first: int = 0) -> list[str]:
    """``devices`` trackers of ``account`` (IMEIs from ``first``), the account's address and country."""
    imeis = [IMEIS[i] if i < len(IMEIS) else f"35630704{i:07d}" for i in range(first, first + devices)]
    entries = [parse_entry({"imei": imei, "protocol": "teltonika", "account": account, "home_country": "PL",
                            "vehicle_plate": PLATES[i] if i < len(PLATES) else None})
               for i, imei in zip(range(first, first + devices), imeis, strict=True)]
    save(db, entries, MONDAY_NOON_WARSAW - 86400, "import")
    db.execute("UPDATE accounts SET email = ? WHERE name = ?", (f"fleet@{account.lower()}.example", account))
    return imeis


def add_contact(db: Connection, name: str, email: str, language: str = "en",
                permissions: tuple[str, ...] = ("technical",), account: str = "Acme") -> contacts.Contact:
    fields = contacts.parse_contact({"account": account, "name": name, "email": email, "language": language,
                                     "permissions": list(permissions)})
    with transaction(db):
        return contacts.add(db, fields, MONDAY_NOON_WARSAW)


def add_rule(db: Connection, **body: Any) -> rules.Rule:
    fields = rules.parse_rule({"account": "Acme", **body}, staff=True)
    with transaction(db):
        return rules.add(db, fields, "test", MONDAY_NOON_WARSAW, staff=True)


def raise_finding(db: Connection, imei: str, code: str, at: float) -> None:
    apply_verdicts(db, imei, {code: {"seen": "in a test"}}, at)


def clear_finding(db: Connection, imei: str, code: str, at: float) -> None:
    apply_verdicts(db, imei, {code: None}, at)


def notifier(**settings: Any) -> Notifier:
    config = NotificationsConfig(**settings)
    return Notifier(config, MailConfig(host="127.0.0.1", sender="desk@telediag.example"),
                    lambda name: "acct-" + "0" * 12)


def mass_outage(db: Connection, desk: Any, imeis: list[str], code: str, at: float) -> int:
    """Each device's automatic ticket for ``code`` (through the desk), linked to one MASS_OUTAGE parent
    as the desk's correlation links them; returns the parent's id."""
    from telediag.diagnostics.findings import Transition, list_findings
    from telediag.tickets import repository as repo

    desk.on_findings(db, [Transition("raised", f) for f in list_findings(db, imeis, code)], at)
    with transaction(db):
        parent = repo.insert_ticket(
            db, title="Mass outage: devices on APN fleet.apn fail together", origin="auto",
            category="system_problem", topic="critical_server_failure", team="it", priority="P1", state="new",
            problem="MASS_OUTAGE", correlation_key="apn=fleet.apn", created_by="system", created_at=at,
            updated_at=at)
        for imei in imeis:
            child = repo.find_for_problem(db, imei, code, ("new", "open", "waiting_customer"))
            assert child is not None
            repo.update_ticket(db, child["id"], parent_id=parent)
            repo.link_devices(db, parent, [imei])
    return parent
