"""``/outages`` (mass outages, open ones first) and ``/outages/{ticket id}`` (one outage: its parent
ticket, what its devices share, its children and the affected devices), for technical, IT and admin.
Everyone else gets the 404 page, as for an id that is not an outage parent.
"""

from __future__ import annotations

from telediag.api import ticket_actions as actions
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.web.answers import Page, bad_page_number, not_found
from telediag.web.areas import PageRequest
from telediag.web.outages import (
    MAX_CHILDREN,
    MAX_DEVICES,
    OUTAGE_ROLES,
    OUTAGES_PER_PAGE,
    outage_detail,
    outage_list,
)
from telediag.web.paging import page_number


class OutagePages:
    """The outage list and an outage's page, from the API's ticket documents and output filter."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        segments = request.segments
        if request.method != b"GET" or request.session.role not in OUTAGE_ROLES or len(segments) > 2:
            return None
        who = request.session.principal
        if len(segments) == 1:
            page = page_number(request.query.get("page"))
            if page is None:
                return bad_page_number(request.pages, "/outages", request.gettext("All outages"))
            found = await self.api.read(outage_list(self.api, who, page))
            return Page(200, request.render("outages.html", outages=found["outages"], page=page, more=found["more"],
                                            open_count=found["open"], per_page=OUTAGES_PER_PAGE))
        if not actions.TICKET_ID.fullmatch(segments[1]):
            return None
        try:
            found = await self.api.read(outage_detail(self.api, who, int(segments[1])))
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        return Page(200, request.render("outage.html", max_children=MAX_CHILDREN, max_devices=MAX_DEVICES, **found))
