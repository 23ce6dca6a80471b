"""Server side of one OsmAnd HTTP connection (Traccar Client, OsmAnd, scripts): requests in, messages out.

HTTP/1.1 is parsed by h11 (sans-IO): keep-alive and pipelined requests work. Each request that
carries a position becomes a :class:`Report` whose ``ack`` is ``HTTP/1.1 200 OK`` with
``Content-Length: 0``: the service writes it once the records are committed, so the client retries
whatever was not stored.

Every error answer is the API's JSON shape, ``{"error": {"code", "message"}}`` with
``Content-Type: application/json``:

* a request without a device id or without a position: ``ProtocolError(reply=400, close=False)``
  (the connection stays usable);
* bytes that are not HTTP/1.1 (400), a request head over ``max_head`` bytes or with more than
  ``max_headers`` fields (431), a body over ``max_frame`` (413): ``ProtocolError(close=True)``,
  as h11 cannot resynchronise a broken stream;
* a request the service's frame deadline cut short: :meth:`ServerSession.timeout_reply` (408);
* a device the service refuses: ``REJECT_QUERY`` (400) or ``REJECT_JSON`` (404), Traccar's statuses.

The device id may be any printable text (Traccar Client lets the user type it); it is used as the
``imei`` string as it is. A request for a device other than the current one yields a new
:class:`Login` first (the service refuses a second device on one connection: behind a proxy that
pools connections, that is a limit to know).
"""

from __future__ import annotations

from typing import Literal

import h11
import orjson

from protocols.core import CONTENT_ERRORS, DEFAULT_MAX_FRAME, FeedLoop, Login, Message, ProtocolError, Report
from protocols.osmand.decode import decode_json, decode_query
from protocols.osmand.fields import BadRequest

MAX_HEAD = 16 * 1024
"""Request line plus headers; Traccar Client sends a few hundred bytes."""
MAX_HEADERS = 64
"""Header fields per request."""
_DECODE_ERRORS: tuple[type[Exception], ...] = (*CONTENT_ERRORS, TypeError, RecursionError)
"""What reading a request's values may raise (``BadRequest`` is a ``ValueError``)."""

_CLOSE = b"Connection: close\r\n"
_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            413: "Payload Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large",
            501: "Not Implemented", 505: "HTTP Version Not Supported"}
_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
          413: "payload_too_large", 414: "uri_too_long", 431: "header_fields_too_large",
          501: "not_implemented", 505: "http_version_not_supported"}


def simple_response(status: int, reason: str, close: bool = False) -> bytes:
    """A response with an empty body, as bytes (for answers given outside h11's state machine)."""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n".encode("ascii")
        + (_CLOSE if close else b"")
        + b"\r\n"
    )


def error_document(status: int, message: str, code: str | None = None) -> bytes:
    """``{"error": {"code", "message"}}``, the API's error shape."""
    return orjson.dumps({"error": {"code": code or _CODES.get(status, "error"), "message": message}})


def error_response(status: int, message: str, code: str | None = None, close: bool = True) -> bytes:
    """A JSON error answer as bytes (for answers given outside h11's state machine)."""
    body = error_document(status, message, code)
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    ).encode("ascii")
    return head + (_CLOSE if close else b"") + b"\r\n" + body


REJECT_QUERY = error_response(400, "this device is not accepted by the server", "device_refused")
REJECT_JSON = error_response(404, "this device is not accepted by the server", "device_refused")


Request = tuple[h11.Request, bytes]
"""One complete request: its head and its body."""


class ServerSession(FeedLoop[Request, Message]):
    """One HTTP connection: decodes requests in order and answers each after its commit.

    ``max_frame`` bounds a body, ``max_head`` the request line and headers (h11's incomplete-event
    limit for a head that arrives in pieces, a measurement for one that arrives whole) and
    ``max_headers`` their number. h11 keeps the bytes, so the feed loop's frames are whole requests.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, max_head: int = MAX_HEAD,
                 max_headers: int = MAX_HEADERS) -> None:
        super().__init__()
        self.imei: str | None = None
        self.max_frame = max_frame
        self.max_head = min(max_head, max_frame)
        self.max_headers = max_headers
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._closed = False

    @property
    def buffered(self) -> int:
        """Bytes of a request not complete yet (its head in h11's buffer, or a body under way)."""
        if self._closed:
            return 0
        waiting = len(self._conn.trailing_data[0])
        if self._request is not None:
            waiting += len(self._body) + 1  # a head was read: the request is open until its end
        return waiting

    def timeout_reply(self) -> bytes:
        """The answer to a request the service's frame deadline cut short: 408, then close."""
        self._closed = True
        return error_response(408, "the request did not arrive in time")

    def _receive(self, data: bytes) -> None:
        if data:
            if self._closed:
                raise ProtocolError("data on a connection that is closing", close=True, excerpt=data)
            self._conn.receive_data(data)

    def _fatal(self, message: str, status: int) -> ProtocolError:
        self._closed = True
        excerpt = self._conn.trailing_data[0][:64]
        return ProtocolError(message, reply=error_response(status, message), close=True, excerpt=excerpt)

    def _next_frame(self) -> Request | None:
        """Read h11 events up to the end of a request; None when more bytes are needed."""
        while not self._closed:
            request = self._step()
            if request is not False:
                return request
        return None

    def _step(self) -> Request | None | Literal[False]:
        """Handle one h11 event: a whole request, None to wait, False to read on."""
        conn = self._conn
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            if status == 431:
                raise self._fatal(f"request head over the limit of {self.max_head} bytes", 431) from None
            raise self._fatal(f"malformed HTTP request: {exc}", status) from None
        if event is h11.NEED_DATA:
            return None
        if event is h11.PAUSED:
            if conn.trailing_data[0] and h11.MUST_CLOSE in (conn.our_state, conn.their_state):
                raise self._fatal("request after the client asked to close", 400)
            return None
        if isinstance(event, h11.Request):
            if len(event.headers) > self.max_headers:
                raise self._fatal(f"{len(event.headers)} header fields, more than {self.max_headers}", 431)
            # h11 bounds a head that arrives in pieces; one that arrives whole is measured here
            head = len(event.method) + len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
            if head > self.max_head:
                raise self._fatal(f"request head of about {head} bytes, over the limit of {self.max_head}", 431)
            self._request = event
            self._body.clear()
            length = _content_length(event)
            if length is not None and length > self.max_frame:
                raise self._fatal(f"body of {length} bytes over the limit of {self.max_frame}", 413)
            return False
        if isinstance(event, h11.Data):
            self._body += event.data
            if len(self._body) > self.max_frame:
                raise self._fatal(f"body over the limit of {self.max_frame} bytes", 413)
            return False
        if isinstance(event, h11.EndOfMessage):
            request, body = self._request, bytes(self._body)
            self._request = None
            self._body.clear()
            assert request is not None
            return request, body
        if isinstance(event, h11.ConnectionClosed):
            self._closed = True
            return None
        return False

    def _respond(self, status: int, body: bytes = b"") -> bytes:
        conn = self._conn
        headers = [("Content-Length", str(len(body)))]
        if body:
            headers.insert(0, ("Content-Type", "application/json"))
        reason = _REASONS.get(status, "OK" if status == 200 else "Error").encode("ascii")
        data = conn.send(h11.Response(status_code=status, reason=reason, headers=headers)) or b""
        if body:
            data += conn.send(h11.Data(data=body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        return data

    def _decode(self, frame: Request, out: list[Message]) -> None:
        request, body = frame
        is_json = _is_json(request)
        try:
            ident, fields = decode_json(body) if is_json else decode_query(request.target, body)
            records = tuple(f.build(ident) for f in fields)
        except _DECODE_ERRORS as exc:
            message = str(exc) if isinstance(exc, BadRequest) else f"a value cannot be read: {exc}"
            reply = self._respond(400, error_document(400, message[:300]))
            excerpt = request.target if not body or b"?" in request.target else body
            raise ProtocolError(f"bad OsmAnd request: {message}", reply=reply, close=False, excerpt=excerpt) from None
        if ident != self.imei:
            self.imei = ident
            out.append(Login(ident, accept=None, reject=REJECT_JSON if is_json else REJECT_QUERY))
        out.append(Report("position", records, self._respond(200)))


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)
    return None


def _is_json(request: h11.Request) -> bool:
    for name, value in request.headers:
        if name == b"content-type":
            return value.strip().lower().startswith(b"application/json")
    return False
