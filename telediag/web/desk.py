"""The desk's queue: tickets not yet resolved, per team, the most urgent due time first, with breach
badges. Staff only (a customer gets the 404 page: the desk is not theirs to know of).

The documents come from ``telediag.api.ticket_actions.document``, so technical and IT staff read the
same masked titles the API gives them.
"""

from __future__ import annotations

from typing import Any, Callable

from telediag.api import ticket_actions as actions
from telediag.api.auth import Principal
from telediag.isolation import each_isolated
from telediag.store.sqlite import Reader
from telediag.tickets import repository as repo
from telediag.tickets.model import ACTIVE_STATES, TEAMS

STAFF_ROLES = frozenset({"admin", "customer_office", "technical", "it"})
MAX_QUEUED = 500
"""Tickets one queue page holds; the page says when there are more."""


def next_due(ticket: dict[str, Any]) -> str:
    """The due time that matters now: first response until someone answered, then resolution (ISO, or
    a far-off sentinel so tickets without a due time sort last)."""
    sla = ticket.get("sla") or {}
    due = sla.get("first_response_due") if not sla.get("first_response_at") else sla.get("resolution_due")
    return due or "9999"


def queue(who: Principal, team: str | None) -> Callable[[Reader], dict[str, Any]]:
    """Reader-thread work: ``{"tickets": [...], "truncated"}`` of one team (or all), most urgent first."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        ids: list[int] = []
        for state in ACTIVE_STATES:
            ids += repo.list_ids(db, state=state, team=team, limit=MAX_QUEUED + 1)
        documents = list(each_isolated(ids, lambda ticket_id: actions.document(db, who, ticket_id),
                                       "desk queue", lambda ticket_id: f"ticket {ticket_id}"))
        documents.sort(key=lambda ticket: (next_due(ticket), ticket["id"]))
        return {"tickets": documents[:MAX_QUEUED], "truncated": len(documents) > MAX_QUEUED}

    return run


def team_of(value: str | None) -> str | None:
    """A ``?team=`` value if it names a team, else None (every team)."""
    return value if value in TEAMS else None
