"""``/traffic/unknown`` (senders no registered tracker accounts for, and trackers found speaking another
protocol than their port's) and ``/traffic/devices/{imei}`` (one tracker's raw frames; with
``/frames`` the same as a fragment, which the raw-traffic section of the tracker's page loads).

For the roles the API lets read raw traffic (``policy.TRAFFIC_READERS``); everyone else gets the
404 page, as for a tracker that is not theirs. Everything comes from the API's own functions
(``telediag.api.traffic_handlers``) and passes its output filter.
"""

from __future__ import annotations

from typing import Any

from telediag.api import policy
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.traffic_handlers import device_traffic_body, unknown_traffic_body
from telediag.ingest.traffic import FRAMES_PER_DEVICE
from telediag.web.answers import Page, fragment, not_found
from telediag.web.areas import PageRequest
from telediag.web.tracker_pages import DEVICE_ID
from telediag.web.trackers import visible_part

UNKNOWN_SHOWN = 200
"""Unknown senders and detections listed on the page."""
HEX_GROUP = 2
"""Hex shown in groups of this many bytes, so a person can count offsets."""


def grouped_hex(hex_text: str) -> str:
    """``78780d01`` as ``7878 0d01``."""
    step = HEX_GROUP * 2
    return " ".join(hex_text[i:i + step] for i in range(0, len(hex_text), step))


class TrafficPages:
    """The unknown senders' page and a tracker's raw frames."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        segments = request.segments
        if request.method != b"GET" or request.session.role not in policy.TRAFFIC_READERS:
            return None
        who = request.session.principal
        if segments == ["traffic", "unknown"]:
            found = visible_part(self.api, who, await unknown_traffic_body(self.api, UNKNOWN_SHOWN))
            return Page(200, request.render("traffic_unknown.html", grouped_hex=grouped_hex, **found))
        if len(segments) not in (3, 4) or segments[1] != "devices" or not DEVICE_ID.fullmatch(segments[2]):
            return None
        if len(segments) == 4 and segments[3] != "frames":
            return None
        try:
            found = await device_traffic_body(self.api, who, segments[2], FRAMES_PER_DEVICE)
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        visible: dict[str, Any] = visible_part(self.api, who, found)
        visible["frames"] = list(reversed(visible["frames"]))  # newest first on a page
        if len(segments) == 4:
            return fragment(request.render("traffic_frames.html", grouped_hex=grouped_hex, **visible))
        return Page(200, request.render("traffic_device.html", grouped_hex=grouped_hex, **visible))
