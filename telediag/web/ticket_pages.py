"""The console's ticket pages: my tickets, a new ticket for a tracker, one ticket with its timeline,
a reply, closing with a rating (a bad one asks why) and reopening; for staff the same page also shows
the findings with their evidence, the SLA with its badges, the parent and children, and a form to move
the ticket to one of the states its lifecycle allows next.

Every action is ``telediag.api.ticket_actions``, the same code the JSON API runs, after the same
endpoint check (``policy.check_allowed``), so a page can do and see exactly what the API would let
that person do and see. Form input goes through the API's own validators
(``telediag.api.ticket_bodies``); their messages are shown on the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from telediag.api import policy, ticket_bodies
from telediag.api import ticket_actions as actions
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.commands.web import fix_offer
from telediag.isolation import each_isolated
from telediag.store.reader import Reader
from telediag.tickets import repository as repo
from telediag.tickets.model import ACTIVE_STATES, MOVES, STATES
from telediag.web.answers import Page, not_found, redirect
from telediag.web.areas import PageRequest
from telediag.web.desk import sla_marks
from telediag.web.evidence import with_evidence_lines
from telediag.web.trackers import tracker_list, visible_part

MAX_LISTED = 200
"""Tickets one page lists, newest first; the page says when there are more."""
MAX_CHILDREN = 100
"""Children a parent's page lists (an outage can gather hundreds); the page says how many more."""
_SEPARATORS = re.compile(r"[\s,;]+")
ACTION_ENDPOINTS = {"reply": "ticket.comment", "close": "ticket.close", "reopen": "ticket.change",
                    "state": "ticket.change"}
"""Each form's API endpoint: the page runs the API's own role check for it first."""


class TicketPages:
    """``/tickets``, ``/tickets/new``, ``/tickets/{id}`` and its ``reply``, ``close``, ``reopen`` and
    ``state`` forms."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        """The page for ``/tickets/...``; None for a path that is not one of them (the caller's 404)."""
        segments, method = request.segments, request.method
        if segments == ["tickets"] and method == b"GET":
            return await self._list(request)
        if segments == ["tickets", "new"]:
            if method == b"GET":
                return await self._new_form(request, "", request.query.get("device", ""), "")
            if method == b"POST":
                return await self._file(request)
            return None
        if len(segments) >= 2 and actions.TICKET_ID.fullmatch(segments[1]):
            ticket_id = int(segments[1])
            if len(segments) == 2 and method == b"GET":
                return await self._show(request, ticket_id, "")
            if len(segments) == 3 and method == b"POST" and segments[2] in ACTION_ENDPOINTS:
                return await self._act(request, ticket_id, segments[2])
        return None

    async def _list(self, request: PageRequest) -> Page:
        session = request.session
        who = session.principal

        def run(reader: Reader) -> dict[str, Any]:
            db = reader.connection
            own = who.role == "customer"
            ids = repo.list_ids(db, account=who.account if own else None, accounts_only=own, limit=MAX_LISTED + 1)
            tickets = list(each_isolated(ids[:MAX_LISTED], lambda ticket_id: actions.document(db, who, ticket_id),
                                         "ticket page", lambda ticket_id: f"ticket {ticket_id}"))
            return {"tickets": tickets, "truncated": len(ids) > MAX_LISTED}

        listed = visible_part(self.api, who, await self.api.read(run))
        return Page(200, request.render("tickets.html", tickets=listed["tickets"], truncated=listed["truncated"],
                                        staff=who.role in actions.STAFF))

    async def _new_form(self, request: PageRequest, message: str, device: str, description: str,
                        status: int = 200) -> Page:
        session = request.session
        listed = await self.api.read(tracker_list(self.api, session.principal))
        trackers = visible_part(self.api, session.principal, listed)["devices"]
        return Page(status, request.render("ticket_new.html", trackers=trackers, device=device,
                                           description=description, message=message))

    async def _file(self, request: PageRequest) -> Page:
        form = request.form
        devices = [imei for imei in _SEPARATORS.split(form.get("devices", "")) if imei]
        description = form.get("description", "")
        try:
            policy.check_allowed(request.session.principal, "tickets.create")
            filed = ticket_bodies.new_ticket({"devices": devices, "description": description})
            document = await self.api.write(actions.file_ticket(self.api, request.session.principal, filed))
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            return await self._new_form(request, _plain(error), form.get("devices", ""), description,
                                        _status(error))
        return redirect(f"/tickets/{document['id']}")

    async def _show(self, request: PageRequest, ticket_id: int, message: str, status: int = 200,
                    draft: dict[str, str] | None = None) -> Page:
        who = request.session.principal
        try:
            found = await self.api.read(ticket_page(who, ticket_id))
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        shown = visible_part(self.api, who, found)
        ticket = shown["ticket"]
        staff = who.role in actions.STAFF
        fix = await self.api.read(fix_offer(who, ticket_id)) if ticket["state"] in ACTIVE_STATES else None
        return Page(status, request.render(
            "ticket.html", ticket=ticket, message=message, staff=staff, marks=sla_marks(ticket, self.api.now()),
            next_states=next_states(who, ticket["state"]), findings=with_evidence_lines(ticket.get("findings", [])),
            parent=shown["parent"], children=shown["children"], more_children=shown["more_children"],
            draft=draft or {}, fix=fix,
        ))

    async def _act(self, request: PageRequest, ticket_id: int, action: str) -> Page | None:
        who, form = request.session.principal, request.form
        try:
            policy.check_allowed(who, ACTION_ENDPOINTS[action])
            if self.api.desk is None:
                raise ApiError(503, "unavailable", "tickets are not enabled on this server")
            if action == "reply":
                body = ticket_bodies.comment({"text": form.get("text", "")})
                work = actions.comment_ticket(self.api, who, ticket_id, body)
            elif action == "close":
                closing = ticket_bodies.closing({"rating": form.get("rating", ""),
                                                 **({"reason": form["reason"]} if form.get("reason") else {})})
                work = actions.close_ticket(self.api, who, ticket_id, closing)
            elif action == "reopen":
                change = ticket_bodies.state_change({"state": "open", "text": form.get("text") or "reopened"})
                work = actions.change_ticket(self.api, who, ticket_id, change)
            else:
                note = form.get("text", "")
                change = ticket_bodies.state_change({"state": form.get("state", ""),
                                                     **({"text": note} if note.strip() else {})})
                work = actions.change_ticket(self.api, who, ticket_id, change)
            await self.api.write(work)
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            draft = {"action": action, **{k: v for k, v in form.items() if k in ("text", "reason", "state")}}
            return await self._show(request, ticket_id, _plain(error), _status(error), draft)
        return redirect(f"/tickets/{ticket_id}")


def ticket_page(who: Principal, ticket_id: int) -> Callable[[Reader], dict[str, Any]]:
    """Reader-thread work: ``{"ticket", "parent", "children", "more_children"}``; the ticket as the API
    shows it (404 ApiError for one this person may not know of), and for staff the parent and up to
    MAX_CHILDREN children as id, title, state and priority, each read as the API would show it."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        ticket = actions.show_ticket(who, ticket_id)(reader)
        page: dict[str, Any] = {"ticket": ticket, "parent": None, "children": [], "more_children": 0}
        if who.role not in actions.STAFF:
            return page  # a customer's ticket may hang under an outage: the parent is not the customer's
        summary = _summary(db, who)
        if ticket.get("parent_id") is not None:
            page["parent"] = next(iter(each_isolated([ticket["parent_id"]], summary, "ticket page")), None)
        children = list(ticket.get("children") or [])
        page["children"] = list(each_isolated(children[:MAX_CHILDREN], summary, "ticket page"))
        page["more_children"] = max(0, len(children) - MAX_CHILDREN)
        return page

    return run


def _summary(db: Any, who: Principal) -> Callable[[int], dict[str, Any]]:
    def summary(ticket_id: int) -> dict[str, Any]:
        document = actions.document(db, who, ticket_id)
        return {key: document[key] for key in ("id", "title", "state", "priority", "team")}
    return summary


def next_states(who: Principal, state: str) -> list[str]:
    """The states this person may move a ticket in ``state`` to: the lifecycle's moves, and for a
    customer only those the policy lets customers make (reopening)."""
    allowed = MOVES.get(state, frozenset())
    if who.role not in actions.STAFF:
        allowed = allowed & policy.CUSTOMER_TICKET_STATES
    return [each for each in STATES if each in allowed]


def _status(error: ApiError) -> int:
    """The page's status for a refused action: 403 when the role may not, 400 for what the validators
    or the ticket rules refused, the error's own for a server-side failure."""
    if error.status >= 500 or error.status == 403:
        return error.status
    return 400


def _plain(error: ApiError) -> str:
    """An API error as a sentence for the page: the details when there are some, else the message."""
    return "; ".join(error.details) if error.details else error.message
