"""Moving a ticket through its states, with the SLA clock that follows each move.

Entering ``waiting_customer`` pauses the resolution clock and leaving it resumes it with the
resolution due time pushed back by the business time spent waiting. The first move or comment by
staff is the first response. Every change is a timeline entry and a notification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from protocols.record import iso_utc
from telediag.config import SlaConfig
from telediag.store.database import Connection
from telediag.tickets import repository as repo
from telediag.tickets.calendar import BusinessCalendar
from telediag.tickets.model import ACTIVE_STATES, MOVES, RATINGS, TicketError
from telediag.tickets.sla import breaches, due_times, pause_business_seconds

Notify = Callable[[Connection, str, dict[str, Any], float], None]
"""``notify(db, event, ticket_document, now)``: called inside the change's transaction."""


class Lifecycle:
    """State changes, comments, ratings and SLA bookkeeping on tickets (inside the caller's transaction)."""

    def __init__(self, sla: SlaConfig, calendar: BusinessCalendar, notify: Notify | None, auto_close_s: float) -> None:
        self.sla = sla
        self.calendar = calendar
        self._notify = notify
        self.auto_close_s = auto_close_s

    def notify(self, db: Connection, ticket_id: int, event: str, now: float) -> None:
        """Tell subscribers about a change (the ticket as it is now)."""
        if self._notify is not None:
            self._notify(db, event, repo.document(db, ticket_id), now)

    def due_times(self, topic: str, created_at: float, paused_business_s: float = 0.0) -> tuple[float, float]:
        """First response and resolution due for a topic."""
        return due_times(self.sla, self.calendar, topic, created_at, paused_business_s)

    def responded(self, db: Connection, ticket: dict[str, Any], now: float) -> None:
        """Mark the first response if this is it."""
        if ticket["first_response_at"] is None:
            repo.update_ticket(db, ticket["id"], first_response_at=now)

    def move(self, db: Connection, ticket_id: int, state: str, by: str, now: float,
             text: str | None = None, staff: bool = True, kind: str = "state") -> None:
        """Change a ticket's state if the move is legal; TicketError otherwise."""
        ticket = repo.row(db, ticket_id)
        current = ticket["state"]
        if state == current:
            raise TicketError(f"ticket {ticket_id} is already {state}")
        if state not in MOVES[current]:
            raise TicketError(f"ticket {ticket_id} cannot go from {current} to {state}")
        changes: dict[str, Any] = {"state": state, "updated_at": now}
        if current == "waiting_customer":
            paused = ticket["paused_business_s"] + pause_business_seconds(self.calendar, ticket["paused_since"], now)
            changes.update(paused_since=None, paused_business_s=paused,
                           resolution_due=self.due_times(ticket["topic"], ticket["created_at"], paused)[1])
        if state == "waiting_customer":
            changes["paused_since"] = now
        if state == "resolved":
            changes["resolved_at"] = now
        if state == "closed":
            changes["closed_at"] = now
        if state == "open" and current in ("resolved", "closed"):
            changes.update(resolved_at=None, closed_at=None)
            kind = "reopened" if kind == "state" else kind
        repo.update_ticket(db, ticket_id, **changes)
        if staff:
            self.responded(db, ticket, now)
        repo.add_timeline(db, ticket_id, now, kind, by, text or f"{current} -> {state}")
        self.notify(db, ticket_id, f"ticket.{state}" if kind != "reopened" else "ticket.reopened", now)

    def comment(self, db: Connection, ticket_id: int, by: str, text: str, now: float, staff: bool) -> None:
        """A comment; staff comments count as the first response, a customer's answer resumes the work."""
        ticket = repo.row(db, ticket_id)
        if not text.strip():
            raise TicketError("a comment needs text")
        repo.add_timeline(db, ticket_id, now, "comment", by, text.strip())
        repo.update_ticket(db, ticket_id, updated_at=now)
        if staff:
            self.responded(db, ticket, now)
        elif ticket["state"] == "waiting_customer":
            self.move(db, ticket_id, "open", by, now, "the customer answered", staff=False)
            return
        self.notify(db, ticket_id, "ticket.commented", now)

    def close(
        self, db: Connection, ticket_id: int, by: str, rating: str, reason: str | None, now: float,
    ) -> None:
        """Close with the customer's rating; a bad one flags the ticket for quality follow-up."""
        if rating not in RATINGS:
            raise TicketError(f"rating must be one of {', '.join(RATINGS)}")
        if rating == "bad" and not (reason or "").strip():
            raise TicketError("a bad rating needs a reason")
        ticket = repo.row(db, ticket_id)
        if ticket["state"] == "closed":
            raise TicketError(f"ticket {ticket_id} is already closed")
        repo.update_ticket(db, ticket_id, rating=rating, rating_reason=(reason or None),
                           quality_flag=int(rating == "bad"))
        self.move(db, ticket_id, "closed", by, now, f"closed, rated {rating}" + (f": {reason}" if reason else ""),
                  staff=False, kind="closed")
        if rating == "bad":
            repo.add_timeline(db, ticket_id, now, "quality_follow_up", "system",
                              "rated bad by the customer: flagged for quality follow-up")

    def sweep(self, db: Connection, now: float) -> dict[str, int]:
        """Record new SLA breaches and close resolved tickets nobody disputed in time."""
        breached = closed = 0
        placeholders = ", ".join("?" * len(ACTIVE_STATES))
        for ticket_id, in db.execute(
            f"SELECT id FROM tickets WHERE state IN ({placeholders})", ACTIVE_STATES
        ).fetchall():
            ticket = repo.row(db, ticket_id)
            known = set(orjson.loads(ticket["breached"]))
            found = breaches(now, ticket["first_response_due"], ticket["first_response_at"],
                             ticket["resolution_due"], ticket["resolved_at"], ticket["paused_since"] is not None)
            new = [kind for kind in found if kind not in known]
            if new:
                breached += 1
                kinds = orjson.dumps(sorted(known | set(new))).decode()
                repo.update_ticket(db, ticket_id, breached=kinds, updated_at=now)
                due = {"first_response": ticket["first_response_due"], "resolution": ticket["resolution_due"]}
                for kind in new:
                    repo.add_timeline(db, ticket_id, now, "sla_breach", "system",
                                      f"{kind.replace('_', ' ')} due {iso_utc(due[kind])} was missed")
                self.notify(db, ticket_id, "ticket.sla_breached", now)
        for ticket_id, in db.execute(
            "SELECT id FROM tickets WHERE state = 'resolved' AND resolved_at <= ?", (now - self.auto_close_s,)
        ).fetchall():
            self.move(db, ticket_id, "closed", "system", now,
                      f"closed automatically: resolved {self.auto_close_s / 3600:g} h ago and not disputed",
                      staff=False, kind="auto_closed")
            closed += 1
        return {"breached": breached, "auto_closed": closed}
