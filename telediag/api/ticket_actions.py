"""What a person or a machine may do with tickets, once: the API's endpoints and the console's pages both
call these, so the checks (another account's ticket is a 404, customers may only reopen) and the
masking of what each role reads can never differ between the two.

Each function returns the work to run on a store thread: ``api.write`` for changes, ``api.read`` for
reads. Ticket rule violations become 409 ApiErrors with the rule's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from telediag.api import policy
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError, not_found
from telediag.api.ticket_bodies import Closing, NewTicket, StateChange
from telediag.kb import answers
from telediag.registry.repository import get_device, personal_data
from telediag.store.database import Connection
from telediag.tickets import repository as repo
from telediag.tickets.desk import TicketDesk
from telediag.tickets.model import TicketError, TicketNotFound

STAFF = frozenset({"admin", "customer_office", "technical", "it"})
TICKET_ID = re.compile(r"[1-9][0-9]{0,17}")
"""A ticket id: ASCII digits only (``\\d`` also matches other scripts' digits, which ``int()`` reads as
ASCII ones: ``1`` and an Arabic-Indic one would be ticket 11), at most 18 so it fits SQLite's integer."""
Work = Callable[[Any], dict[str, Any]]


def by(principal: Principal) -> str:
    """Who did it, as the timeline shows it: a role and token number, never a person's name."""
    return f"{principal.role}#{principal.token_id}" if principal.token_id is not None else principal.role


def visible(db: Connection, principal: Principal, ticket_id: int) -> dict[str, Any]:
    """The ticket row if this principal may know of it; 404 for unknown and for other accounts' tickets."""
    try:
        ticket = repo.row(db, ticket_id)
    except TicketNotFound:
        raise not_found(f"no ticket {ticket_id}") from None
    if principal.role == "customer" and ticket["account"] != principal.account:
        raise not_found(f"no ticket {ticket_id}")
    return ticket


def document(db: Connection, who: Principal, ticket_id: int) -> dict[str, Any]:
    """The ticket document as ``who`` may read it (free text masked by the policy where it must be)."""
    found = repo.document(db, ticket_id)
    found["suggested_articles"] = answers.suggested_articles(db, ticket_id, staff=who.role in STAFF)
    return policy.ticket_view(
        who, found, lambda: personal_data(db, found.get("account"), found.get("devices") or ()),
    )


def _rules(function: Callable[[Connection], dict[str, Any]]) -> Work:
    """Ticket rule violations become 409 with the rule's message."""
    def wrapped(db: Connection) -> dict[str, Any]:
        try:
            return function(db)
        except TicketNotFound as error:
            raise not_found(str(error)) from None
        except TicketError as error:
            raise ApiError(409, "conflict", str(error)) from None
    return wrapped


def _desk(api: ApiBackend) -> TicketDesk:
    """The ticket desk; 503 when this server runs without tickets."""
    desk = api.desk
    if desk is None:
        raise ApiError(503, "unavailable", "tickets are not enabled on this server")
    return desk


def file_ticket(api: ApiBackend, who: Principal, filed: NewTicket) -> Work:
    """File a ticket for devices the principal may see, enriched with their self-checks and findings."""
    desk = _desk(api)
    diagnostics = api.diagnostics

    def run(db: Connection) -> dict[str, Any]:
        accounts = set()
        for imei in filed.devices:
            device = policy.check_device_visible(who, imei, get_device(db, imei))
            accounts.add(device.get("account"))
        account = who.account if who.role == "customer" else (next(iter(accounts)) if len(accounts) == 1 else None)
        ticket_id = desk.file(
            db, origin="customer" if who.role == "customer" else "staff", by=by(who), account=account,
            devices=filed.devices, description=filed.description or "", now=api.now(), title=filed.title,
            selfcheck=diagnostics.selfcheck,
            findings=lambda imeis: list(diagnostics.findings(imeis, None, True)),
        )
        answers.answer_filed(db, desk, ticket_id, api.now())
        return document(db, who, ticket_id)

    return _rules(run)


def show_ticket(who: Principal, ticket_id: int) -> Work:
    """Read one ticket (a reader-thread function taking the Reader)."""
    def run(reader: Any) -> dict[str, Any]:
        visible(reader.connection, who, ticket_id)
        return document(reader.connection, who, ticket_id)
    return run


def change_ticket(api: ApiBackend, who: Principal, ticket_id: int, change: StateChange) -> Work:
    """Move a ticket to another state; customers may only reopen (403 otherwise)."""
    policy.check_ticket_change(who, change.state)
    desk = _desk(api)

    def run(db: Connection) -> dict[str, Any]:
        visible(db, who, ticket_id)
        desk.change_state(db, ticket_id, change.state, by(who), api.now(), change.text, staff=who.role in STAFF)
        return document(db, who, ticket_id)

    return _rules(run)


def comment_ticket(api: ApiBackend, who: Principal, ticket_id: int, text: str) -> Work:
    """Add a comment (a customer's reply takes a ticket out of waiting)."""
    desk = _desk(api)

    def run(db: Connection) -> dict[str, Any]:
        visible(db, who, ticket_id)
        desk.comment(db, ticket_id, by(who), text or "", api.now(), staff=who.role in STAFF)
        return document(db, who, ticket_id)

    return _rules(run)


def close_ticket(api: ApiBackend, who: Principal, ticket_id: int, closing: Closing) -> Work:
    """Close with a rating (a bad one needs a reason)."""
    desk = _desk(api)

    def run(db: Connection) -> dict[str, Any]:
        visible(db, who, ticket_id)
        desk.close(db, ticket_id, by(who), closing.rating, closing.reason, api.now())
        return document(db, who, ticket_id)

    return _rules(run)
