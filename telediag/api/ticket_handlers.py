"""Ticket endpoints: list, file, show, change state, comment, close with a rating.

Customers see and file only their own account's tickets (another account's ticket is a 404, like an
unknown one); everything returned still goes through the policy's output filter.
"""

from __future__ import annotations

from typing import Any

from telediag.api import ticket_actions as actions
from telediag.api import ticket_bodies
from telediag.api.backend import ApiBackend
from telediag.api.errors import bad_request, not_found
from telediag.api.handlers import Call, Reply
from telediag.api.jsonio import read_json
from telediag.isolation import each_isolated
from telediag.tickets import repository as repo
from telediag.tickets.model import PRIORITIES, STATES, TEAMS


def _ticket_id(call: Call) -> int:
    raw = call.captures["id"]
    if not actions.TICKET_ID.fullmatch(raw):
        raise not_found(f"no ticket {raw[:20]}")
    return int(raw)


def _body(api: ApiBackend, call: Call) -> dict[str, Any]:
    body = read_json(call.request, api.limits.max_body_bytes)
    call.query.finish()
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


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
        ids = repo.list_ids(
            db, account=who.account if own else None, accounts_only=own, limit=limit + 1,
            state=filters["state"], team=filters["team"], priority=filters["priority"], origin=filters["origin"],
            imei=filters["imei"], topic=filters["topic"],
        )
        documents = list(each_isolated(ids[:limit], lambda ticket_id: actions.document(db, who, ticket_id),
                                       "ticket listing", lambda ticket_id: f"ticket {ticket_id}"))
        return {"tickets": documents, "count": len(documents), "truncated": len(ids) > limit}

    return Reply(200, await api.read(run))


async def create_ticket(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets`` with ``{"devices": [imei], "description": "...", "title": optional}``."""
    filed = ticket_bodies.new_ticket(_body(api, call))
    return Reply(201, await api.write(actions.file_ticket(api, call.who, filed)))


async def show_ticket(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/tickets/{id}``."""
    ticket_id = _ticket_id(call)
    call.query.finish()
    return Reply(200, await api.read(actions.show_ticket(call.who, ticket_id)))


async def change_ticket(api: ApiBackend, call: Call) -> Reply:
    """``PATCH /api/v1/tickets/{id}`` with ``{"state": ..., "text": optional}``; customers may only reopen."""
    ticket_id, change = _ticket_id(call), ticket_bodies.state_change(_body(api, call))
    return Reply(200, await api.write(actions.change_ticket(api, call.who, ticket_id, change)))


async def comment_ticket(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets/{id}/comments`` with ``{"text": ...}``."""
    ticket_id, text = _ticket_id(call), ticket_bodies.comment(_body(api, call))
    return Reply(201, await api.write(actions.comment_ticket(api, call.who, ticket_id, text)))


async def close_ticket(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets/{id}/close`` with ``{"rating": "good"|"none"|"bad", "reason": ...}``."""
    ticket_id, closing = _ticket_id(call), ticket_bodies.closing(_body(api, call))
    return Reply(200, await api.write(actions.close_ticket(api, call.who, ticket_id, closing)))


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
