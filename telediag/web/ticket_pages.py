"""The console's ticket pages: my tickets, a new ticket for a tracker, one ticket with its timeline,
a reply, closing with a rating (a bad one asks why) and reopening.

Every action is ``telediag.api.ticket_actions``, the same code the JSON API runs, so a page can do and
see exactly what the API would let that person do and see. Form input goes through the API's own
validators (``telediag.api.ticket_bodies``); their messages are shown on the page.
"""

from __future__ import annotations

import re
from typing import Any

from telediag.api import ticket_actions as actions
from telediag.api import ticket_bodies
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.isolation import each_isolated
from telediag.store.sqlite import Reader
from telediag.tickets import repository as repo
from telediag.web.answers import Page, not_found, redirect
from telediag.web.areas import PageRequest
from telediag.web.trackers import tracker_list, visible_part

MAX_LISTED = 200
"""Tickets one page lists, newest first."""
_SEPARATORS = re.compile(r"[\s,;]+")


class TicketPages:
    """``/tickets``, ``/tickets/new``, ``/tickets/{id}`` and its ``reply``, ``close`` and ``reopen`` forms."""

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
            if len(segments) == 3 and method == b"POST":
                return await self._act(request, ticket_id, segments[2])
        return None

    async def _list(self, request: PageRequest) -> Page:
        session = request.session
        who = session.principal

        def run(reader: Reader) -> list[dict[str, Any]]:
            db = reader.connection
            own = who.role == "customer"
            ids = repo.list_ids(db, account=who.account if own else None, accounts_only=own, limit=MAX_LISTED)
            return list(each_isolated(ids, lambda ticket_id: actions.document(db, who, ticket_id),
                                      "ticket page", lambda ticket_id: f"ticket {ticket_id}"))

        tickets = visible_part(self.api, who, {"tickets": await self.api.read(run)})["tickets"]
        return Page(200, request.render("tickets.html", tickets=tickets))

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
            filed = ticket_bodies.new_ticket({"devices": devices, "description": description})
            document = await self.api.write(actions.file_ticket(self.api, request.session.principal, filed))
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            return await self._new_form(request, _plain(error), form.get("devices", ""), description, 400)
        return redirect(f"/tickets/{document['id']}")

    async def _show(self, request: PageRequest, ticket_id: int, message: str, status: int = 200) -> Page:
        session = request.session
        try:
            document = await self.api.read(actions.show_ticket(session.principal, ticket_id))
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        ticket = visible_part(self.api, session.principal, document)
        return Page(status, request.render("ticket.html", ticket=ticket, message=message))

    async def _act(self, request: PageRequest, ticket_id: int, action: str) -> Page | None:
        who, form = request.session.principal, request.form
        try:
            if action == "reply":
                work = actions.comment_ticket(self.api, who, ticket_id, ticket_bodies.comment({"text": form.get("text", "")}))
            elif action == "close":
                closing = ticket_bodies.closing({"rating": form.get("rating", ""),
                                                 **({"reason": form["reason"]} if form.get("reason") else {})})
                work = actions.close_ticket(self.api, who, ticket_id, closing)
            elif action == "reopen":
                change = ticket_bodies.state_change({"state": "open", "text": form.get("text") or "reopened"})
                work = actions.change_ticket(self.api, who, ticket_id, change)
            else:
                return None
            await self.api.write(work)
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            return await self._show(request, ticket_id, _plain(error), 400 if error.status < 500 else error.status)
        return redirect(f"/tickets/{ticket_id}")


def _plain(error: ApiError) -> str:
    """An API error as a sentence for the page: the details when there are some, else the message."""
    return "; ".join(error.details) if error.details else error.message
