"""``/desk``: the staff's ticket queue per team, a page at a time, and ``/desk/live``, the same queue as a
fragment that ``static/live.js`` puts in place every half minute (a customer gets the 404 page)."""

from __future__ import annotations

from urllib.parse import urlencode

from telediag.api.backend import ApiBackend
from telediag.tickets.model import TEAMS
from telediag.web.answers import Page, fragment
from telediag.web.areas import PageRequest
from telediag.web.desk import ALL_TEAMS, STAFF_ROLES, queue, team_of, with_marks
from telediag.web.paging import page_of
from telediag.web.trackers import visible_part

LIVE_INTERVAL_S = 30
"""How often an open queue asks for fresh due times and badges."""


class DeskPages:
    """The queue, most urgent due time first, with the person's own team first chosen."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        session = request.session
        if request.method != b"GET" or session.role not in STAFF_ROLES:
            return None
        if request.segments not in (["desk"], ["desk", "live"]):
            return None
        team = team_of(request.query.get("team"), session.role)
        page = page_of(request.query.get("page"))
        found = await self.api.read(queue(session.principal, team, page))
        visible = visible_part(self.api, session.principal, found)
        context = {**visible, "tickets": with_marks(visible["tickets"], self.api.now()), "team": team,
                   "teams": TEAMS, "all_teams": ALL_TEAMS, "page_link": _page_link(team)}
        if request.segments == ["desk", "live"]:
            return fragment(request.render("desk_queue.html", **context))
        live = "/desk/live?" + urlencode({"team": team, "page": page})
        return Page(200, request.render("desk.html", live=live, live_interval=LIVE_INTERVAL_S, **context))


def _page_link(team: str) -> str:
    """The queue URL without its page number (the template adds ``&page=N``)."""
    return "/desk?" + urlencode({"team": team})
