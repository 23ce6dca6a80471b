"""What a tracker's page says, in the reader's language: the template context built from what the
API's policy let through (``telediag.web.device_detail``), and what the charts and the map draw.

Pure: dictionaries in, dictionaries and drawing specifications out; texts go through the request's
``gettext``. Numbers are written with their unit and the precision a reading has; each chart gets a
one-sentence summary (last, lowest, highest, how many readings) that is its text alternative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocols.record import iso_utc, parse_iso_utc
from telediag.diagnostics.wording import N_
from telediag.web.causes import EVENT_WORDS, explain
from telediag.web.charts import Chart
from telediag.web.device_detail import hex_groups
from telediag.web.evidence import with_evidence_lines
from telediag.web.pages import when
from telediag.web.track_map import Journey, TrackMap


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
    "apn": N_("APN the tracker reports (getparam 2001)"),
    "apn_answer": N_("Answer to getparam 2001"),
    "status": N_("Answer to getstatus"),
}
"""The ``device_evidence`` names the diagnostics file Codec 12 answers under, in words."""


def view(visible: dict[str, Any], _: Callable[[str], str], language: str) -> dict[str, Any]:
    """The template context of a tracker's page (or its live part) from what the policy let through."""
    device = visible["device"]
    imei = device["imei"]
    context: dict[str, Any] = {"device": device, "tracker_name": device.get("vehicle_plate") or imei,
                               "selfcheck": visible["selfcheck"], "charts": None,
                               "track": None, "journeys": None, "findings": None, "events": None,
                               "errors": None, "answers": None, "truncated": False, "journeys_truncated": False,
                               "left_out_bad_clock": 0}
    telemetry = visible.get("telemetry")
    if telemetry is not None:
        version = telemetry["version"]
        context["charts"] = [chart_view(name, spec, telemetry, imei, version, _) for name, spec in CHARTS.items()]
        context["truncated"] = bool(telemetry.get("truncated"))
        context["left_out_bad_clock"] = int(telemetry.get("left_out_bad_clock") or 0)
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
        context["findings"] = with_evidence_lines(visible["findings"])
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
    """A chart's figure on the page: title, summary, image URL (versioned by the newest record and
    minute, so the browser asks again exactly when the drawing changes) and the image's alt text."""
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
    """The map in one sentence (its text alternative)."""
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
