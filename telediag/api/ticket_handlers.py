"""Ticket endpoints: list, file, show, change state, comment, close with a rating.

Customers see and file only their own account's tickets (another account's ticket is a 404, like an
unknown one); everything returned still goes through the policy's output filter.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api import ticket_bodies
from telediag.api.errors import ApiError, bad_request, not_found
from telediag.api.handlers import Call, Reply
from telediag.api.jsonio import read_json
from telediag.registry.repository import get_device, personal_data
from telediag.api import policy
from telediag.isolation import each_isolated
from telediag.tickets import repository as repo
from telediag.tickets.model import PRIORITIES, STATES, TEAMS, TicketError, TicketNotFound

STAFF = frozenset({"admin", "customer_office", "technical", "it"})
_ID = re.compile(r"[1-9][0-9]{0,17}")
"""A ticket id: ASCII digits only (``\\d`` also matches other scripts' digits, which ``int()`` reads as
ASCII ones: ``1`` and an Arabic-Indic one would be ticket 11), at most 18 so it fits SQLite's integer."""


def by(principal: Principal) -> str:
    """Who did it, as the timeline shows it: a role and token number, never a person's name."""
    return f"{principal.role}#{principal.token_id}" if principal.token_id is not None else principal.role


def _ticket_id(call: Call) -> int:
    raw = call.captures["id"]
    if not _ID.fullmatch(raw):
        raise not_found(f"no ticket {raw[:20]}")
    return int(raw)


def _visible(db: sqlite3.Connection, principal: Principal, ticket_id: int) -> dict[str, Any]:
    try:
        ticket = repo.row(db, ticket_id)
    except TicketNotFound:
        raise not_found(f"no ticket {ticket_id}") from None
    if principal.role == "customer" and ticket["account"] != principal.account:
        raise not_found(f"no ticket {ticket_id}")
    return ticket


def _document(db: sqlite3.Connection, who: Principal, ticket_id: int) -> dict[str, Any]:
    """The ticket document as ``who`` may read it (free text masked by the policy where it must be)."""
    document = repo.document(db, ticket_id)
    return policy.ticket_view(
        who, document, lambda: personal_data(db, document.get("account"), document.get("devices") or ()),
    )


def _body(api: ApiBackend, call: Call) -> dict[str, Any]:
    body = read_json(call.request, api.limits.max_body_bytes)
    call.query.finish()
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def _run(function: Any) -> Any:
    """Ticket rule violations become 409 with the rule's message."""
    def wrapped(*args: Any) -> Any:
        try:
            return function(*args)
        except TicketNotFound as error:
            raise not_found(str(error)) from None
        except TicketError as error:
            raise ApiError(409, "conflict", str(error)) from None
    return wrapped


async def list_tickets(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/tickets[?state=&team=&priority=&origin=&imei=&topic=&limit=]``."""
    query, who = call.query, call.who
    filters = {name: query.text(name) for name in ("state", "team", "priority", "origin", "imei", "topic")}
    limit = query.limit()
    query.finish()
    for name, allowed in (("state", STATES), ("team", TEAMS), ("priority", PRIORITIES)):
        if filters[name] is not None and filters[name] not in allowed:
            raise bad_request(f"{name} must be one of {', '.join(allowed)}")

    def run(reader: Any) -> dict[str, Any]:
        db = reader.connection
        own = who.role == "customer"
        ids = repo.list_ids(db, account=who.account if own else None, accounts_only=own, limit=limit + 1, **filters)
        documents = list(each_isolated(ids[:limit], lambda ticket_id: _document(db, who, ticket_id),
                                       "ticket listing", lambda ticket_id: f"ticket {ticket_id}"))
        return {"tickets": documents, "count": len(documents), "truncated": len(ids) > limit}

    return Reply(200, await api.read(run))


async def create_ticket(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets`` with ``{"devices": [imei], "description": "...", "title": optional}``."""
    who, body = call.who, _body(api, call)
    filed = ticket_bodies.new_ticket(body)
    devices, description, title = filed.devices, filed.description, filed.title
    desk = api.desk
    if desk is None:
        raise ApiError(503, "unavailable", "tickets are not enabled on this server")
    diagnostics = api.diagnostics

    def run(db: sqlite3.Connection) -> dict[str, Any]:
        accounts = set()
        for imei in devices:
            device = policy.check_device_visible(who, imei, get_device(db, imei))
            accounts.add(device.get("account"))
        account = who.account if who.role == "customer" else (next(iter(accounts)) if len(accounts) == 1 else None)
        ticket_id = desk.file(
            db, origin="customer" if who.role == "customer" else "staff", by=by(who), account=account,
            devices=devices, description=description or "", now=api.now(), title=title,
            selfcheck=diagnostics.selfcheck,
            findings=lambda imeis: list(diagnostics.findings(imeis, None, True)),
        )
        return _document(db, who, ticket_id)

    return Reply(201, await api.write(_run(run)))


async def show_ticket(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/tickets/{id}``."""
    ticket_id, who = _ticket_id(call), call.who
    call.query.finish()

    def run(reader: Any) -> dict[str, Any]:
        _visible(reader.connection, who, ticket_id)
        return _document(reader.connection, who, ticket_id)

    return Reply(200, await api.read(run))


async def change_ticket(api: ApiBackend, call: Call) -> Reply:
    """``PATCH /api/v1/tickets/{id}`` with ``{"state": ..., "text": optional}``; customers may only reopen."""
    ticket_id, who, body = _ticket_id(call), call.who, _body(api, call)
    change = ticket_bodies.state_change(body)
    state, text = change.state, change.text
    policy.check_ticket_change(who, state)

    def run(db: sqlite3.Connection) -> dict[str, Any]:
        _visible(db, who, ticket_id)
        api.desk.change_state(db, ticket_id, state, by(who), api.now(), text, staff=who.role in STAFF)
        return _document(db, who, ticket_id)

    return Reply(200, await api.write(_run(run)))


async def comment_ticket(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets/{id}/comments`` with ``{"text": ...}``."""
    ticket_id, who, body = _ticket_id(call), call.who, _body(api, call)
    text = ticket_bodies.comment(body)

    def run(db: sqlite3.Connection) -> dict[str, Any]:
        _visible(db, who, ticket_id)
        api.desk.comment(db, ticket_id, by(who), text or "", api.now(), staff=who.role in STAFF)
        return _document(db, who, ticket_id)

    return Reply(201, await api.write(_run(run)))


async def close_ticket(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets/{id}/close`` with ``{"rating": "good"|"none"|"bad", "reason": ...}``."""
    ticket_id, who, body = _ticket_id(call), call.who, _body(api, call)
    closing = ticket_bodies.closing(body)
    rating, reason = closing.rating, closing.reason

    def run(db: sqlite3.Connection) -> dict[str, Any]:
        _visible(db, who, ticket_id)
        api.desk.close(db, ticket_id, by(who), rating, reason, api.now())
        return _document(db, who, ticket_id)

    return Reply(200, await api.write(_run(run)))


TICKET_HANDLERS = {
    "tickets.list": list_tickets,
    "tickets.create": create_ticket,
    "ticket.detail": show_ticket,
    "ticket.change": change_ticket,
    "ticket.comment": comment_ticket,
    "ticket.close": close_ticket,
}
TICKET_ROUTES = (
    (("api", "v1", "tickets"), {"GET": "tickets.list", "POST": "tickets.create"}),
    (("api", "v1", "tickets", "{id}"), {"GET": "ticket.detail", "PATCH": "ticket.change"}),
    (("api", "v1", "tickets", "{id}", "comments"), {"POST": "ticket.comment"}),
    (("api", "v1", "tickets", "{id}", "close"), {"POST": "ticket.close"}),
)
