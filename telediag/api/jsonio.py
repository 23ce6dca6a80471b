"""JSON in and out, and the request-body limit enforced before any body byte is kept.

twisted.web normally buffers a whole body before a resource sees the request. ``BodyLimitedRequest``
looks at the declared length first (``gotLength``): a body over the limit, or one without a
Content-Length (chunked), is answered at once with 413/411 and never stored, so a client cannot make
the service hold more than ``max_body_bytes`` per request.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, cast

import orjson
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ITCPTransport
from twisted.python.failure import Failure
from twisted.web import http, server

from telediag.api.errors import (
    ApiError,
    bad_request,
    length_required,
    too_large,
    unsupported_media_type,
)

LINGER_S = 2.0
"""After refusing a body, keep reading (and dropping) it this long so the client can read the answer
instead of getting a connection reset; then the connection is aborted."""

_JSON_TYPES = {b"application/json"}


def _default(value: Any) -> Any:
    """Types JSON has no form for (bytes, sets, paths, ...) are written as text, never fail."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def encode(value: Any) -> bytes:
    """UTF-8 JSON; NaN and infinity become null (orjson's behaviour)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def response_headers(body: bytes, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers of every JSON answer: exact length, no caching (tokens and personal data), no sniffing."""
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    headers.update(extra or {})
    return headers


def raw_error_response(error: ApiError) -> bytes:
    """A complete HTTP/1.1 error response with ``Connection: close``, for use before a request exists."""
    body = encode(error.body())
    reason = http.RESPONSES.get(error.status, b"Error")
    lines = [b"HTTP/1.1 %d %s" % (error.status, reason)]
    headers = response_headers(body, error.headers)
    headers["Connection"] = "close"
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def half_close(transport: Any) -> None:
    """Send FIN after what is written but keep reading, so a client still sending reads the answer
    instead of a reset; transports without half-close are closed."""
    try:
        transport.loseWriteConnection()
    except (AttributeError, NotImplementedError):
        transport.loseConnection()


class BodyLimitedRequest(server.Request):
    """A request that refuses an over-long or length-less body before reading it."""

    max_body_bytes = 1024 * 1024
    clock: IReactorTime | None = None
    refused: ApiError | None = None
    _linger: IDelayedCall | None = None

    def gotLength(self, length: int | None) -> None:
        if length is None:
            self._refuse(length_required())
        elif length > self.max_body_bytes:
            self._refuse(too_large(self.max_body_bytes))
        else:
            server.Request.gotLength(self, length)

    def _refuse(self, error: ApiError) -> None:
        """Answer now, stop keeping body bytes, close after the client had time to read."""
        self.refused = error
        self.content = io.BytesIO()
        self.requestHeaders.removeHeader(b"expect")  # no "100 Continue" after the refusal
        channel = self.channel
        channel.persistent = False
        transport = cast(ITCPTransport, channel.transport)  # the API's guarded TCP connection
        transport.write(raw_error_response(error))
        half_close(transport)
        if self.clock is not None:
            self._linger = self.clock.callLater(LINGER_S, transport.abortConnection)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused is None:
            server.Request.handleContentChunk(self, data)

    def process(self) -> None:
        if self.refused is None:
            server.Request.process(self)

    def connectionLost(self, reason: Failure) -> None:
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        server.Request.connectionLost(self, reason)


def limited_request_factory(max_body_bytes: int, clock: IReactorTime) -> type[BodyLimitedRequest]:
    """A request class bound to one service's limit and clock."""
    return type("LimitedRequest", (BodyLimitedRequest,), {"max_body_bytes": max_body_bytes, "clock": clock})


def read_json(request: server.Request, max_body_bytes: int) -> Any:
    """The parsed JSON body, after checking type, declared length and size (415/411/413/400)."""
    content_type = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise unsupported_media_type()
    declared = request.getHeader(b"content-length")
    if declared is None:
        raise length_required()
    try:
        length = int(declared)
    except ValueError:
        raise bad_request("Content-Length is not a number") from None
    if length > max_body_bytes:
        raise too_large(max_body_bytes)
    if length == 0:
        raise bad_request("the body is empty; send a JSON object or list", code="invalid_json")
    content = request.content
    assert content is not None  # twisted.web sets it once the request's length is known
    content.seek(0)
    data = content.read(max_body_bytes + 1)
    if len(data) > max_body_bytes:
        raise too_large(max_body_bytes)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise bad_request(f"the body is not valid JSON: {error}", code="invalid_json") from None
