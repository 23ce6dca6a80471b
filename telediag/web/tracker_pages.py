"""``/devices`` (the trackers this person may see) and ``/devices/{imei}`` (one tracker's page).

A tracker's page: the self-check (verdict, every check with its fix, "check again"), the last 24 h
as charts (external and battery voltage, GSM signal, satellites) and as a track with its journeys
over the country borders, and for technical, IT and admin the diagnosis behind it (findings with
their evidence, the connectivity timeline with 3GPP causes in words, protocol errors with hex
excerpts, the device's answers to Codec 12 questions). What each role gets is the JSON API's own
decision (``telediag.web.device_detail``), and everything passes the API's output filter.

Paths under a tracker:

- ``/devices/{imei}/live``: the verdict, the checks, the charts' summaries (and for staff the
  findings) as a fragment ``static/live.js`` puts in place, so new records and findings show
  without a reload;
- ``/devices/{imei}/charts/<name>.svg``: one chart or the map, drawn server-side (matplotlib) and
  kept per (tracker, newest record, minute, language), through the same visibility rules.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from twisted.internet.defer import DeferredLock

from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.policy import sees_positions
from telediag.commands.web import device_commands
from telediag.web.answers import Page, fragment, not_found
from telediag.web.areas import PageRequest
from telediag.web.charts import render_chart
from telediag.web.device_detail import PARTS_LIVE, PARTS_PAGE, chart_data, device_page, sees_telemetry
from telediag.web.device_view import CHARTS, TRACK, chart_of, track_of, view
from telediag.web.track_map import render_track
from telediag.web.trackers import tracker_list, visible_part

DEVICE_ID = re.compile(r"[0-9]{14,17}")
"""An IMEI in a page path: ASCII digits only, as in the API."""
LIVE_INTERVAL_S = 15
"""How often an open tracker page asks for its live part."""
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
"""An image's own policy, for when it is opened on its own: matplotlib styles its shapes with style
attributes, and an image has nothing else to load and no script to run."""
CACHED_IMAGES = 256
"""Drawn SVGs kept (each 10-25 kB): a chart is drawn once per new record or minute, not per viewer."""


class ImageCache:
    """The newest drawn SVGs, least recently used dropped first (used on the reactor thread only)."""

    def __init__(self, size: int = CACHED_IMAGES) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[str, ...], bytes] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> bytes | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: tuple[str, ...], svg: bytes) -> None:
        self.entries[key] = svg
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


class TrackerPages:
    """The tracker list and a tracker's page, through the API's reads and output filter."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api
        self.images = ImageCache()
        self.drawing = DeferredLock()
        """One drawing at a time in the API's reader pool (matplotlib draws behind a lock anyway): the
        other reader threads stay free for the store instead of waiting on that lock."""

    async def answer(self, request: PageRequest) -> Page | None:
        segments = request.segments
        if request.method != b"GET" or len(segments) > 4:
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
        rest = segments[2:]
        try:
            if not rest:
                return await self._page(request, imei)
            if rest == ["live"]:
                return await self._live(request, imei)
            if len(rest) == 2 and rest[0] == "charts" and rest[1].endswith(".svg"):
                return await self._image(request, imei, rest[1][:-len(".svg")])
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        return None

    async def _gather(self, request: PageRequest, imei: str, parts: frozenset[str]) -> dict[str, Any]:
        principal = request.session.principal
        found = await self.api.read(device_page(self.api, principal, imei, self.api.now(), parts,
                                                request.pages.translations))
        return visible_part(self.api, principal, found)

    async def _page(self, request: PageRequest, imei: str) -> Page:
        visible = await self._gather(request, imei, PARTS_PAGE)
        context = view(visible, request.gettext, request.pages.language)
        commands = await self.api.read(device_commands(self.api, request.session.principal, imei))
        return Page(200, request.render("device.html", live_interval=LIVE_INTERVAL_S, commands=commands, **context))

    async def _live(self, request: PageRequest, imei: str) -> Page:
        visible = await self._gather(request, imei, PARTS_LIVE)
        context = view(visible, request.gettext, request.pages.language)
        return fragment(request.render("device_live.html", **context))

    async def _image(self, request: PageRequest, imei: str, name: str) -> Page | None:
        """One chart or the map; 403 for a role the API refuses records to (it checks the role first)."""
        if name not in CHARTS and name != TRACK:
            return None
        principal = request.session.principal
        _ = request.gettext
        if not sees_telemetry(principal):
            return Page(403, request.pages.message(_("Forbidden"), _("This page is not available to your role."),
                                                   "/devices", _("Trackers")))
        found = await self.api.read(chart_data(self.api, principal, imei, self.api.now(), name == TRACK))
        visible = visible_part(self.api, principal, found)
        telemetry = visible.get("telemetry")
        if telemetry is None:
            return not_found(request.pages)
        language = request.pages.language
        key = (imei, name, str(telemetry["version"]), language)
        svg = self.images.get(key)
        if svg is None:
            def drawing() -> bytes:
                if name == TRACK:
                    journeys = visible.get("journeys", {}).get("journeys", [])
                    return render_track(track_of(telemetry, journeys, _, language))
                return render_chart(chart_of(CHARTS[name], telemetry, _))
            await self.drawing.acquire()
            try:
                svg = self.images.get(key)  # drawn meanwhile for another viewer
                if svg is None:
                    svg = await self.api.compute(drawing)
                    self.images.put(key, svg)
            finally:
                self.drawing.release()
        return Page(200, svg, {"Content-Type": "image/svg+xml", "Content-Security-Policy": SVG_POLICY})
