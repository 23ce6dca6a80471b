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
from dataclasses import dataclass
from typing import Any, Callable

from protocols.record import iso_utc, parse_iso_utc
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.policy import sees_positions
from telediag.web.answers import Page, fragment, not_found
from telediag.web.areas import PageRequest
from telediag.web.causes import EVENT_WORDS, explain
from telediag.web.charts import Chart, render_chart
from telediag.web.device_detail import (
    PARTS_LIVE, PARTS_PAGE, chart_data, device_page, evidence_items, hex_groups, sees_diagnosis, sees_telemetry,
)
from telediag.web.pages import when
from telediag.web.track_map import Journey, TrackMap, render_track
from telediag.web.trackers import tracker_list, visible_part

DEVICE_ID = re.compile(r"[0-9]{14,17}")
"""An IMEI in a page path: ASCII digits only, as in the API."""
LIVE_INTERVAL_S = 15
"""How often an open tracker page asks for its live part."""
CACHED_IMAGES = 256
"""Drawn SVGs kept (each 10-25 kB): a chart is drawn once per new record or minute, not per viewer."""


@dataclass(frozen=True)
class ChartSpec:
    """One chart: the record field it draws, its title and unit, and how its numbers are written."""

    field: str
    title: str
    unit: str
    digits: int
    y_range: tuple[float | None, float | None] = (None, None)
    steps: bool = False
    zero_line: bool = False


CHARTS: dict[str, ChartSpec] = {
    "ext_voltage": ChartSpec("ext_voltage_v", "External voltage", "V", 1, zero_line=True),
    "battery_voltage": ChartSpec("battery_voltage_v", "Battery voltage", "V", 2),
    "gsm_signal": ChartSpec("gsm_signal_pct", "GSM signal", "%", 0, (0.0, 100.0)),
    "satellites": ChartSpec("satellites", "Satellites", "", 0, (0.0, None), steps=True),
}
"""By the name in the image's path (``/devices/{imei}/charts/<name>.svg``)."""
TRACK = "track"
ANSWER_LABELS = {
    "apn": "APN the tracker reports (getparam 2001)",
    "apn_answer": "Answer to getparam 2001",
    "status": "Answer to getstatus",
}


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
        return Page(200, request.render("device.html", live_interval=LIVE_INTERVAL_S, **context))

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
            if name == TRACK:
                drawing: Callable[[], bytes] = lambda: render_track(
                    track_of(telemetry, visible.get("journeys", {}).get("journeys", []), _, language))
            else:
                drawing = lambda: render_chart(chart_of(CHARTS[name], telemetry, _))
            svg = await self.api.compute(drawing)
            self.images.put(key, svg)
        return Page(200, svg, {"Content-Type": "image/svg+xml"})


def view(visible: dict[str, Any], _: Callable[[str], str], language: str) -> dict[str, Any]:
    """The template context of a tracker's page (or its live part) from what the policy let through."""
    device = visible["device"]
    imei = device["imei"]
    context: dict[str, Any] = {"device": device, "tracker_name": device.get("vehicle_plate") or imei,
                               "selfcheck": visible["selfcheck"], "charts": None,
                               "track": None, "journeys": None, "findings": None, "events": None,
                               "errors": None, "answers": None, "truncated": False, "journeys_truncated": False}
    telemetry = visible.get("telemetry")
    if telemetry is not None:
        version = telemetry["version"]
        context["charts"] = [chart_view(name, spec, telemetry, imei, version, _) for name, spec in CHARTS.items()]
        context["truncated"] = bool(telemetry.get("truncated"))
        positions = len(telemetry.get("track", {}).get("lats", []))
        found = visible.get("journeys")
        count = len(found["journeys"]) if found else 0
        context["track"] = {
            "url": f"/devices/{imei}/charts/{TRACK}.svg?v={version}",
            "empty": positions == 0,
            "alt": track_summary(positions, count, _),
        }
    if "journeys" in visible:
        context["journeys"] = [journey_view(j) for j in visible["journeys"]["journeys"]]
        context["journeys_truncated"] = bool(visible["journeys"].get("truncated"))
    if "findings" in visible:
        context["findings"] = [{**f, "items": evidence_items(f.get("evidence") or {})} for f in visible["findings"]]
    if "events" in visible:
        context["events"] = [event_view(e, _) for e in visible["events"]]
    if "errors" in visible:
        context["errors"] = [{**e, "hex": hex_groups(e.get("excerpt"))} for e in visible["errors"]]
    if "answers" in visible:
        context["answers"] = [{**a, "label": _(ANSWER_LABELS.get(a["name"], a["name"]))} for a in visible["answers"]]
    return context


def _number(value: float | None, spec: ChartSpec) -> str:
    if value is None:
        return "?"
    text = f"{value:.{spec.digits}f}"
    return f"{text} {spec.unit}" if spec.unit else text


def chart_summary(spec: ChartSpec, data: dict[str, Any], _: Callable[[str], str]) -> str | None:
    """The chart in one sentence (its text alternative); None when it has no reading."""
    if not data.get("count"):
        return None
    return _("last %(last)s at %(time)s, lowest %(low)s, highest %(high)s, %(count)s readings") % {
        "last": _number(data.get("last"), spec), "time": when(_iso(data.get("last_at"))),
        "low": _number(data.get("low"), spec), "high": _number(data.get("high"), spec), "count": data["count"]}


def chart_view(name: str, spec: ChartSpec, telemetry: dict[str, Any], imei: str, version: str,
               _: Callable[[str], str]) -> dict[str, Any]:
    data = telemetry["charts"].get(spec.field) or {}
    summary = chart_summary(spec, data, _)
    title = _(spec.title)
    return {"name": name, "title": title, "summary": summary,
            "alt": f"{title}, {_('last 24 h')}: {summary}" if summary else "",
            "url": f"/devices/{imei}/charts/{name}.svg?v={version}"}


def chart_of(spec: ChartSpec, telemetry: dict[str, Any], _: Callable[[str], str]) -> Chart:
    """What :func:`render_chart` draws for one spec."""
    data = telemetry["charts"].get(spec.field) or {}
    summary = chart_summary(spec, data, _)
    return Chart(title=_(spec.title), unit=spec.unit, times=data.get("times", []), values=data.get("lows", []),
                 since=telemetry["since"], until=telemetry["until"],
                 description=summary or _("No data in the last 24 h"), empty_text=_("No data in the last 24 h"),
                 y_range=spec.y_range, steps=spec.steps, zero_line=spec.zero_line)


def track_summary(positions: int, journeys: int, _: Callable[[str], str]) -> str:
    if positions == 0:
        return _("No positions in the last 24 h")
    return _("Track of the last 24 h: %(positions)s positions, %(journeys)s journeys (numbered as in the list); "
             "the white dot is the last position.") % {"positions": positions, "journeys": journeys}


def track_of(telemetry: dict[str, Any], journeys: list[dict[str, Any]], _: Callable[[str], str],
             language: str) -> TrackMap:
    """What :func:`render_track` draws."""
    track = telemetry.get("track") or {}
    spans = []
    for journey in journeys:
        try:
            start = parse_iso_utc(journey["start_time"])
            end = parse_iso_utc(journey["end_time"]) if journey.get("end_time") else telemetry["until"]
        except (KeyError, TypeError, ValueError):
            continue
        spans.append(Journey(int(journey["number"]), start, end))
    positions = len(track.get("lats", []))
    return TrackMap(title=_("Track of the last 24 h"), description=track_summary(positions, len(spans), _),
                    empty_text=_("No positions in the last 24 h"), times=track.get("times", []),
                    lats=track.get("lats", []), lons=track.get("lons", []), journeys=spans, language=language)


def journey_view(journey: dict[str, Any]) -> dict[str, Any]:
    """A journey's row: times, duration as hours and minutes, distance in km."""
    duration = journey.get("duration_s")
    distance = journey.get("distance_m")
    minutes = int(round(duration / 60)) if isinstance(duration, (int, float)) else None
    return {
        "number": journey.get("number"), "start": journey.get("start_time"), "end": journey.get("end_time"),
        "ongoing": bool(journey.get("ongoing")),
        "duration": None if minutes is None else f"{minutes // 60} h {minutes % 60:02d} min",
        "distance": None if not isinstance(distance, (int, float)) else f"{distance / 1000:.1f} km",
        "max_speed": journey.get("max_speed_kmh"),
    }


def event_view(event: dict[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    """A connectivity event in words: what happened, and its 3GPP cause by name and meaning."""
    cause = explain(str(event.get("type")), event.get("cause"), event.get("rat"))
    network = None
    if event.get("mcc") is not None:
        network = f"{event['mcc']}-{event['mnc']:02d}" if isinstance(event.get("mnc"), int) else str(event["mcc"])
    return {
        **event, "what": _(EVENT_WORDS.get(str(event.get("type")), str(event.get("type")))), "network": network,
        "cause_name": _(cause.name) if cause else None, "cause_clause": cause.clause if cause else None,
        "cause_meaning": _(cause.meaning) if cause and cause.meaning else None,
        "rejected": str(event.get("type", "")).endswith("_reject"),
    }


def _iso(epoch: Any) -> str | None:
    return iso_utc(epoch) if isinstance(epoch, (int, float)) else None
