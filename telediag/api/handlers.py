"""One coroutine per endpoint: read the parameters, run the work on a thread, return the body.

Handlers never check roles or filter output themselves: ``resources`` asks the policy before calling
them and filters what they return, so an endpoint added here is covered by the same rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.web.server import Request

from telediag import languages as i18n
from telediag.api import reads, writes
from telediag.api.auth import Principal, bearer_token
from telediag.api.backend import ApiBackend
from telediag.api.errors import bad_request, not_found, too_many_items, unauthorized
from telediag.api.jsonio import read_json
from telediag.api.params import IMEI, MAX_ITEMS_PER_POST, Query
from telediag.diagnostics.selfcheck import translate_selfcheck
from telediag.metrics import CONTENT_TYPE
from telediag.store.reader import Reader


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    query: Query
    principal: Principal | None = None
    captures: dict[str, str] = field(default_factory=dict)

    @property
    def imei(self) -> str:
        """The ``{imei}`` path segment; 404 when it cannot be an IMEI."""
        imei = self.captures["imei"]
        if not IMEI.fullmatch(imei):
            raise not_found(f"no device {imei[:40]}")
        return imei

    @property
    def who(self) -> Principal:
        """The authenticated caller (every endpoint but /healthz has one)."""
        assert self.principal is not None
        return self.principal


@dataclass
class Reply:
    """Status and body of a successful answer (the body still goes through the policy filter)."""

    status: int
    body: Any
    content_type: str | None = None
    """Set for a body of ready bytes in another format (``/metrics``): sent as is, never as JSON."""


Handler = Callable[[ApiBackend, Call], Awaitable[Reply]]


def _page(items: list[Any], limit: int, key: str, **extra: Any) -> dict[str, Any]:
    return {**extra, key: items[:limit], "count": min(len(items), limit), "truncated": len(items) > limit}


def _post_items(api: ApiBackend, call: Call, kind: str) -> list[Any]:
    items = writes.as_items(read_json(call.request, api.limits.max_body_bytes), kind)
    if len(items) > MAX_ITEMS_PER_POST:
        raise too_many_items(f"{kind}s", MAX_ITEMS_PER_POST)
    call.query.finish()
    return items


async def healthz(api: ApiBackend, call: Call) -> Reply:
    """``GET /healthz``: 200 when the store answers, 503 otherwise."""
    call.query.finish()
    try:
        ok = await api.read(reads.store_readable, api.database)
    except Exception:
        ok = False
    if ok:
        return Reply(200, {"status": "ok", "store": "ok"})
    return Reply(503, {"status": "unavailable", "store": "unreadable"})


async def list_devices(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/devices[?account=&limit=]``."""
    account, limit = call.query.text("account"), call.query.limit()
    call.query.finish()
    return Reply(200, await api.read(reads.devices_with_state, call.who, account, limit, api.pseudonyms))


async def create_devices(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/devices``: one entry or a list, in the import columns of DESIGN.md."""
    items = _post_items(api, call, "device")
    return Reply(200, await api.write(writes.create_devices, items, call.who, api.pseudonyms, api.now()))


async def device_detail(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/devices/{imei}``."""
    imei = call.imei
    call.query.finish()
    return Reply(200, await api.read(reads.device_detail, call.who, imei))


async def device_records(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/devices/{imei}/records[?since=&until=&limit=]``."""
    imei = call.imei
    since, until = call.query.window()
    limit = call.query.limit()
    call.query.finish()
    return Reply(200, await api.read(reads.records, call.who, imei, since, until, limit))


async def device_journeys(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/devices/{imei}/journeys[?since=&until=&limit=]``."""
    imei, who = call.imei, call.who
    since, until = call.query.window()
    limit = call.query.limit()
    call.query.finish()

    def run(reader: Reader) -> dict[str, Any]:
        reads.visible_device(reader, who, imei)
        return _page(list(api.diagnostics.journeys(imei, since, until)), limit, "journeys", imei=imei)

    return Reply(200, await api.read(run))


async def device_selfcheck(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/devices/{imei}/selfcheck[?lang=]``: texts in ``lang``, else the Accept-Language's."""
    imei, who = call.imei, call.who
    language = _language(call)
    call.query.finish()
    catalogue = i18n.catalogue(language)

    def run(reader: Reader) -> dict[str, Any]:
        reads.visible_device(reader, who, imei)
        return translate_selfcheck(api.diagnostics.selfcheck(imei), catalogue)

    body = await api.read(run)
    call.request.setHeader("Content-Language", language)
    call.request.setHeader("Vary", "Accept-Language")
    return Reply(200, body)


def _language(call: Call) -> str:
    """``?lang=`` (one of the console's languages), else the best for Accept-Language, else English."""
    asked = call.query.text("lang")
    if asked is None:
        return i18n.negotiate(call.request.getHeader("accept-language"))
    if asked not in i18n.LANGUAGES:
        raise bad_request(f"lang must be one of {', '.join(i18n.LANGUAGES)}", code="invalid_parameter")
    return asked


async def list_findings(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/findings[?imei=&code=&active=true|false|all&account=&limit=]``."""
    query, who = call.query, call.who
    imei, code, active = query.text("imei"), query.code(), query.active()
    account, limit = query.text("account"), query.limit()
    query.finish()

    def run(reader: Reader) -> dict[str, Any]:
        scope = reads.findings_scope(reader, who, imei, account, api.pseudonyms)
        if scope is not None and not scope:
            return _page([], limit, "findings")
        found = api.diagnostics.findings(scope, code, active)
        if scope is not None:  # whatever the implementation returns, nothing outside the scope leaves
            found = [f for f in found if isinstance(f, dict) and f.get("imei") in scope]
        return _page(list(found), limit, "findings")

    return Reply(200, await api.read(run))


async def create_events(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/connectivity/events``: one event or a list; all stored or none."""
    items = _post_items(api, call, "event")
    return Reply(200, await api.write(writes.store_events, items, api.now()))


async def list_events(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/connectivity/events?imei=|iccid=[&since=&until=&limit=]``."""
    query = call.query
    imei, iccid = query.text("imei"), query.text("iccid")
    since, until = query.window()
    limit = query.limit()
    query.finish()
    return Reply(200, await api.read(reads.connectivity_events, call.who, imei, iccid, since, until, limit))


async def metrics(api: ApiBackend, call: Call) -> Reply:
    """``GET /metrics``: Prometheus text; a bearer token only when ``[metrics] token`` is set."""
    exporter = api.metrics
    if exporter.token:
        if call.request.getHeader(b"authorization") is None:
            raise unauthorized("send Authorization: Bearer <the [metrics] token of the config>")
        if not exporter.token_matches(bearer_token(call.request)):
            raise unauthorized("the token is not the [metrics] token of the config", invalid_token=True)
    call.query.finish()
    return Reply(200, await exporter.render(api.read), content_type=CONTENT_TYPE)


SELF_AUTHENTICATED = frozenset({"metrics"})
"""Endpoints that check their own credentials instead of an API token (``[metrics] token``)."""

HANDLERS: dict[str, Handler] = {
    "healthz": healthz,
    "metrics": metrics,
    "devices.list": list_devices,
    "devices.create": create_devices,
    "device.detail": device_detail,
    "device.records": device_records,
    "device.journeys": device_journeys,
    "device.selfcheck": device_selfcheck,
    "findings.list": list_findings,
    "events.create": create_events,
    "events.list": list_events,
}
