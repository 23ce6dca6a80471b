"""The API against hostile clients, over real sockets on 127.0.0.1: malformed framing, slow heads and
bodies, oversized heads, too many connections, non-ASCII digits, oversized lists and invalid writes.
Every error must be the API's JSON error with a proper status; nothing of a refused write is stored."""

from __future__ import annotations

from typing import Any

import orjson
from twisted.internet import defer, reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from telediag.api.connections import ApiChannel, GuardedFactory, GuardSettings
from telediag.api.errors import ApiError
from telediag.api.handlers import Call
from telediag.api.http_guard import FramingLimits
from tests.stores import database_at
from tests.telediag.api.support import ICCID_A, IMEI_A, ApiTestCase, RawClient

Response = tuple[int, dict[str, str], bytes]


def responses(raw: bytes) -> list[Response]:
    """Every HTTP response in ``raw``, in order (each framed by its Content-Length)."""
    found: list[Response] = []
    while raw:
        head, separator, rest = raw.partition(b"\r\n\r\n")
        assert separator, f"an incomplete response: {raw[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        found.append((int(lines[0].split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return found


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HardeningCase(ApiTestCase):
    """Raw-socket helpers on top of the shared API test set-up."""

    def assertJsonError(self, answer: Response, status: int, code: str | None = None) -> dict[str, Any]:
        got_status, headers, body = answer
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers.get("content-type"), "application/json")
        error = orjson.loads(body)["error"]
        self.assertEqual(set(error) - {"details"}, {"code", "message"})
        if code is not None:
            self.assertEqual(error["code"], code, error["message"])
        return error

    @defer.inlineCallbacks
    def connect(self) -> Any:
        """A raw client connection, closed at the end of the test."""
        assert self.service is not None
        client = RawClient()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.service.port), client)

        def close() -> Any:
            if client.transport.connected:
                client.transport.loseConnection()
            return client.closed

        self.addCleanup(close)
        return client

    @defer.inlineCallbacks
    def until(self, condition: Any, timeout: float = 5.0, what: str = "condition") -> Any:
        waited = 0.0
        while not condition():
            if waited >= timeout:
                self.fail(f"no {what} within {timeout} s")
            yield task.deferLater(reactor, 0.02, lambda: None)
            waited += 0.02

    def rows(self, table: str) -> int:
        db = database_at(self.config.database_path).connect()
        try:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            db.close()


class FramingTests(HardeningCase):
    CASES = (
        ("Content-Length abc", request("POST", "/api/v1/connectivity/events", "Content-Length: abc"),
         400, "invalid_content_length"),
        ("Content-Length -1", request("POST", "/api/v1/connectivity/events", "Content-Length: -1"),
         400, "invalid_content_length"),
        ("two Content-Lengths", request("POST", "/api/v1/connectivity/events", "Content-Length: 2",
                                        "Content-Length: 2") + b"{}", 400, "invalid_content_length"),
        ("Content-Length and chunked", request("POST", "/api/v1/connectivity/events", "Content-Length: 2",
                                               "Transfer-Encoding: chunked") + b"2\r\n{}\r\n0\r\n\r\n",
         400, "invalid_framing"),
        ("non-ASCII digit as length", b"POST /api/v1/devices HTTP/1.1\r\nContent-Length: \xd9\xa1\r\n\r\n{",
         400, "invalid_content_length"),
        ("raw UTF-8 in the path", b"GET /api/v1/tickets/1\xd9\xa1 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
        ("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: x\n\n", 400, "bad_request"),
        ("folded header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400, "bad_request"),
        ("NUL in a header", b"GET /healthz HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400, "bad_request"),
        ("two Host headers", request("GET", "/healthz", "Host: other"), 400, "duplicate_header"),
        ("HTTP/2.0 request line", b"GET /healthz HTTP/2.0\r\n\r\n", 505, "http_version_not_supported"),
    )

    @defer.inlineCallbacks
    def test_malformed_framing_gets_a_json_error_and_the_connection_closes(self) -> Any:
        yield self.start()
        for name, data, status, code in self.CASES:
            raw = yield self.raw(data)
            answers = responses(raw)
            self.assertEqual(len(answers), 1, name)
            self.assertJsonError(answers[0], status, code)
            self.assertEqual(answers[0][1]["connection"], "close", name)
        answer = yield self.call("GET", "/healthz")
        self.assertEqual(answer.status, 200, "the service goes on")

    @defer.inlineCallbacks
    def test_too_big_or_too_many_header_fields_are_431(self) -> Any:
        yield self.start(max_header_bytes=4096, max_headers=10)
        big = yield self.raw(request("GET", "/healthz", "X-Big: " + "a" * 5000))
        self.assertJsonError(responses(big)[0], 431, "header_fields_too_large")
        many = yield self.raw(request("GET", "/healthz", *(f"X-{i}: v" for i in range(10))))
        self.assertJsonError(responses(many)[0], 431, "header_fields_too_large")
        enough = yield self.raw(request("GET", "/healthz", *(f"X-{i}: v" for i in range(8)), "Connection: close"))
        self.assertEqual(responses(enough)[0][0], 200)

    @defer.inlineCallbacks
    def test_default_header_limit_is_431_not_a_bare_400(self) -> Any:
        yield self.start()
        raw = yield self.raw(request("GET", "/healthz", "X-Big: " + "a" * 17_000))
        self.assertJsonError(responses(raw)[0], 431, "header_fields_too_large")


class DeadlineTests(HardeningCase):
    @defer.inlineCallbacks
    def test_slowloris_head_gets_408_and_is_closed_at_the_deadline(self) -> Any:
        yield self.start(header_timeout_s=1.0)
        client = yield self.connect()
        trickle = iter(request("GET", "/healthz", "X-Slow: " + "a" * 200))
        sender = task.LoopingCall(lambda: client.transport.write(bytes([next(trickle)])))
        started = reactor.seconds()
        sender.start(0.3)
        try:
            raw = yield client.closed.addTimeout(5, reactor)
        finally:
            sender.stop()
        elapsed = reactor.seconds() - started
        self.assertTrue(0.9 <= elapsed <= 2.0, f"closed after {elapsed:.2f} s with a 1 s deadline")
        self.assertJsonError(responses(raw)[0], 408, "request_timeout")

    @defer.inlineCallbacks
    def test_slow_body_gets_408_and_is_closed(self) -> Any:
        yield self.start(body_timeout_s=1.0)
        client = yield self.connect()
        head = request("POST", "/api/v1/connectivity/events", f"Authorization: Bearer {self.tokens['admin']}",
                       "Content-Type: application/json", "Content-Length: 100")
        started = reactor.seconds()
        client.transport.write(head + b'[{"iccid"')
        raw = yield client.closed.addTimeout(5, reactor)
        elapsed = reactor.seconds() - started
        self.assertTrue(0.9 <= elapsed <= 2.0, f"closed after {elapsed:.2f} s with a 1 s deadline")
        self.assertJsonError(responses(raw)[0], 408, "request_timeout")

    @defer.inlineCallbacks
    def test_the_deadline_runs_from_a_head_s_first_byte_not_from_idle_keep_alive(self) -> Any:
        yield self.start(header_timeout_s=1.5)
        client = yield self.connect()
        client.transport.write(request("GET", "/healthz"))
        yield self.until(lambda: len(responses(client.received)) == 1, what="first answer")
        yield task.deferLater(reactor, 2.0, lambda: None)  # idle longer than the header deadline
        head = request("GET", "/healthz")
        for start in range(0, len(head), 10):  # a head in pieces, complete well within its deadline
            client.transport.write(head[start:start + 10])
            yield task.deferLater(reactor, 0.01, lambda: None)
        yield self.until(lambda: len(responses(client.received)) == 2, what="second answer")
        client.transport.write(b"GET /healthz HTTP/1.1\r\n")  # and one that never ends
        raw = yield client.closed.addTimeout(5, reactor)
        answers = responses(raw)
        self.assertEqual([status for status, _, _ in answers], [200, 200, 408])
        self.assertJsonError(answers[2], 408, "request_timeout")


class ConnectionCapTests(HardeningCase):
    @defer.inlineCallbacks
    def test_connections_past_the_per_address_cap_get_503_and_are_closed(self) -> Any:
        yield self.start(max_connections_per_address=5)
        clients = []
        for _ in range(5):
            client = yield self.connect()
            client.transport.write(request("GET", "/healthz"))
            clients.append(client)
        for client in clients:
            yield self.until(lambda c=client: len(responses(c.received)) == 1, what="answer")
        extra = yield self.connect()
        raw = yield extra.closed.addTimeout(5, reactor)
        answer = responses(raw)[0]
        self.assertJsonError(answer, 503, "too_many_connections")
        self.assertEqual((answer[1]["connection"], answer[1]["retry-after"]), ("close", "1"))

        clients[0].transport.loseConnection()
        yield clients[0].closed
        assert self.service is not None
        tracker = self.service._tracker
        yield self.until(lambda: tracker.open_per_address.get("127.0.0.1") == 4, what="closed connection counted")
        again = yield self.connect()
        again.transport.write(request("GET", "/healthz", "Connection: close"))
        raw = yield again.closed.addTimeout(5, reactor)
        self.assertEqual(responses(raw)[0][0], 200)


class PipeliningTests(HardeningCase):
    @defer.inlineCallbacks
    def test_duplicate_authorization_is_400_and_pipelined_answers_keep_their_order(self) -> Any:
        yield self.start()
        admin = f"Authorization: Bearer {self.tokens['admin']}"
        customer = f"Authorization: Bearer {self.tokens['customer_b']}"
        data = (request("GET", f"/api/v1/devices/{IMEI_A}", admin)
                + request("GET", f"/api/v1/devices/{IMEI_A}", customer, admin)
                + request("GET", "/healthz", "Connection: close"))
        raw = yield self.raw(data)
        first, second, third = responses(raw)
        self.assertEqual((first[0], orjson.loads(first[2])["imei"]), (200, IMEI_A))
        self.assertJsonError(second, 400, "duplicate_header")
        self.assertEqual((third[0], orjson.loads(third[2])["status"]), (200, "ok"))

    @defer.inlineCallbacks
    def test_a_framing_error_is_answered_after_the_requests_before_it(self) -> Any:
        yield self.start()
        admin = f"Authorization: Bearer {self.tokens['admin']}"
        data = (request("GET", f"/api/v1/devices/{IMEI_A}", admin) + request("GET", "/healthz")
                + request("POST", "/api/v1/devices", admin, "Content-Length: 1", "Content-Length: 1") + b"x")
        raw = yield self.raw(data)
        answers = responses(raw)
        self.assertEqual([status for status, _, _ in answers], [200, 200, 400], raw)
        self.assertEqual(orjson.loads(answers[0][2])["imei"], IMEI_A)
        self.assertJsonError(answers[2], 400, "invalid_content_length")


class TicketDeskCase(HardeningCase):
    """The API with the ticket desk, as ``telediag serve`` runs it."""

    with_desk = True


class AsciiDigitTests(TicketDeskCase):
    @defer.inlineCallbacks
    def test_ticket_ids_are_ascii_digits_only(self) -> Any:
        yield self.start()
        for number in range(11):
            filed = yield self.call("POST", "/api/v1/tickets", "admin",
                                    {"devices": [IMEI_A], "description": f"no position {number}"})
            self.assertEqual(filed.status, 201, filed.data)
        eleven = yield self.call("GET", "/api/v1/tickets/11", "admin")
        self.assertEqual((eleven.status, eleven.json["id"]), (200, 11))
        for path in ("/api/v1/tickets/1%D9%A1", "/api/v1/tickets/%EF%BC%91%EF%BC%91",  # Arabic-Indic, fullwidth
                     "/api/v1/tickets/1%D9%A1/comments", "/api/v1/tickets/1234567890123456789"):
            method = "POST" if path.endswith("comments") else "GET"
            answer = yield self.call(method, path, "admin", {"text": "hi"} if method == "POST" else None)
            error = self.assertError(answer, 404, "not_found")
            self.assertNotIn("11", error["message"].replace(path, ""))

    @defer.inlineCallbacks
    def test_query_numbers_are_ascii_digits_only(self) -> Any:
        yield self.start()
        for limit in ("%D9%A1%D9%A0", "%C2%B2", "1_0"):  # Arabic-Indic 10, superscript two, underscore
            answer = yield self.call("GET", f"/api/v1/devices/{IMEI_A}/records?limit={limit}", "admin")
            self.assertError(answer, 400, "invalid_parameter")

    def test_imei_in_a_path_is_ascii_digits_only(self) -> None:
        call = Call(request=None, query=None, captures={"imei": IMEI_A[:-1] + "\u0663"})  # type: ignore[arg-type]
        with self.assertRaises(ApiError) as caught:
            _ = call.imei
        self.assertEqual(caught.exception.status, 404)
        good = Call(request=None, query=None, captures={"imei": IMEI_A})  # type: ignore[arg-type]
        self.assertEqual(good.imei, IMEI_A)


class WriteLimitTests(TicketDeskCase):
    @defer.inlineCallbacks
    def test_every_list_in_a_post_body_has_a_limit_answered_413(self) -> Any:
        yield self.start()
        device = {"imei": IMEI_A, "protocol": "teltonika"}
        event = {"iccid": ICCID_A, "at": "2025-06-16T08:00:00Z", "type": "attach"}
        for path, body, code in (
            ("/api/v1/devices", [device] * 10_001, "too_many_devices"),
            ("/api/v1/connectivity/events", [event] * 10_001, "too_many_events"),
            ("/api/v1/tickets", {"devices": [IMEI_A] * 10_001, "description": "many"}, "too_many_devices"),
            ("/api/v1/tickets", {"devices": [IMEI_A] * 1_001, "description": "many"}, "too_many_devices"),
        ):
            answer = yield self.call("POST", path, "admin", body)
            self.assertError(answer, 413, code)
        self.assertEqual(self.rows("tickets"), 0)

    @defer.inlineCallbacks
    def test_invalid_devices_are_400_listing_every_problem_and_nothing_is_stored(self) -> Any:
        yield self.start()
        before = (self.rows("devices"), self.rows("accounts"))
        items = [
            {"imei": "356307042441054", "account": "A" * 10_000},
            {"imei": 356307042441062},
            {"imei": "356307042441070", "report_interval_s": 1e308},
            {"imei": "356307042441088", "report_interval_s": -5},
            {"imei": "356307042441096", "report_interval_s": 0.5},
            {"imei": "35630704244110\u0664"},  # an Arabic-Indic four at the end
            {"imei": "356307042441112", "vehicle_plate": "P" * 33},
            {"imei": "356307042441120", "activated_at": "1970-01-01T00:00:00Z"},
            {"imei": "356307042441138", "iccid": 8948011234567890123},
            {"imei": "356307042441146", "account": "Line\nbreak"},
        ]
        answer = yield self.call("POST", "/api/v1/devices", "admin", items)
        error = self.assertError(answer, 400, "invalid_devices")
        for number in range(1, len(items) + 1):
            self.assertTrue(any(d.startswith(f"device {number}: ") for d in error["details"]), (number, error))
        self.assertIn("JSON string", " ".join(error["details"]))
        self.assertLess(len(answer.data), 4000, "a huge value is not echoed back whole")
        self.assertEqual((self.rows("devices"), self.rows("accounts")), before)

    @defer.inlineCallbacks
    def test_invalid_events_are_400_listing_every_problem_and_nothing_is_stored(self) -> Any:
        yield self.start()
        before = self.rows("connectivity_events")
        base = {"iccid": ICCID_A, "at": "2025-06-16T08:00:00Z", "type": "attach"}
        items = [
            {"imei": 356307042441013, "at": "2025-06-16T08:00:00Z", "type": "attach"},
            dict(base, at="1970-01-01T00:00:00Z"),
            dict(base, at="2099-01-01T00:00:00Z"),
            dict(base, apn="a" * 101),
            dict(base, mcc="\u0662\u0666\u0660"),  # 260 in Arabic-Indic digits
            dict(base, cause=1e308),
            dict(base, mnc=-1),
            dict(base, rat="4G\x00"),
        ]
        answer = yield self.call("POST", "/api/v1/connectivity/events", "admin", items)
        error = self.assertError(answer, 400, "invalid_events")
        for number in range(1, len(items) + 1):
            self.assertTrue(any(d.startswith(f"event {number}: ") for d in error["details"]), (number, error))
        self.assertEqual(self.rows("connectivity_events"), before)

    @defer.inlineCallbacks
    def test_invalid_ticket_writes_are_400_listing_every_problem_and_nothing_is_stored(self) -> Any:
        yield self.start()
        filed = yield self.call("POST", "/api/v1/tickets", "customer", {"devices": [IMEI_A], "description": "no fix"})
        self.assertEqual(filed.status, 201, filed.data)
        path = f"/api/v1/tickets/{filed.json['id']}"
        before = (self.rows("tickets"), self.rows("ticket_timeline"))
        answer = yield self.call("POST", "/api/v1/tickets", "customer",
                                 {"devices": [IMEI_A, 356307042441013], "description": "x" * 10_001,
                                  "title": "t" * 201, "colour": "red"})
        error = self.assertError(answer, 400, "invalid_ticket")
        self.assertEqual(len(error["details"]), 4, error)
        for method, suffix, token, body in (
            ("POST", "/comments", "customer", {"text": "x" * 10_001}),
            ("POST", "/comments", "customer", {"text": "hi", "extra": 1}),
            ("PATCH", "", "technical", {"state": "open", "text": "x" * 10_001}),
            ("PATCH", "", "technical", {"state": "opened"}),
            ("POST", "/close", "customer", {"rating": "excellent"}),
            ("POST", "/close", "customer", {"rating": "bad", "reason": "r" * 2001}),
        ):
            answer = yield self.call(method, path + suffix, token, body)
            self.assertError(answer, 400, "invalid_ticket")
        self.assertEqual((self.rows("tickets"), self.rows("ticket_timeline")), before)


class _Held(Resource):
    """Answers only when the test says so, like a handler still running on a worker thread."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[Any] = []

    def render(self, request: Any) -> Any:
        self.waiting.append(request)
        return NOT_DONE_YET

    def answer(self) -> None:
        request = self.waiting.pop(0)
        request.setHeader(b"content-length", b"2")
        request.write(b"ok")
        request.finish()


class GuardOnAClockTests(SynchronousTestCase):
    """The guard alone on a fake transport and clock: deadlines and the order of answers, step by step."""

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.resource = _Held()
        site = Site(self.resource, reactor=self.clock)
        site.protocol = ApiChannel
        settings = GuardSettings(FramingLimits(), header_timeout_s=1.0, body_timeout_s=2.0,
                                 max_connections_per_address=2)
        self.factory = GuardedFactory(site, settings, self.clock)

    def connect(self, host: str = "10.0.0.1") -> tuple[Any, StringTransport]:
        address = IPv4Address("TCP", host, 40000)
        connection = self.factory.buildProtocol(address)
        transport = StringTransport(peerAddress=address)
        connection.makeConnection(transport)
        return connection, transport

    def test_a_refusal_waits_for_the_answers_owed_before_it(self) -> None:
        connection, transport = self.connect()
        connection.dataReceived(request("GET", "/first") + request("GET", "/second")
                                + b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        self.assertEqual(transport.value(), b"", "nothing may overtake the answer to /first")
        self.resource.answer()
        self.assertEqual([status for status, _, _ in responses(transport.value())], [200])
        self.resource.answer()
        answers = responses(transport.value())
        self.assertEqual([status for status, _, _ in answers], [200, 200, 400])
        self.assertEqual(orjson.loads(answers[2][2])["error"]["code"], "invalid_content_length")

    def test_a_late_body_behind_an_unanswered_request_is_answered_in_order(self) -> None:
        connection, transport = self.connect()
        connection.dataReceived(request("GET", "/first") + request("POST", "/late", "Content-Length: 10") + b"abc")
        self.clock.advance(2.5)  # the body deadline passes while /first is still being answered
        self.assertEqual(transport.value(), b"")
        self.resource.answer()
        self.assertEqual([status for status, _, _ in responses(transport.value())], [200, 408])
        self.assertTrue(transport.disconnecting)

    def test_no_deadline_runs_while_the_server_itself_stopped_reading(self) -> None:
        connection, transport = self.connect()
        connection.dataReceived(b"GET /slow HTTP/1.1\r\n")
        connection.pauseProducing()  # as twisted.web does while its answers wait in the send buffer
        self.clock.advance(5)
        self.assertEqual(transport.value(), b"")
        connection.resumeProducing()
        self.clock.advance(0.9)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0.2)
        self.assertEqual(responses(transport.value())[0][0], 408)

    def test_the_cap_is_per_source_address_and_frees_on_close(self) -> None:
        first, _ = self.connect()
        self.connect()
        _, refused = self.connect()
        self.assertEqual(responses(refused.value())[0][0], 503)
        _, other = self.connect("10.0.0.2")
        self.assertEqual(other.value(), b"")
        first.connectionLost(None)
        _, again = self.connect()
        self.assertEqual(again.value(), b"")
        self.assertEqual(self.factory.open_per_address, {"10.0.0.1": 2, "10.0.0.2": 1})
