"""``/fleet``: the technical team's fleet health (counts per finding code, filters, devices by severity),
and ``/fleet/live``, the same counts and table as a fragment that ``static/live.js`` refreshes.

Technical, IT and admin staff only; the customer and the customer office get the 404 page (the fleet
is not theirs to know of). What is shown passes through the API's output filter, so technical and IT
staff read account pseudonyms, never names, plates or contacts.
"""

from __future__ import annotations

from typing import Any

from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.policy import PSEUDONYMISED
from telediag.diagnostics.catalogue import FINDINGS
from telediag.web.answers import Page, fragment
from telediag.web.areas import PageRequest
from telediag.web.fleet import (
    FLEET_ROLES,
    PAGE_SIZES,
    BadFilter,
    fleet_choices,
    fleet_view,
    parse_query,
)
from telediag.web.trackers import visible_part

LIVE_INTERVAL_S = 10
"""How often the open page refreshes its counts and table; ``?refresh=N`` (1-600 s) changes it."""
_MAX_INTERVAL_S = 600
CHOICES_TTL_S = 60.0
"""How long the filter form's choices are reused: they change when devices are added or change network,
and finding every device's operator for them costs a look at each device."""


def live_interval(value: str | None) -> int:
    """The refresh interval a query asks for, within 1-600 s; the default for anything else."""
    if value and value.isascii() and value.isdigit() and len(value) <= 3 and 1 <= int(value) <= _MAX_INTERVAL_S:
        return int(value)
    return LIVE_INTERVAL_S


class FleetPages:
    """The fleet page and its live fragment, through the API's output filter."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api
        self._choices: tuple[float, dict[str, Any]] | None = None

    async def answer(self, request: PageRequest) -> Page | None:
        session = request.session
        if session.role not in FLEET_ROLES or request.method != b"GET":
            return None
        if request.segments not in (["fleet"], ["fleet", "live"]):
            return None
        live = len(request.segments) == 2
        principal = session.principal
        try:
            wanted = parse_query(request.query, principal)
            found = await self.api.read(fleet_view(principal, self.api.pseudonyms, wanted))
        except BadFilter as error:
            return self._bad_filter(request, request.gettext(error.message) % {"value": error.value})
        except ApiError as error:
            if error.status != 400:
                raise
            return self._bad_filter(request, error.message)
        view = visible_part(self.api, principal, found)
        context: dict[str, Any] = {"view": view, "wanted": wanted, "findings": FINDINGS}
        if live:
            return fragment(request.render("fleet_live.html", **context))
        choices = visible_part(self.api, principal, await self.form_choices())
        if principal.role in PSEUDONYMISED:  # pseudonyms in their own order: names' order tells nothing
            choices["accounts"] = sorted(choices["accounts"])
        return Page(200, request.render(
            "fleet.html", choices=choices, page_sizes=PAGE_SIZES, live_url="/fleet/live?" + wanted.query_string(),
            live_interval=live_interval(request.query.get("refresh")), **context))

    async def form_choices(self) -> dict[str, Any]:
        """The filter form's choices (account names: the caller filters them), at most CHOICES_TTL_S old."""
        now = self.api.now()
        if self._choices is None or not 0 <= now - self._choices[0] < CHOICES_TTL_S:
            self._choices = (now, await self.api.read(fleet_choices()))
        return self._choices[1]

    @staticmethod
    def _bad_filter(request: PageRequest, message: str) -> Page:
        """400: the filter cannot be one; the page says which and offers the whole fleet."""
        return Page(400, request.pages.message(request.gettext("Bad filter"), message, "/fleet",
                                               request.gettext("Show the whole fleet")))
