"""``/api/v1/devices/{imei}/commands`` (a device's command queue and history) and
``/api/v1/tickets/{id}/fix`` (send a ticket's fix and wait for proof).

Who may call them is ``telediag.api.policy.ENDPOINT_ROLES``: technical staff and admin send; they,
IT and a customer (its own devices only: another account's device is a 404, like an unknown one)
read the history. The customer office sees no telemetry, and a device's answers are telemetry.
Bodies are checked by :func:`telediag.commands.model.parse_request`, every problem named.
"""

from __future__ import annotations

from typing import Any

from telediag.api import policy
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError, bad_request, not_found
from telediag.api.handlers import Call, Reply
from telediag.api.jsonio import read_json
from telediag.api.reads import visible_device
from telediag.api.ticket_actions import TICKET_ID, by, visible
from telediag.commands import fixes, queue
from telediag.commands.model import CommandRefused, parse_request
from telediag.config.commands import CommandsConfig
from telediag.registry.repository import get_device
from telediag.store.database import Connection, transaction
from telediag.tickets.model import TicketError, TicketNotFound


def _body(api: ApiBackend, call: Call) -> dict[str, Any]:
    body = read_json(call.request, api.limits.max_body_bytes)
    call.query.finish()
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def parse(config: CommandsConfig, body: dict[str, Any]) -> Any:
    """The checked request, or 400 naming every problem."""
    try:
        return parse_request(body, default_expires_in_s=config.default_expires_in_s,
                             min_expires_in_s=config.min_expires_in_s, max_expires_in_s=config.max_expires_in_s,
                             max_text_chars=config.max_text_chars)
    except CommandRefused as error:
        raise bad_request(str(error), code="invalid_command", details=error.problems) from None


async def list_commands(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/devices/{imei}/commands[?limit=]``: newest first."""
    imei, who, limit = call.imei, call.who, call.query.limit()
    call.query.finish()

    def run(reader: Any) -> dict[str, Any]:
        visible_device(reader, who, imei)
        found = queue.history(reader.connection, imei, limit)
        return {"imei": imei, "commands": found, "count": len(found)}

    return Reply(200, await api.read(run))


async def create_command(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/devices/{imei}/commands`` with ``{"text", "expires_in_s"}``: queued (201)."""
    imei, who = call.imei, call.who
    config = api.config.commands
    asked = parse(config, _body(api, call))
    now = api.now()

    def run(db: Connection) -> dict[str, Any]:
        policy.check_device_visible(who, imei, get_device(db, imei))
        try:
            with transaction(db):
                return queue.enqueue(db, imei, asked.text, by(who), now, asked.expires_in_s,
                                     max_waiting=config.max_waiting_per_device)
        except CommandRefused as error:
            raise ApiError(409, "queue_full", str(error)) from None

    return Reply(201, await api.write(run))


async def send_fix(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets/{id}/fix`` with ``{}`` or ``{"expires_in_s"}``: the ticket's command
    fix queued with the ticket's id (201); 409 when the ticket has none or one already waits."""
    raw = call.captures["id"]
    if not TICKET_ID.fullmatch(raw):
        raise not_found(f"no ticket {raw[:20]}")
    ticket_id, who = int(raw), call.who
    config = api.config.commands
    body = _body(api, call)
    if set(body) - {"expires_in_s"}:
        raise bad_request("a fix takes only expires_in_s; the command comes from the ticket's finding",
                          code="invalid_command")
    expires = parse(config, {"text": "fix", **body}).expires_in_s
    desk = api.desk
    if desk is None:
        raise ApiError(503, "unavailable", "tickets are not enabled on this server")
    now = api.now()

    def run(db: Connection) -> dict[str, Any]:
        visible(db, who, ticket_id)
        try:
            return fixes.send_fix(db, desk.lifecycle, ticket_id, by(who), now, expires_in_s=expires,
                                  proof_window_s=config.proof_window_s, max_waiting=config.max_waiting_per_device)
        except TicketNotFound as error:
            raise not_found(str(error)) from None
        except (TicketError, CommandRefused) as error:
            raise ApiError(409, "conflict", str(error)) from None

    return Reply(201, await api.write(run))


COMMAND_HANDLERS = {
    "device.commands": list_commands,
    "device.commands.create": create_command,
    "ticket.fix": send_fix,
}
COMMAND_ROUTES = (
    (("api", "v1", "devices", "{imei}", "commands"), {"GET": "device.commands", "POST": "device.commands.create"}),
    (("api", "v1", "tickets", "{id}", "fix"), {"POST": "ticket.fix"}),
)
