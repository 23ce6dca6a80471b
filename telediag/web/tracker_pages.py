"""``/devices`` (the trackers this person may see) and ``/devices/{imei}`` (one tracker's self-check)."""

from __future__ import annotations

import re

from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.policy import sees_positions
from telediag.web.answers import Page, not_found
from telediag.web.areas import PageRequest
from telediag.web.trackers import tracker_list, tracker_selfcheck, visible_part

DEVICE_ID = re.compile(r"[0-9]{14,17}")
"""An IMEI in a page path: ASCII digits only, as in the API."""


class TrackerPages:
    """The tracker list and a tracker's page, through the API's reads and output filter."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        segments = request.segments
        if request.method != b"GET" or len(segments) > 2:
            return None
        principal = request.session.principal
        if len(segments) == 1:
            listed = await self.api.read(tracker_list(self.api, principal))
            visible = visible_part(self.api, principal, listed)
            return Page(200, request.render("devices.html", devices=visible["devices"],
                                            truncated=visible["truncated"], positions=sees_positions(principal)))
        imei = segments[1]
        if not DEVICE_ID.fullmatch(imei):
            return None
        try:
            found = await self.api.read(tracker_selfcheck(self.api, principal, imei))
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        visible = visible_part(self.api, principal, found)
        return Page(200, request.render("device.html", device=visible["device"], selfcheck=visible["selfcheck"]))
