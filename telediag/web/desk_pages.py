"""``/desk``: the staff's ticket queue per team (a customer gets the 404 page)."""

from __future__ import annotations

from telediag.api.backend import ApiBackend
from telediag.tickets.model import TEAMS
from telediag.web.answers import Page
from telediag.web.areas import PageRequest
from telediag.web.desk import STAFF_ROLES, queue, team_of
from telediag.web.trackers import visible_part


class DeskPages:
    """The queue, most urgent due time first."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        session = request.session
        if request.segments != ["desk"] or request.method != b"GET" or session.role not in STAFF_ROLES:
            return None
        team = team_of(request.query.get("team"))
        found = await self.api.read(queue(session.principal, team))
        visible = visible_part(self.api, session.principal, found)
        return Page(200, request.render("desk.html", tickets=visible["tickets"], truncated=visible["truncated"],
                                        team=team, teams=TEAMS))
