"""Webhook delivery against a real HTTP server on 127.0.0.1: signed bodies, retries with backoff, a
receiver that is down for a while, restarts, and the outbox's transactional behaviour.

Scheduling, backoff and request timeouts run on a ``task.Clock``; the HTTP traffic is real and runs
on the reactor.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.protocols.policies import WrappingFactory
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from protocols.record import iso_utc
from telediag.config import ConfigError, WebhookConfig, parse_section
from telediag.outbound.webhooks import WebhookDeliverer, sign, verify_signature
from telediag.store.sqlite import SQLiteDatabase, connect
from telediag.tickets import outbox

START = 1_790_000_000.0
SECRET = "s3cret"
TICKET = {"id": 7, "title": "Tracker silent", "state": "open", "devices": ["356307042441013"]}


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def delivery(self) -> int:
        return int(self.headers["x-telediag-delivery"])


class Receiver(Resource):
    """Records every POST; answers with the next queued status (200 when none), or holds it."""

    isLeaf = True

    def __init__(self, statuses: list[int] | None = None) -> None:
        super().__init__()
        self.statuses = list(statuses or [])
        self.received: list[Received] = []
        self.hold = False
        self.held: list[tuple[Request, Received]] = []

    def render_POST(self, request: Request) -> bytes | int:
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {k.decode().lower(): v[0].decode() for k, v in request.requestHeaders.getAllRawHeaders()}
        received = Received(request.path.decode(), headers, request.content.read(), status)
        self.received.append(received)
        if self.hold:
            received.status = 0  # no answer (yet)
            self.held.append((request, received))
            return NOT_DONE_YET
        request.setResponseCode(status)
        return b"ok" if status < 300 else b"receiver is unhappy"

    def answer(self, status: int) -> None:
        """Answer the oldest held request."""
        request, received = self.held.pop(0)
        received.status = status
        request.setResponseCode(status)
        request.write(b"ok")
        request.finish()

    def acknowledged(self) -> list[int]:
        return [r.delivery for r in self.received if 200 <= r.status < 300]


class Redirecting(Resource):
    """Answers every POST with a redirect to ``target``."""

    isLeaf = True

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.hits = 0

    def render_POST(self, request: Request) -> bytes:
        self.hits += 1
        request.setResponseCode(307)
        request.setHeader(b"location", self.target.encode("ascii"))
        return b""


class Server:
    """A twisted.web server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, resource: Resource, port: int = 0) -> None:
        self.factory = WrappingFactory(Site(resource))
        self.listening: Any = reactor.listenTCP(port, self.factory, interface="127.0.0.1")
        self.port = self.listening.getHost().port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/tickets"

    @defer.inlineCallbacks
    def stop(self) -> Any:
        if self.listening is not None:
            yield self.listening.stopListening()
            self.listening = None
        for protocol in list(self.factory.protocols):
            protocol.transport.abortConnection()
        for _ in range(100):
            if not self.factory.protocols:
                break
            yield deferLater(reactor, 0.01, lambda: None)


def row(db: sqlite3.Connection, id: int) -> dict[str, Any]:
    cursor = db.execute("SELECT * FROM webhook_outbox WHERE id = ?", (id,))
    return dict(zip((d[0] for d in cursor.description), cursor.fetchone(), strict=True))


class DeliveryTests(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-webhooks-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        self.path = data_dir / "telediag.sqlite3"
        self.db = connect(self.path)
        self.addCleanup(self.db.close)
        self.clock = Clock()
        self.clock.advance(START)

    def serve(self, resource: Resource, port: int = 0) -> Server:
        server = Server(resource, port)
        self.addCleanup(server.stop)
        return server

    def config(self, *urls: str, **values: Any) -> WebhookConfig:
        return replace(WebhookConfig(urls=urls, secret=SECRET), **values)

    def deliverer(self, config: WebhookConfig) -> WebhookDeliverer:
        deliverer = WebhookDeliverer(reactor, SQLiteDatabase(self.path), config, clock=self.clock)
        deliverer.random = random.Random(4)
        deliverer.startService()
        self.addCleanup(lambda: deliverer.stopService() if deliverer.running else None)
        return deliverer

    def enqueue(self, config: WebhookConfig, event: str, payload: dict[str, Any]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        outbox.enqueue(self.db, event, payload, self.clock.seconds(), config.urls)
        self.db.execute("COMMIT")

    @defer.inlineCallbacks
    def wait_for(self, condition: Any) -> Any:
        for _ in range(500):
            if condition():
                return
            yield deferLater(reactor, 0.01, lambda: None)
        self.fail("condition not met in time")

    @defer.inlineCallbacks
    def test_events_arrive_with_body_headers_and_a_signature_that_verifies(self) -> Any:
        receiver = Receiver()
        server = self.serve(receiver)
        config = self.config(server.url)
        self.enqueue(config, "ticket.created", TICKET)
        self.clock.advance(2.5)
        self.enqueue(config, "ticket.updated", {**TICKET, "state": "resolved"})
        deliverer = self.deliverer(config)  # starting polls at once
        yield deliverer.idle()

        self.assertEqual([r.delivery for r in receiver.received], [1, 2])
        first, second = receiver.received
        self.assertEqual(first.path, "/hooks/tickets")
        self.assertEqual(orjson.loads(first.body), {
            "id": 1, "event": "ticket.created", "created_at": iso_utc(START), "data": TICKET,
        })
        self.assertEqual(orjson.loads(second.body)["event"], "ticket.updated")
        self.assertEqual(orjson.loads(second.body)["data"]["state"], "resolved")
        headers = first.headers
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(headers["user-agent"], "telediag-webhooks")
        self.assertEqual(headers["x-telediag-event"], "ticket.created")
        self.assertEqual(headers["x-telediag-timestamp"], str(int(START + 2.5)))
        self.assertEqual(headers["x-telediag-signature"], sign(SECRET, int(START + 2.5), first.body))
        for request in receiver.received:
            h = request.headers
            self.assertTrue(verify_signature(SECRET, h["x-telediag-timestamp"], request.body,
                                             h["x-telediag-signature"], now=START + 3))
        self.assertEqual(outbox.pending_count(self.db), 0)
        self.assertEqual(row(self.db, 1)["delivered_at"], START + 2.5)
        self.assertEqual(row(self.db, 1)["attempts"], 1)
        self.assertEqual((yield deliverer.deliver_now()), 0)  # nothing is sent twice
        self.assertEqual(len(receiver.received), 2)

    @defer.inlineCallbacks
    def test_a_failing_receiver_gets_the_event_after_retries_with_growing_backoff(self) -> Any:
        receiver = Receiver(statuses=[500, 500, 200])
        server = self.serve(receiver)
        config = self.config(server.url, backoff_initial_s=1.0)
        self.enqueue(config, "ticket.created", TICKET)
        deliverer = self.deliverer(config)
        yield deliverer.idle()

        delays = []
        for attempt in (1, 2):
            state = row(self.db, 1)
            self.assertEqual((state["attempts"], state["delivered_at"]), (attempt, None))
            self.assertTrue(state["last_error"].startswith("HTTP 500"), state["last_error"])
            delays.append(state["next_attempt_at"] - self.clock.seconds())
            yield deliverer.deliver_now()  # not due yet: nothing is sent
            self.assertEqual(len(receiver.received), attempt)
            self.clock.advance(delays[-1] + 0.01)
            yield deliverer.deliver_now()

        self.assertTrue(0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0, delays)  # below the doubling ceiling
        self.assertEqual([r.status for r in receiver.received], [500, 500, 200])
        self.assertEqual({r.delivery for r in receiver.received}, {1})
        self.assertEqual(len({r.body for r in receiver.received}), 1)  # the same bytes on every retry
        self.assertIsNotNone(row(self.db, 1)["delivered_at"])
        self.assertEqual(row(self.db, 1)["attempts"], 3)

    @defer.inlineCallbacks
    def test_a_receiver_down_for_a_while_gets_everything_in_order_once_it_is_up(self) -> Any:
        probe = Server(Receiver())
        port = probe.port
        yield probe.stop()  # the port is closed now: connections are refused
        url = f"http://127.0.0.1:{port}/hooks"
        config = self.config(url, backoff_initial_s=1.0, backoff_max_s=4.0, poll_interval_s=1.0)
        for n in range(5):
            self.enqueue(config, "ticket.updated", {**TICKET, "n": n})
        deliverer = self.deliverer(config)
        yield deliverer.idle()
        for _ in range(4):
            self.clock.advance(4.5)
            yield deliverer.idle()

        self.assertEqual(outbox.pending_count(self.db), 5)
        head = row(self.db, 1)
        self.assertEqual(head["attempts"], 5)  # only the oldest is tried while the receiver is down
        self.assertIn("refused", head["last_error"].lower())
        self.assertEqual([row(self.db, i)["attempts"] for i in range(2, 6)], [0, 0, 0, 0])
        self.assertEqual(deliverer.failed, 5)

        receiver = Receiver()
        self.serve(receiver, port)
        self.clock.advance(4.5)
        yield deliverer.idle()
        self.assertEqual([r.delivery for r in receiver.received], [1, 2, 3, 4, 5])
        self.assertEqual([orjson.loads(r.body)["data"]["n"] for r in receiver.received], [0, 1, 2, 3, 4])
        self.assertEqual(outbox.pending_count(self.db), 0)

    @defer.inlineCallbacks
    def test_one_receiver_down_does_not_hold_up_another(self) -> Any:
        probe = Server(Receiver())
        down_url = f"http://127.0.0.1:{probe.port}/down"
        yield probe.stop()
        receiver = Receiver()
        up = self.serve(receiver)
        config = self.config(down_url, up.url)
        for n in range(3):
            self.enqueue(config, "ticket.updated", {"n": n})
        deliverer = self.deliverer(config)
        yield deliverer.idle()
        self.assertEqual([orjson.loads(r.body)["data"]["n"] for r in receiver.received], [0, 1, 2])
        self.assertEqual(outbox.pending_count(self.db), 3)

    @defer.inlineCallbacks
    def test_a_restart_delivers_what_was_pending_exactly_once(self) -> Any:
        receiver = Receiver()
        server = self.serve(receiver)
        config = self.config(server.url)
        for n in range(4):
            self.enqueue(config, "ticket.updated", {"n": n})
        receiver.hold = True
        first = self.deliverer(config)
        yield self.wait_for(lambda: receiver.held)  # event 1 is in flight, its answer held back
        stopping = first.stopService()
        self.assertFalse(stopping.called)  # waits for the request in flight
        receiver.answer(200)
        yield stopping
        self.assertEqual(outbox.pending_count(self.db), 3)
        self.assertIsNotNone(row(self.db, 1)["delivered_at"])

        receiver.hold = False
        second = self.deliverer(config)
        yield second.idle()
        self.assertEqual(receiver.acknowledged(), [1, 2, 3, 4])
        self.assertEqual([r.delivery for r in receiver.received], [1, 2, 3, 4])
        self.assertEqual(outbox.pending_count(self.db), 0)

    @defer.inlineCallbacks
    def test_a_stop_that_cannot_wait_leaves_the_row_as_it_was(self) -> Any:
        receiver = Receiver()
        receiver.hold = True
        server = self.serve(receiver)
        config = self.config(server.url)
        self.enqueue(config, "ticket.created", TICKET)
        first = self.deliverer(config)
        first.stop_timeout_s = 0.1
        yield self.wait_for(lambda: receiver.held)
        yield first.stopService()  # the receiver never answers: cancelled after stop_timeout_s
        self.assertEqual(row(self.db, 1)["attempts"], 0)
        self.assertIsNone(row(self.db, 1)["last_error"])

        receiver.hold = False
        second = self.deliverer(config)
        yield second.idle()
        self.assertEqual(receiver.acknowledged(), [1])  # received twice, acknowledged once: at least once
        self.assertEqual([r.delivery for r in receiver.received], [1, 1])

    @defer.inlineCallbacks
    def test_a_receiver_that_never_answers_times_out_on_the_clock(self) -> Any:
        receiver = Receiver()
        receiver.hold = True
        server = self.serve(receiver)
        config = self.config(server.url, timeout_s=10.0)
        self.enqueue(config, "ticket.created", TICKET)
        deliverer = self.deliverer(config)
        yield self.wait_for(lambda: receiver.held)
        self.clock.advance(10.0)
        yield deliverer.idle()
        self.assertEqual(row(self.db, 1)["last_error"], "timed out after 10s")
        self.assertEqual(row(self.db, 1)["attempts"], 1)

    @defer.inlineCallbacks
    def test_max_attempts_gives_up_and_lets_the_next_event_through(self) -> Any:
        receiver = Receiver(statuses=[503, 503])
        server = self.serve(receiver)
        config = self.config(server.url, max_attempts=2)
        self.enqueue(config, "ticket.created", {"n": 0})
        self.enqueue(config, "ticket.updated", {"n": 1})
        deliverer = self.deliverer(config)
        yield deliverer.idle()
        self.clock.advance(1.2)
        yield deliverer.idle()  # second failure: given up
        self.assertTrue(row(self.db, 1)["last_error"].startswith("gave up: after 2 attempts: HTTP 503"))
        self.assertEqual((outbox.pending_count(self.db), outbox.given_up_count(self.db)), (1, 1))
        yield deliverer.deliver_now()
        self.assertEqual(receiver.acknowledged(), [2])
        self.clock.advance(3600)
        yield deliverer.deliver_now()
        self.assertEqual(len(receiver.received), 3)  # a given-up row is never retried by itself

        self.assertEqual(outbox.requeue_given_up(self.db, self.clock.seconds()), 1)
        yield deliverer.deliver_now()
        self.assertEqual(receiver.acknowledged(), [2, 1])

    @defer.inlineCallbacks
    def test_a_redirect_is_not_followed(self) -> Any:
        receiver = Receiver()
        target = self.serve(receiver)
        redirecting = Redirecting(target.url)
        server = self.serve(redirecting)
        config = self.config(server.url)
        self.enqueue(config, "ticket.created", TICKET)
        deliverer = self.deliverer(config)
        yield deliverer.idle()
        self.assertEqual((redirecting.hits, receiver.received), (1, []))  # signed for one URL, sent to it only
        self.assertEqual(row(self.db, 1)["last_error"], "HTTP 307")

    @defer.inlineCallbacks
    def test_without_urls_the_deliverer_stays_idle(self) -> Any:
        deliverer = self.deliverer(WebhookConfig())
        self.assertEqual((yield deliverer.deliver_now()), 0)
        yield deliverer.stopService()


# The pure parts, without a reactor.


def test_a_tampered_body_or_wrong_secret_fails_verification() -> None:
    body = orjson.dumps({"id": 1, "event": "ticket.created", "data": TICKET})
    header = sign(SECRET, 1_790_000_000, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, "1790000000", body, header)
    assert verify_signature(SECRET, b"1790000000", body, header.encode())
    assert not verify_signature(SECRET, "1790000000", body.replace(b"7", b"8"), header)
    assert not verify_signature("other", "1790000000", body, header)
    assert not verify_signature(SECRET, "1790000001", body, header)  # the timestamp is signed too
    assert not verify_signature(SECRET, "1790000000", body, header.upper())
    assert not verify_signature(SECRET, "1790000000", body, "sha256=zz\u00e9")
    assert not verify_signature(SECRET, "-1", body, header)
    assert verify_signature(SECRET, "1790000000", body, header, now=1_790_000_200)
    assert not verify_signature(SECRET, "1790000000", body, header, now=1_790_000_400)  # replayed later


def test_config_defaults_and_values() -> None:
    assert parse_section("webhooks", {}) == WebhookConfig()
    assert not WebhookConfig().enabled
    config = parse_section("webhooks", {"urls": ["http://127.0.0.1:9000/h"], "secret": "k", "timeout_s": 3,
                             "max_attempts": 5, "batch": 10, "keep_delivered_s": 0})
    assert config.enabled and config.urls == ("http://127.0.0.1:9000/h",)
    assert (config.timeout_s, config.max_attempts, config.batch) == (3.0, 5, 10)
    assert isinstance(config.timeout_s, float)
    assert "kkkkkkkk" not in repr(parse_section("webhooks", {"urls": ["http://x/"], "secret": "kkkkkkkk"}))


@pytest.mark.parametrize(("raw", "key"), [
    ({"url": ["http://x/"]}, "'url'"),
    ({"urls": ["http://x/"]}, "secret"),
    ({"urls": ["http://x/"], "secret": 5}, "secret"),
    ({"urls": ["ftp://x/"], "secret": "k"}, "urls"),
    ({"urls": ["http:///nohost"], "secret": "k"}, "urls"),
    ({"urls": ["http://x:99999/"], "secret": "k"}, "urls"),
    ({"urls": ["http://u:p@x/"], "secret": "k"}, "urls"),
    ({"urls": ["http://x/", "http://x/"], "secret": "k"}, "urls"),
    ({"urls": [1], "secret": "k"}, "urls"),
    ({"urls": "http://x/", "secret": "k"}, "urls"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"timeout_s": "10"}, "timeout_s"),
    ({"timeout_s": float("nan")}, "timeout_s"),
    ({"timeout_s": float("inf")}, "timeout_s"),
    ({"max_attempts": -1}, "max_attempts"),
    ({"max_attempts": 2.5}, "max_attempts"),
    ({"batch": 0}, "batch"),
    ({"batch": True}, "batch"),
    ({"poll_interval_s": -1}, "poll_interval_s"),
    ({"backoff_initial_s": 10, "backoff_max_s": 5}, "backoff_max_s"),
])
def test_config_errors_name_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^\[webhooks\] .*{key}"):
        parse_section("webhooks", raw)
