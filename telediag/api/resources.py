"""The twisted.web side: one leaf resource that routes by path segments and method.

Order of checks for every request: path (404), method (405), token (401), role (403), then the
endpoint (which checks its parameters and body). Whatever happens, the answer is JSON: an ApiError
renders as its error document, a busy store as 503, anything unexpected as a 500 that names a
reference to look up in the server log and never carries a traceback.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import unquote

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from telediag.api import policy
from telediag.api.auth import Principal, authenticate, bearer_token
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError, error_body, method_not_allowed, not_found, store_unavailable
from telediag.api.handlers import HANDLERS, SELF_AUTHENTICATED, Call
from telediag.api.jsonio import encode, response_headers
from telediag.api.kb_handlers import KB_HANDLERS, KB_ROUTES
from telediag.api.params import Query
from telediag.api.ticket_handlers import TICKET_HANDLERS, TICKET_ROUTES
from telediag.api.traffic_handlers import TRAFFIC_HANDLERS, TRAFFIC_ROUTES
from telediag.commands.api import COMMAND_HANDLERS, COMMAND_ROUTES
from telediag.mail.api import MAIL_HANDLERS, MAIL_ROUTES
from telediag.store.database import UNAVAILABLE_ERRORS
from telediag.store.reader import Reader

ROUTES: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("healthz",), {"GET": "healthz"}),
    (("metrics",), {"GET": "metrics"}),
    (("api", "v1", "devices"), {"GET": "devices.list", "POST": "devices.create"}),
    (("api", "v1", "devices", "{imei}"), {"GET": "device.detail"}),
    (("api", "v1", "devices", "{imei}", "records"), {"GET": "device.records"}),
    (("api", "v1", "devices", "{imei}", "journeys"), {"GET": "device.journeys"}),
    (("api", "v1", "devices", "{imei}", "selfcheck"), {"GET": "device.selfcheck"}),
    (("api", "v1", "findings"), {"GET": "findings.list"}),
    (("api", "v1", "connectivity", "events"), {"GET": "events.list", "POST": "events.create"}),
    *TICKET_ROUTES,
    *KB_ROUTES,
    *MAIL_ROUTES,
    *TRAFFIC_ROUTES,
    *COMMAND_ROUTES,
)
"""Path pattern -> method -> endpoint name (the names ``policy.ENDPOINT_ROLES`` and ``HANDLERS`` use)."""

Answer = tuple[int, bytes, dict[str, str]]


def match(segments: list[str]) -> tuple[dict[str, str], dict[str, str]] | None:
    """The methods of the route matching ``segments`` and its ``{name}`` captures."""
    for pattern, methods in ROUTES:
        if len(pattern) != len(segments):
            continue
        captures: dict[str, str] = {}
        for part, segment in zip(pattern, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    break
                captures[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            return methods, captures
    return None


def path_segments(request: Request) -> list[str]:
    """Decoded path segments; one trailing slash is ignored."""
    segments = [unquote(s, errors="replace") for s in request.path.decode("latin-1").split("/")[1:]]
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    return segments


def _authenticate(reader: Reader, token: str) -> Principal:
    return authenticate(reader.connection, token)


def _filtered(api: ApiBackend, principal: Principal, body: Any) -> bytes:
    return encode(policy.filter_body(principal, body, api.pseudonyms))


class ApiResource(Resource):
    """The whole API under one leaf resource (routing is the ROUTES table, not a child tree)."""

    isLeaf = True
    log = Logger()

    def __init__(self, api: ApiBackend) -> None:
        Resource.__init__(self)
        self.api = api

    def render(self, request: Request) -> Any:
        gone = [False]
        request.notifyFinish().addErrback(lambda _: gone.__setitem__(0, True))
        answering = defer.Deferred.fromCoroutine(self._answer(request))
        answering.addCallback(self._send, request, gone)
        answering.addErrback(self._send_failed, request, gone)
        return NOT_DONE_YET

    async def _answer(self, request: Request) -> Answer:
        try:
            found = match(path_segments(request))
            if found is None:
                raise not_found("no such path; the API is under /api/v1 (see DESIGN.md, HTTP API)")
            methods, captures = found
            method = request.method.decode("latin-1")
            endpoint = methods.get("GET" if method == "HEAD" else method)
            if endpoint is None:
                raise method_not_allowed(set(methods) | ({"HEAD"} if "GET" in methods else set()))
            call = Call(request, Query(request.uri), captures=captures)
            if endpoint not in policy.PUBLIC_ENDPOINTS and endpoint not in SELF_AUTHENTICATED:
                token = bearer_token(request)
                call.principal = await self.api.read(_authenticate, token)
                policy.check_allowed(call.principal, endpoint)
            handler = (HANDLERS.get(endpoint) or TICKET_HANDLERS.get(endpoint) or MAIL_HANDLERS.get(endpoint)
                       or COMMAND_HANDLERS.get(endpoint) or TRAFFIC_HANDLERS.get(endpoint) or KB_HANDLERS[endpoint])
            reply = await handler(self.api, call)
            if reply.content_type is not None:  # ready bytes (Prometheus text), not a JSON body
                return reply.status, reply.body, {"Content-Type": reply.content_type}
            if call.principal is None:
                return reply.status, encode(reply.body), {}
            body = await self.api.compute(_filtered, self.api, call.principal, reply.body)
            return reply.status, body, {}
        except ApiError as error:
            return error.status, encode(error.body()), error.headers
        except UNAVAILABLE_ERRORS as error:
            self.log.warn("API {method} {path}: store unavailable: {error}",
                          method=request.method, path=request.path, error=error)
            unavailable = store_unavailable()
            return unavailable.status, encode(unavailable.body()), unavailable.headers
        except Exception:
            return self._internal(request, Failure())

    def _internal(self, request: Request, failure: Failure) -> Answer:
        """A 500 naming a reference; the traceback goes to the server log only."""
        ref = secrets.token_hex(4)
        self.log.failure("API {method} {path} failed (ref {ref})", failure=failure,
                         method=request.method, path=request.path, ref=ref)
        body = encode(error_body("internal_error", f"internal error; the server log has the details (ref {ref})"))
        return 500, body, {}

    def _send(self, answer: Answer, request: Request, gone: list[bool]) -> None:
        if gone[0]:
            return
        status, body, headers = answer
        request.setResponseCode(status)
        for name, value in response_headers(body, headers).items():
            request.setHeader(name, value)
        request.setHeader("Server", "telediag")  # not twisted.web's version banner
        request.write(body)
        request.finish()

    def _send_failed(self, failure: Failure, request: Request, gone: list[bool]) -> None:
        """Last resort: writing the answer itself failed."""
        self.log.failure("API answer to {path} could not be written", failure=failure, path=request.path)
        if not gone[0] and not request.startedWriting:
            self._send((500, encode(error_body("internal_error", "internal error")), {}), request, gone)
