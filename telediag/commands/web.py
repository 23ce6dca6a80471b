"""The console's side of commands: the commands section of a tracker's page, the "send the fix"
offer on a staff ticket page, and the two forms behind them (``/commands/...``, CSRF checked by the
web resource before this area sees them):

- ``POST /commands/{imei}`` (``text``, ``expires_in_s``): queue a command, back to the tracker's page;
- ``POST /commands/fix/{ticket id}``: send the ticket's fix, back to the ticket.

Who may do what is the API's policy (``device.commands`` and ``device.commands.create``,
``ticket.fix``), and the history passes the API's output filter, so the pages and the API agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from telediag.api import policy
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.ticket_actions import TICKET_ID, by, visible
from telediag.commands import fixes, queue
from telediag.commands.api import parse
from telediag.commands.model import CommandRefused
from telediag.registry.repository import get_device
from telediag.store.database import Connection, transaction
from telediag.store.reader import Reader
from telediag.tickets.model import TicketError
from telediag.web.answers import Page, bad_request, not_found, redirect
from telediag.web.areas import PageRequest
from telediag.web.trackers import visible_part

DEVICE_ID = re.compile(r"[0-9]{14,17}")
SHOWN = 20
"""Commands listed on a tracker's page, newest first."""


def device_commands(api: ApiBackend, who: Principal, imei: str) -> Callable[[Reader], dict[str, Any] | None]:
    """Reader-thread work for a tracker's page: ``{"history", "can_send"}``, or None
    for a role that reads no command history. The page has already checked the tracker is visible."""

    def run(reader: Reader) -> dict[str, Any] | None:
        if who.role not in policy.COMMAND_READERS:
            return None
        history = visible_part(api, who, {"commands": queue.history(reader.connection, imei, SHOWN)})["commands"]
        return {"history": history, "can_send": who.role in policy.COMMAND_SENDERS}

    return run


def fix_offer(who: Principal, ticket_id: int) -> Callable[[Reader], dict[str, Any] | None]:
    """Reader-thread work for a staff ticket page: the fix a button may send (``{"imei", "code",
    "text"}``), or None (not a sender, no command fix, or one already waiting for proof)."""

    def run(reader: Reader) -> dict[str, Any] | None:
        if who.role not in policy.COMMAND_SENDERS:
            return None
        db = reader.connection
        fix = fixes.ticket_fix(db, ticket_id)
        if fix is None or db.execute("SELECT 1 FROM device_commands WHERE ticket_id = ? AND proof = 'waiting'",
                                     (ticket_id,)).fetchone():
            return None
        return {"imei": fix.imei, "code": fix.code, "text": fix.text}

    return run


class CommandPages:
    """The ``/commands`` area: the forms of the commands section and of the fix button."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        segments = request.segments
        if request.method != b"POST":
            return None
        if len(segments) == 2 and DEVICE_ID.fullmatch(segments[1]):
            return await self._send(request, segments[1])
        if len(segments) == 3 and segments[1] == "fix" and TICKET_ID.fullmatch(segments[2]):
            return await self._fix(request, int(segments[2]))
        return None

    def _refused(self, request: PageRequest) -> Page:
        _ = request.gettext
        return Page(403, request.pages.message(_("Forbidden"), _("This page is not available to your role."),
                                               "/devices", _("Trackers")))

    async def _send(self, request: PageRequest, imei: str) -> Page:
        who, form, _ = request.session.principal, request.form, request.gettext
        back = f"/devices/{imei}"
        if who.role not in policy.COMMAND_SENDERS:
            return self._refused(request)
        config = self.api.config.commands
        raw_expiry = form.get("expires_in_s", "")
        try:
            expires: Any = float(raw_expiry) if raw_expiry else config.default_expires_in_s
        except ValueError:
            expires = raw_expiry
        try:
            asked = parse(config, {"text": form.get("text", ""), "expires_in_s": expires})
        except ApiError as error:
            return bad_request(request.pages, "; ".join(error.details or [error.message]), back, _("Back"))
        now = self.api.now()

        def run(db: Connection) -> None:
            policy.check_device_visible(who, imei, get_device(db, imei))
            with transaction(db):
                queue.enqueue(db, imei, asked.text, by(who), now, asked.expires_in_s,
                              max_waiting=config.max_waiting_per_device)

        try:
            await self.api.write(run)
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        except CommandRefused as error:
            return Page(409, request.pages.message(_("Not sent"), str(error), back, _("Back")))
        return redirect(back + "#commands")

    async def _fix(self, request: PageRequest, ticket_id: int) -> Page:
        who, _ = request.session.principal, request.gettext
        back = f"/tickets/{ticket_id}"
        if who.role not in policy.COMMAND_SENDERS:
            return self._refused(request)
        desk, config, now = self.api.desk, self.api.config.commands, self.api.now()
        if desk is None:
            return not_found(request.pages)

        def run(db: Connection) -> None:
            visible(db, who, ticket_id)
            fixes.send_fix(db, desk.lifecycle, ticket_id, by(who), now, expires_in_s=config.default_expires_in_s,
                           proof_window_s=config.proof_window_s, max_waiting=config.max_waiting_per_device)

        try:
            await self.api.write(run)
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        except (TicketError, CommandRefused) as error:
            return Page(409, request.pages.message(_("Not sent"), str(error), back, _("Back")))
        return redirect(back)

