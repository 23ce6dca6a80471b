"""Server side of one OsmAnd HTTP connection (Traccar Client, OsmAnd, scripts): requests in, messages out.

HTTP/1.1 is parsed by h11 (sans-IO): keep-alive and pipelined requests work, the request line and
headers are limited to ``max_frame`` bytes and so is a body. Each request that carries a position
becomes a :class:`Report` whose ``ack`` is ``HTTP/1.1 200 OK`` with ``Content-Length: 0``: the
service writes it once the records are committed, so the client retries whatever was not stored.

* a request without a device id or without a position: ``ProtocolError(reply=400, close=False)``
  (the connection stays usable);
* bytes that are not HTTP/1.1, or a head or body over the limit: ``ProtocolError`` with a 400 or
  413 reply and ``close=True`` (h11 cannot resynchronise a broken stream).

The device id may be any printable text (Traccar Client lets the user type it); it is used as the
``imei`` string as it is. A request for a device other than the current one yields a new
:class:`Login` first (the service refuses a second device on one connection: behind a proxy that
pools connections, that is a limit to know). A device the service refuses gets ``reject``
(Traccar's answers: 400 for the query layout, 404 for JSON).
"""

from __future__ import annotations

import h11

from protocols.core import DEFAULT_MAX_FRAME, Login, Message, ProtocolError, Report
from protocols.osmand.decode import decode_json, decode_query
from protocols.osmand.fields import BadRequest

_CLOSE = b"Connection: close\r\n"


def simple_response(status: int, reason: str, close: bool = False) -> bytes:
    """A response with an empty body, as bytes (for answers given outside h11's state machine)."""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n".encode("ascii")
        + (_CLOSE if close else b"")
        + b"\r\n"
    )


REJECT_QUERY = simple_response(400, "Bad Request", close=True)
REJECT_JSON = simple_response(404, "Not Found", close=True)
_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            413: "Payload Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large",
            501: "Not Implemented", 505: "HTTP Version Not Supported"}


class ServerSession:
    """One HTTP connection: decodes requests in order and answers each after its commit."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.imei: str | None = None
        self.max_frame = max_frame
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_frame)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._closed = False
        self._pending: ProtocolError | None = None

    @property
    def pending(self) -> bool:
        """True when an error is held back: ``feed(b"")`` raises it, then decodes what follows."""
        return self._pending is not None

    def feed(self, data: bytes) -> list[Message]:
        """Decode every complete request; keep a partial one for the next call."""
        if data:
            if self._closed:
                raise ProtocolError("data on a connection that is closing", close=True, excerpt=data)
            self._conn.receive_data(data)
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        out: list[Message] = []
        while True:
            try:
                if not self._step(out):
                    return out
            except ProtocolError as error:
                if out:
                    self._pending = error
                    return out
                raise

    def _fatal(self, message: str, status: int) -> ProtocolError:
        self._closed = True
        excerpt = self._conn.trailing_data[0][:64]
        return ProtocolError(
            message, reply=simple_response(status, _REASONS.get(status, "Error"), close=True),
            close=True, excerpt=excerpt,
        )

    def _step(self, out: list[Message]) -> bool:
        """Handle one h11 event; False when more bytes are needed."""
        if self._closed:
            return False
        conn = self._conn
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise self._fatal(f"malformed HTTP request: {exc}", exc.error_status_hint) from None
        if event is h11.NEED_DATA:
            return False
        if event is h11.PAUSED:
            if conn.trailing_data[0] and h11.MUST_CLOSE in (conn.our_state, conn.their_state):
                raise self._fatal("request after the client asked to close", 400)
            return False
        if isinstance(event, h11.Request):
            # h11 bounds a head that arrives in pieces; one that arrives whole is measured here
            head = len(event.method) + len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
            if head > self.max_frame:
                raise self._fatal(f"request head of about {head} bytes over the limit", 431)
            self._request = event
            self._body.clear()
            length = _content_length(event)
            if length is not None and length > self.max_frame:
                raise self._fatal(f"body of {length} bytes over the limit of {self.max_frame}", 413)
            return True
        if isinstance(event, h11.Data):
            self._body += event.data
            if len(self._body) > self.max_frame:
                raise self._fatal(f"body over the limit of {self.max_frame} bytes", 413)
            return True
        if isinstance(event, h11.EndOfMessage):
            request, body = self._request, bytes(self._body)
            self._request = None
            self._body.clear()
            assert request is not None
            self._answer(request, body, out)
            return True
        if isinstance(event, h11.ConnectionClosed):
            self._closed = True
            return False
        return True

    def _respond(self, status: int, reason: bytes) -> bytes:
        conn = self._conn
        data = conn.send(h11.Response(status_code=status, reason=reason, headers=[("Content-Length", "0")]))
        data = (data or b"") + (conn.send(h11.EndOfMessage()) or b"")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        return data

    def _answer(self, request: h11.Request, body: bytes, out: list[Message]) -> None:
        is_json = _is_json(request)
        try:
            ident, fields = decode_json(body) if is_json else decode_query(request.target, body)
            records = tuple(f.build(ident) for f in fields)
        except BadRequest as exc:
            reply = self._respond(400, b"Bad Request")
            excerpt = request.target if not body or b"?" in request.target else body
            raise ProtocolError(f"bad OsmAnd request: {exc}", reply=reply, close=False, excerpt=excerpt) from None
        if ident != self.imei:
            self.imei = ident
            out.append(Login(ident, accept=None, reject=REJECT_JSON if is_json else REJECT_QUERY))
        out.append(Report("position", records, self._respond(200, b"OK")))


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

