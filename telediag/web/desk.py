"""The desk's queue: tickets not yet resolved, per team, the most urgent due time first, a page at a
time, with the SLA state of each due time. Staff only (a customer gets the 404 page: the desk is not
theirs to know of).

The documents come from ``telediag.api.ticket_actions.document``, so technical and IT staff read the
same masked titles the API gives them. The SLA marks are pure functions of a document and ``now``, so
the queue and the ticket page say the same thing about the same ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from telediag.api import ticket_actions as actions
from telediag.api.auth import Principal
from telediag.isolation import each_isolated
from telediag.store.reader import Reader
from telediag.tickets.model import ACTIVE_STATES, TEAMS
from telediag.tickets.sla import FIRST_RESPONSE, RESOLUTION

STAFF_ROLES = actions.STAFF
PAGE_SIZE = 50
"""Tickets one queue page holds; the page says how many more there are and links to the next."""
SOON_S = 3600.0
"""A due time this close is flagged: someone has to pick the ticket up now."""
ALL_TEAMS = "all"
"""The ``?team=`` value for every team's tickets at once."""
_ROLE_TEAM = {"customer_office": "customer_office", "technical": "technical", "it": "it"}

_NEXT_DUE = "CASE WHEN first_response_at IS NULL THEN first_response_due ELSE resolution_due END"
"""The due time that matters now: first response until someone answered, then resolution."""


def team_of(value: str | None, role: str) -> str:
    """The team a queue shows: the ``?team=`` value when it names a team or ``all``, else the person's
    own team (an admin's default is every team)."""
    if value in TEAMS or value == ALL_TEAMS:
        return value
    return _ROLE_TEAM.get(role, ALL_TEAMS)


def queue(who: Principal, team: str, page: int) -> Callable[[Reader], dict[str, Any]]:
    """Reader-thread work: one page of a team's (or every team's) unresolved tickets, most urgent first:
    ``{"tickets": [...], "total", "page", "pages", "more"}`` (``more``: tickets after this page)."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        where = f"state IN ({', '.join('?' * len(ACTIVE_STATES))})"
        params: list[Any] = list(ACTIVE_STATES)
        if team != ALL_TEAMS:
            where += " AND team = ?"
            params.append(team)
        total = db.execute(f"SELECT count(*) FROM tickets WHERE {where}", params).fetchone()[0]
        offset = (page - 1) * PAGE_SIZE
        ids = [row[0] for row in db.execute(
            f"SELECT id FROM tickets WHERE {where} ORDER BY ({_NEXT_DUE}) IS NULL, {_NEXT_DUE}, id LIMIT ? OFFSET ?",
            (*params, PAGE_SIZE, offset))]
        documents = list(each_isolated(ids, lambda ticket_id: actions.document(db, who, ticket_id),
                                       "desk queue", lambda ticket_id: f"ticket {ticket_id}"))
        pages = max(1, -(-total // PAGE_SIZE))
        return {"tickets": documents, "total": total, "page": page, "pages": pages,
                "more": max(0, total - offset - len(ids))}

    return run


def epoch(iso: str | None) -> float | None:
    """An ISO 8601 UTC time of a document as seconds since the epoch (None for none or unreadable)."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _mark(due: float | None, now: float) -> str:
    if due is None:
        return "none"
    if now > due:
        return "breached"
    return "soon" if due - now <= SOON_S else "due"


def sla_marks(ticket: dict[str, Any], now: float) -> dict[str, str]:
    """Where each due time of a ticket stands at ``now``, as the badges show it.

    ``first_response``: ``met`` (someone answered in time), ``breached`` (recorded by the sweep, or the
    due time passed unanswered and the sweep has not run yet), ``soon`` (due within the hour), ``due``
    or ``none``. ``resolution``: the same, with ``paused`` while the ticket waits for the customer
    (its clock stops; a breach recorded before the pause stays) and ``met`` once resolved in time.
    """
    sla = ticket.get("sla") or {}
    recorded = set(sla.get("breached") or ())
    if FIRST_RESPONSE in recorded:
        first = "breached"
    elif sla.get("first_response_at"):
        first = "met"
    else:
        first = _mark(epoch(sla.get("first_response_due")), now)
    if RESOLUTION in recorded:
        resolution = "breached"
    elif ticket.get("state") in ("resolved", "closed"):
        resolution = "met"
    elif sla.get("paused"):
        resolution = "paused"
    else:
        resolution = _mark(epoch(sla.get("resolution_due")), now)
    return {FIRST_RESPONSE: first, RESOLUTION: resolution}


def with_marks(tickets: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """Each ticket with its ``marks`` (see :func:`sla_marks`) for the templates (new dicts)."""
    return [{**ticket, "marks": sla_marks(ticket, now)} for ticket in tickets]
