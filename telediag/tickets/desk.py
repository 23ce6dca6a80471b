"""The ticket desk: everything the API, the CLI and the service do with tickets, in one place.

Synchronous and clock-free: every call takes the connection and ``now``. Tickets filed by people are
enriched at once with each device's self-check and active findings, classified, routed, and, when a
finding already explains the problem (a tracker still in its activation window), answered with the
suggested reply and left waiting for the customer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from telediag.config import SlaConfig, TicketsConfig
from telediag.diagnostics.catalogue import FINDINGS
from telediag.diagnostics.findings import Transition
from telediag.store.database import Connection, transaction
from telediag.tickets import repository as repo
from telediag.tickets.classify import classify
from telediag.tickets.incidents import SYSTEM, Incidents
from telediag.tickets.lifecycle import Lifecycle, Notify
from telediag.tickets.model import ACTIVE_STATES, TicketError
from telediag.tickets.routing import priority, severity_of, team_for

SelfCheck = Callable[[str], dict[str, Any]]
Findings = Callable[[set[str]], list[dict[str, Any]]]
MAX_DESCRIPTION = 20_000
MAX_DEVICES_PER_TICKET = 1000


class TicketDesk:
    """Ticket operations with their rules; each public method is one transaction."""

    def __init__(self, sla: SlaConfig, config: TicketsConfig, notify: Notify | None = None) -> None:
        self.config = config
        self.lifecycle = Lifecycle(sla, sla.calendar(), notify, config.auto_close_s)
        self.incidents = Incidents(self.lifecycle, config)

    def on_findings(self, db: Connection, transitions: Sequence[Transition], now: float) -> set[int]:
        """Open, enrich, resolve or reopen automatic tickets; correlate outages."""
        return self.incidents.on_transitions(db, transitions, now)

    def file(
        self, db: Connection, *, origin: str, by: str, account: str | None, devices: Sequence[str],
        description: str, now: float, selfcheck: SelfCheck, findings: Findings, title: str | None = None,
    ) -> int:
        """A ticket from a customer or staff, enriched with self-checks and findings of its devices."""
        description = description.strip()
        if not description:
            raise TicketError("a ticket needs a description")
        if len(description) > MAX_DESCRIPTION or len(devices) > MAX_DEVICES_PER_TICKET:
            raise TicketError(f"at most {MAX_DESCRIPTION} characters and {MAX_DEVICES_PER_TICKET} devices")
        imeis = sorted(set(devices))
        checks = {imei: selfcheck(imei) for imei in imeis}  # outside the transaction: reads only
        active = _current_findings(checks, findings(set(imeis)) if imeis else [], now)
        codes = [f["code"] for f in active]
        kind = classify(description, codes)
        explained = [f for f in active if _category_of(f["code"]) == "how_to"] if kind.category == "how_to" else []
        first_due, resolution_due = self.lifecycle.due_times(kind.topic, now)
        vip_row = db.execute("SELECT vip FROM accounts WHERE name = ?", (account,)).fetchone() if account else None
        vip = bool(vip_row and vip_row[0])
        with transaction(db):
            ticket_id = repo.insert_ticket(
                db, title=title or _title(description), origin=origin, category=kind.category, topic=kind.topic,
                team=team_for(codes, kind.category, kind.topic),
                priority=priority(severity_of(codes, kind.category), len(imeis), vip), state="new",
                account=account, description=description, language=kind.language, created_by=by,
                created_at=now, updated_at=now, first_response_due=first_due, resolution_due=resolution_due,
            )
            repo.link_devices(db, ticket_id, imeis)
            repo.add_timeline(db, ticket_id, now, "created", by, f"filed by {origin}: " + "; ".join(kind.reasons))
            for imei, result in checks.items():
                repo.add_timeline(db, ticket_id, now, "selfcheck", SYSTEM, _selfcheck_line(imei, result))
            for finding in active:
                repo.record_finding(db, ticket_id, _stored(finding))
            self.lifecycle.notify(db, ticket_id, "ticket.created", now)
            if explained:
                answer = _suggested_answer(explained[0], checks.get(explained[0]["imei"]))
                repo.add_timeline(db, ticket_id, now, "suggested_answer", SYSTEM, answer)
                self.lifecycle.move(db, ticket_id, "waiting_customer", SYSTEM, now,
                                    "answered with the diagnosis; waiting for the customer to confirm")
        return ticket_id

    def comment(self, db: Connection, ticket_id: int, by: str, text: str, now: float, staff: bool) -> None:
        """Add a comment; on an outage parent it reaches every affected customer's ticket too."""
        with transaction(db):
            self.lifecycle.comment(db, ticket_id, by, text, now, staff)
            for child in repo.children_of(db, ticket_id):
                repo.add_timeline(db, child, now, "outage_update", by, text.strip())
                self.lifecycle.notify(db, child, "ticket.outage_update", now)

    def change_state(self, db: Connection, ticket_id: int, state: str, by: str, now: float,
                     text: str | None = None, staff: bool = True) -> None:
        """Move a ticket; resolving an outage parent resolves its children with it."""
        with transaction(db):
            self.lifecycle.move(db, ticket_id, state, by, now, text, staff=staff)
            if state == "resolved":
                self._resolve_children(db, ticket_id, now)

    def close(
        self, db: Connection, ticket_id: int, by: str, rating: str, reason: str | None, now: float,
    ) -> None:
        """The customer closes with a rating."""
        with transaction(db):
            self.lifecycle.close(db, ticket_id, by, rating, reason, now)

    def sweep(self, db: Connection, now: float) -> dict[str, int]:
        """SLA breaches, auto-close, outage correlation and outage recovery."""
        with transaction(db):
            summary = self.lifecycle.sweep(db, now)
        summary["outages"] = len(self.incidents.correlate(db, now))
        recovered = 0
        for parent, in db.execute(
            "SELECT id FROM tickets WHERE problem = 'MASS_OUTAGE'"
            f" AND state IN ({', '.join('?' * len(ACTIVE_STATES))})",
            ACTIVE_STATES,
        ).fetchall():
            children = repo.children_of(db, parent)
            states = {repo.row(db, child)["state"] for child in children}
            if children and not states & set(ACTIVE_STATES):
                with transaction(db):
                    self.lifecycle.move(db, parent, "resolved", SYSTEM, now,
                                        "every affected device recovered", staff=False, kind="auto_resolved")
                recovered += 1
        summary["outages_recovered"] = recovered
        return summary

    def _resolve_children(self, db: Connection, parent: int, now: float) -> None:
        for child in repo.children_of(db, parent):
            if repo.row(db, child)["state"] in ACTIVE_STATES:
                self.lifecycle.move(db, child, "resolved", SYSTEM, now, f"resolved with mass outage ticket {parent}",
                                    staff=False, kind="resolved_with_parent")


def _category_of(code: str) -> str:
    return classify("", [code]).category


def _current_findings(
    checks: dict[str, dict[str, Any]], stored: list[dict[str, Any]], now: float,
) -> list[dict[str, Any]]:
    """What the fresh self-checks find, with first/last seen and counts from the stored findings."""
    from protocols.record import iso_utc

    known = {(f["imei"], f["code"]): f for f in stored}
    current: list[dict[str, Any]] = []
    for imei, result in checks.items():
        for check in result.get("checks", []):
            code = check.get("finding")
            if not code:
                continue
            stored_finding = known.get((imei, code), {})
            current.append({
                "imei": imei, "code": code, "hint": check.get("hint"), "evidence": check.get("evidence") or {},
                "first_seen": stored_finding.get("first_seen", iso_utc(now)),
                "last_seen": stored_finding.get("last_seen", iso_utc(now)), "count": stored_finding.get("count", 1),
            })
    return current


def _title(description: str) -> str:
    line = description.splitlines()[0].strip()
    return line if len(line) <= 80 else line[:77] + "..."


def _stored(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding from the API shape (ISO times) to the ticket table's (epoch seconds)."""
    from protocols.record import parse_iso_utc

    return {**finding, "first_seen": parse_iso_utc(finding["first_seen"]),
            "last_seen": parse_iso_utc(finding["last_seen"])}


def _selfcheck_line(imei: str, result: dict[str, Any]) -> str:
    failing = [f"{c['id']}: {c['finding'] or c['status']}" for c in result.get("checks", [])
               if c["status"] in ("warn", "fail")]
    return f"self-check of {imei}: {result.get('overall')}" + (f" ({', '.join(failing)})" if failing else "")


def _suggested_answer(finding: dict[str, Any], check: dict[str, Any] | None) -> str:
    hint = finding.get("hint")
    if not hint and check:
        hint = next((c["hint"] for c in check["checks"] if c["finding"] == finding["code"]), None)
    return f"{FINDINGS[finding['code']].title}. {hint or ''}".strip()
