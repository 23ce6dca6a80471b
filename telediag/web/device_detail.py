"""Everything a tracker's page shows, read in one go on a reader thread, within the API's rules.

Which parts a person gets is the JSON API's decision, mirrored exactly (``telediag.api.policy``):
the device itself and its self-check for every role that may know the device; records (the charts
and the track) and journeys only for the roles the API lets call ``/records`` and ``/journeys``
(never the customer office); the diagnosis internals (findings with evidence, the connectivity
timeline, protocol errors with their raw bytes, the device's own answers to server commands) for the
technical and IT departments and admins. Another account's tracker is the API's 404. The page still
passes everything through ``visible_part`` before it renders.

Bounded: the charts and the track read at most ``MAX_SCANNED`` records of the last 24 h and return
at most ``MAX_POINTS`` points (one per ``WINDOW_S / MAX_POINTS`` seconds, aggregated in SQL);
every list has a fixed cap.

Records whose clock cannot place them (no fix time, one further ahead of their arrival than the
diagnostics' ``clock_future_tolerance_s`` or further behind it than ``clock_past_limit_s``) are left
out of the charts, the track and the journeys, and counted, so the page can say so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from protocols.record import iso_utc
from telediag.api import policy, reads
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.config import Thresholds
from telediag.diagnostics.selfcheck import translate_selfcheck
from telediag.diagnostics.wording import ENGLISH, Catalogue, said
from telediag.store.database import Dialect
from telediag.store.reader import Reader

WINDOW_S = 86_400.0
"""The page shows the last 24 h."""
MAX_POINTS = 720
"""Points per chart (one per 2 min over 24 h): more than a 40rem-wide chart can show apart."""
MAX_SCANNED = 50_000
"""Records read per page at most (a device reporting every second sends 86 400 a day): the newest."""
MAX_JOURNEYS = 50
MAX_FINDINGS = 30
MAX_EVENTS = 50
MAX_ERRORS = 20
MAX_EXCERPT_BYTES = 64
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
STAFF = frozenset({"technical", "it", "admin"})
"""Who reads the diagnosis internals on a tracker's page (the people who act on them)."""
SERIES = ("ext_voltage_v", "battery_voltage_v", "gsm_signal_pct", "satellites")
"""The charted record fields, each as DESIGN.md names it."""

PARTS_PAGE = frozenset({"telemetry", "journeys", "staff"})
PARTS_LIVE = frozenset({"telemetry", "findings"})

ReaderWork = Callable[[Reader], dict[str, Any]]


def may_call(principal: Principal, endpoint: str) -> bool:
    """Whether the JSON API lets this principal call ``endpoint`` (``policy.ENDPOINT_ROLES``)."""
    return principal.role in policy.ENDPOINT_ROLES.get(endpoint, frozenset())


def sees_telemetry(principal: Principal) -> bool:
    """Charts and track: the API's ``/records`` rule (the customer office may not)."""
    return may_call(principal, "device.records") and policy.sees_positions(principal)


def sees_diagnosis(principal: Principal) -> bool:
    """Findings, evidence, the connectivity timeline, protocol errors and command answers."""
    return principal.role in STAFF and may_call(principal, "findings.list") and may_call(principal, "events.list")


@dataclass(frozen=True)
class Window:
    """The 24 h a page shows, ending at the next whole minute (so one minute's requests share it)."""

    since: float
    until: float

    @classmethod
    def ending(cls, now: float) -> Window:
        until = math.ceil(now / 60.0) * 60.0
        return cls(until - WINDOW_S, until)


_TIMED = ("SELECT fix_time AS t, id, valid, lat, lon, ext_voltage_v, battery_voltage_v, gsm_signal_pct, satellites "
          "FROM records WHERE imei = ? AND fix_time >= ? AND fix_time < ? "
          "AND fix_time <= server_time + ? AND fix_time >= server_time - ? ORDER BY fix_time DESC LIMIT ?")
"""Walks the (imei, fix_time) index backwards from the window's end, at most MAX_SCANNED entries."""
_BAD_CLOCK = ("SELECT count(*) FROM records WHERE imei = ? AND server_time >= ? AND server_time < ? "
              "AND (fix_time IS NULL OR fix_time > server_time + ? OR fix_time < server_time - ?)")
"""Records that arrived within the window with a clock that cannot place them (``records_by_arrival``)."""


@cache
def _aggregate_sql(dialect: Dialect) -> str:
    series = ", ".join(f"min({name}), max({name}), count({name})" for name in SERIES)
    return (
        f"SELECT {dialect.truncate('(t - ?) / ?')} AS bucket, avg(t), "
        f"avg(CASE WHEN valid <> 0 THEN lat END), avg(CASE WHEN valid <> 0 THEN lon END), {series}, max(id), "
        f"count(*) FROM ({_TIMED}) AS newest GROUP BY bucket ORDER BY bucket"
    )


def telemetry(
    db: Any, dialect: Dialect, imei: str, window: Window, thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """The charts' and the track's data for one device and window, aggregated per bucket.

    Each chart point is the lowest reading of its bucket (the charts are there to show drops: a cut
    feed, a failing battery, a lost signal); the summary's highest comes from the buckets' highest
    and its last from the newest reading itself. Track points average the bucket's valid fixes.
    ``left_out_bad_clock`` counts the records of the window left out for their clock.
    """
    bucket_s = WINDOW_S / MAX_POINTS
    limits = thresholds or Thresholds()
    ahead, behind = limits.clock_future_tolerance_s, limits.clock_past_limit_s
    rows = db.execute(_aggregate_sql(dialect), (window.since, bucket_s, imei, window.since, window.until,
                                                ahead, behind, MAX_SCANNED)).fetchall()
    (left_out,) = db.execute(_BAD_CLOCK, (imei, window.since, window.until, ahead, behind)).fetchone()
    read = sum(row[-1] for row in rows)
    charts: dict[str, Any] = {}
    for index, name in enumerate(SERIES):
        base = 4 + 3 * index
        kept = [(row[1], row[base], row[base + 1]) for row in rows if row[base + 2]]
        last = _last(db, imei, name, window, ahead, behind)
        charts[name] = {
            "times": [k[0] for k in kept], "lows": [k[1] for k in kept],
            "count": sum(row[base + 2] for row in rows),
            "low": min((k[1] for k in kept), default=None), "high": max((k[2] for k in kept), default=None),
            "last": last[0], "last_at": last[1],
        }
    fixes = [(row[1], row[2], row[3]) for row in rows if row[2] is not None and row[3] is not None]
    newest = max((row[-2] for row in rows), default=0)
    return {
        "since": window.since, "until": window.until, "read": read, "truncated": read >= MAX_SCANNED,
        "left_out_bad_clock": int(left_out),
        "version": f"{newest}-{int(window.until)}",
        "charts": charts,
        "track": {"times": [f[0] for f in fixes], "lats": [f[1] for f in fixes], "lons": [f[2] for f in fixes]},
    }


def _last(
    db: Any, imei: str, column: str, window: Window, ahead: float, behind: float
) -> tuple[float | None, float | None]:
    """The newest reading of one column in the window, and its time (``column`` is one of SERIES)."""
    assert column in SERIES
    row = db.execute(f"SELECT {column}, fix_time FROM records WHERE imei = ? AND fix_time >= ? AND fix_time < ? "
                     f"AND {column} IS NOT NULL AND fix_time <= server_time + ? AND fix_time >= server_time - ? "
                     f"ORDER BY fix_time DESC LIMIT 1",
                     (imei, window.since, window.until, ahead, behind)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def journeys(api: ApiBackend, imei: str, window: Window) -> dict[str, Any]:
    """The window's journeys, oldest first, numbered as on the map; the newest MAX_JOURNEYS."""
    found = [j for j in api.diagnostics.journeys(imei, window.since, window.until) if isinstance(j, dict)]
    shown = found[-MAX_JOURNEYS:]
    return {
        "journeys": [{**j, "number": n} for n, j in enumerate(shown, start=1)],
        "truncated": len(found) > len(shown),
    }


def findings(api: ApiBackend, imei: str) -> list[dict[str, Any]]:
    """The device's findings, active first, then the most recently seen; at most MAX_FINDINGS."""
    found = [f for f in api.diagnostics.findings({imei}, None, None) if isinstance(f, dict) and f.get("imei") == imei]
    found.sort(key=lambda f: str(f.get("last_seen") or ""), reverse=True)
    found.sort(key=lambda f: not f.get("active"))  # stable: newest first within active and cleared
    return found[:MAX_FINDINGS]


_EVENT_COLUMNS = "id, at, type, cause, apn, mcc, mnc, rat"
_NEWEST_EVENTS = (
    f"SELECT {_EVENT_COLUMNS} FROM (SELECT {_EVENT_COLUMNS} FROM connectivity_events WHERE imei = ? "
    f"ORDER BY at DESC, id DESC LIMIT ?) AS by_imei "
    f"UNION SELECT {_EVENT_COLUMNS} FROM (SELECT {_EVENT_COLUMNS} FROM connectivity_events WHERE iccid = ? "
    f"ORDER BY at DESC, id DESC LIMIT ?) AS by_iccid ORDER BY at DESC, id DESC LIMIT ?"
)
"""The newest events by IMEI and by ICCID, each walked backwards on its own index and merged (an event
carrying both is one row), so a SIM with years of events costs the same as a new one."""


def connectivity_timeline(db: Any, imei: str, iccid: str | None) -> list[dict[str, Any]]:
    """The device's and its SIM's connectivity events, newest first (as ``/connectivity/events``
    finds them: by IMEI or by the SIM's ICCID)."""
    cursor = db.execute(_NEWEST_EVENTS, (imei, MAX_EVENTS, iccid or "", MAX_EVENTS, MAX_EVENTS))
    names = [d[0] for d in cursor.description]
    return [{**dict(zip(names[1:], row[1:], strict=True)), "at": iso_utc(row[1])} for row in cursor]


def protocol_errors(db: Any, imei: str) -> list[dict[str, Any]]:
    """The newest frames from this device that could not be decoded, with their hex excerpts."""
    cursor = db.execute("SELECT at, protocol, remote, message, excerpt FROM ingest_errors WHERE imei = ? "
                        "ORDER BY id DESC LIMIT ?", (imei, MAX_ERRORS))
    names = [d[0] for d in cursor.description]
    return [{**dict(zip(names, row, strict=True)), "at": iso_utc(row[0])} for row in cursor]


def command_answers(db: Any, imei: str) -> list[dict[str, Any]]:
    """What the device last answered to the server's Codec 12 questions (``device_evidence``)."""
    cursor = db.execute("SELECT name, value, at FROM device_evidence WHERE imei = ? ORDER BY at DESC LIMIT 20",
                        (imei,))
    return [{"name": name, "value": value, "at": iso_utc(at)} for name, value, at in cursor]


def device_page(api: ApiBackend, principal: Principal, imei: str, now: float, parts: Iterable[str],
                catalogue: Catalogue = ENGLISH) -> ReaderWork:
    """Reader-thread work: the parts of one tracker's page this principal may see (404 ApiError for a
    device the principal may not know, exactly as ``GET /api/v1/devices/{imei}``). The self-check and
    the findings' hints come in ``catalogue``'s language (said before the role filter copies them)."""
    wanted = frozenset(parts)

    def run(reader: Reader) -> dict[str, Any]:
        device = reads.device_detail(reader, principal, imei)
        db = reader.connection
        window = Window.ending(now)
        body: dict[str, Any] = {"device": device,
                                "selfcheck": translate_selfcheck(api.diagnostics.selfcheck(imei), catalogue),
                                "since": iso_utc(window.since), "until": iso_utc(window.until)}
        if "telemetry" in wanted and sees_telemetry(principal):
            body["telemetry"] = telemetry(db, api.database.dialect, imei, window, api.config.diagnostics)
        if "journeys" in wanted and may_call(principal, "device.journeys") and policy.sees_positions(principal):
            body["journeys"] = journeys(api, imei, window)
        if sees_diagnosis(principal):
            if wanted & {"findings", "staff"}:
                body["findings"] = [{**f, "hint": said(f.get("hint"), catalogue)} for f in findings(api, imei)]
            if "staff" in wanted:
                body["events"] = connectivity_timeline(db, imei, device.get("iccid"))
                body["errors"] = protocol_errors(db, imei)
                body["answers"] = command_answers(db, imei)
        return body

    return run


def chart_data(api: ApiBackend, principal: Principal, imei: str, now: float, with_journeys: bool) -> ReaderWork:
    """Reader-thread work for one chart or the map: the telemetry (and for the map the journeys);
    404 ApiError as above. The caller has checked ``sees_telemetry`` first, as the API checks the role
    before it looks the device up."""

    def run(reader: Reader) -> dict[str, Any]:
        reads.visible_device(reader, principal, imei)
        window = Window.ending(now)
        body: dict[str, Any] = {"telemetry": telemetry(reader.connection, api.database.dialect, imei, window,
                                                       api.config.diagnostics)}
        if with_journeys and may_call(principal, "device.journeys"):
            body["journeys"] = journeys(api, imei, window)
        return body

    return run


def hex_groups(excerpt: Any) -> str:
    """A stored hex excerpt as byte pairs in groups of eight, sixteen bytes a line (``000000ff8e01`` ->
    ``00 00 00 ff 8e 01``); empty for anything that is not hex (the store writes ``bytes.hex()``)."""
    if not isinstance(excerpt, str) or not _HEX.fullmatch(excerpt):
        return ""
    text = excerpt.lower()[:2 * MAX_EXCERPT_BYTES]
    pairs = [text[i:i + 2] for i in range(0, len(text), 2)]
    groups = [" ".join(pairs[i:i + 8]) for i in range(0, len(pairs), 8)]
    return "\n".join("  ".join(groups[i:i + 2]) for i in range(0, len(groups), 2))
