"""The Twisted services of commands against a real store: delivery through a pipeline's command
channel (the outcomes of the gate written back), and the SMS fallback POSTed to a twisted.web gateway
started here on 127.0.0.1 that records what it received, with its retries and backoff."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
from twisted.internet import defer, reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from telediag.commands import queue
from telediag.commands.delivery import DeliveryService
from telediag.commands.sms import SmsSender
from telediag.config.commands import CommandsConfig, SmsConfig
from telediag.ingest.command_gate import CommandDisconnected, CommandNotSent
from telediag.ingest.tcp import CommandTimedOut
from telediag.store.database import transaction
from tests.stores import database_at

IMEI = "356307042441013"
T0 = 1_790_000_000.0


class StoreCase(unittest.TestCase):
    def setUp(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="telediag-commands-"))
        self.addCleanup(shutil.rmtree, folder, True)
        self.database = database_at(folder / "store.sqlite3")
        self.db = self.database.connect()
        self.addCleanup(self.db.close)
        self.db.execute("INSERT INTO sim_profiles (iccid, msisdn) VALUES ('8948', '48600111222')")
        self.db.execute("INSERT INTO devices (imei, protocol, registered_at, source, iccid) "
                        "VALUES (?, 'teltonika', 0, 'test', '8948')", (IMEI,))
        self.clock = Clock()
        self.clock.advance(T0)

    def queued(self, text: str = "getstatus", expires_in_s: float = 600.0) -> int:
        with transaction(self.db):
            return int(queue.enqueue(self.db, IMEI, text, "technical#1", self.clock.seconds(), expires_in_s,
                                     max_waiting=10)["id"])

    def state(self, command_id: int) -> dict[str, Any]:
        found = queue.get(self.db, command_id)
        assert found is not None
        return found


class Channels:
    """A pipeline's command side: which devices are connected, and the commands handed to them."""

    def __init__(self) -> None:
        self.connected: set[str] = set()
        self.sent: list[tuple[str, str, Deferred[str]]] = []

    def connected_devices(self, protocol: str | None = None) -> list[str]:
        return sorted(self.connected)

    def send_command(self, imei: str, text: str, timeout_s: float) -> Deferred[str]:
        waiter: Deferred[str] = Deferred()
        self.sent.append((imei, text, waiter))
        return waiter


class DeliveryTests(StoreCase):
    def setUp(self) -> None:
        super().setUp()
        self.channels = Channels()
        self.service = DeliveryService(reactor, self.database, self.channels,  # type: ignore[arg-type]
                                       CommandsConfig(), clock=self.clock, node="test")
        self.addCleanup(self.service.worker.stop)

    @defer.inlineCallbacks
    def test_a_command_waits_for_its_device_then_its_answer_is_kept(self) -> Any:
        command = self.queued()
        handed = yield self.service.poll()
        self.assertEqual((handed, self.channels.sent), (0, []))
        self.channels.connected.add(IMEI)
        self.assertEqual((yield self.service.poll()), 1)
        self.assertEqual((yield self.service.poll()), 0, "one command in flight per device")
        (imei, text, waiter), = self.channels.sent
        self.assertEqual((imei, text, self.state(command)["state"]), (IMEI, "getstatus", "sent"))
        waiter.callback("Data Link: 1")
        yield waiter
        found = self.state(command)
        self.assertEqual((found["state"], found["answer"], found["channel"]), ("answered", "Data Link: 1", "tcp"))
        self.assertEqual(self.service.in_flight, {})

    @defer.inlineCallbacks
    def test_never_written_is_sent_again_written_and_unanswered_fails(self) -> Any:
        self.channels.connected.add(IMEI)
        first = self.queued()
        yield self.service.poll()
        waiter = self.channels.sent[-1][2]
        waiter.errback(CommandNotSent("the device stayed busy"))
        yield waiter
        self.assertEqual(self.state(first)["state"], "queued")
        yield self.service.poll()
        self.assertEqual(len(self.channels.sent), 2, "sent again: it was never written")
        waiter = self.channels.sent[-1][2]
        waiter.errback(CommandTimedOut("no answer"))
        yield waiter
        self.assertEqual(self.state(first)["state"], "failed")
        self.assertIn("no answer within 30 s", self.state(first)["error"])
        second = self.queued("getinfo")
        yield self.service.poll()
        waiter = self.channels.sent[-1][2]
        waiter.errback(CommandDisconnected("gone", sent=True))
        yield waiter
        self.assertIn("disconnected before answering", self.state(second)["error"])

    @defer.inlineCallbacks
    def test_expired_commands_are_marked_by_the_poll(self) -> Any:
        command = self.queued(expires_in_s=10)
        self.clock.advance(10)
        self.channels.connected.add(IMEI)
        yield self.service.poll()
        self.assertEqual((self.state(command)["state"], self.channels.sent), ("expired", []))


class Gateway(Resource):
    """Records every POST and answers with the next status of ``codes``."""

    isLeaf = True

    def __init__(self, codes: list[int]) -> None:
        super().__init__()
        self.codes = codes
        self.received: list[dict[str, Any]] = []

    def render_POST(self, request: Request) -> bytes:  # noqa: N802 (twisted.web's name)
        assert request.content is not None
        self.received.append({"body": orjson.loads(request.content.read()),
                              "token": request.getHeader(b"x-api-key"),
                              "type": request.getHeader(b"content-type")})
        request.setResponseCode(self.codes.pop(0))
        return b"{}"


class SmsTests(StoreCase):
    @defer.inlineCallbacks
    def gateway(self, codes: list[int], **settings: Any) -> Any:
        self.resource = Gateway(codes)
        port = reactor.listenTCP(0, Site(self.resource), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        config = SmsConfig(url=f"http://127.0.0.1:{port.getHost().port}/sms", token_header="X-Api-Key",
                           token="gw-secret", delay_s=60.0, **settings)
        self.sender = SmsSender(reactor, self.database, config, clock=self.clock)
        self.sender.random.seed(1)
        self.addCleanup(self.sender.stopService)
        yield None

    @defer.inlineCallbacks
    def test_a_command_still_queued_after_the_delay_is_posted_retried_and_sent(self) -> Any:
        yield self.gateway([503, 202])
        command = self.queued("setparam 2001:fleet.example")
        self.assertEqual((yield self.sender.poll()), 0)  # not due yet: the device may still connect
        self.assertEqual(self.resource.received, [])
        self.clock.advance(60)
        self.assertEqual((yield self.sender.poll()), 0)
        found = self.state(command)
        self.assertEqual(found["state"], "queued")
        self.assertIn("SMS attempt 1 failed: the SMS gateway answered 503", found["error"])
        self.assertEqual((yield self.sender.poll()), 0, "waits for its backoff")
        self.assertEqual(len(self.resource.received), 1)
        self.clock.advance(5.0)  # the first backoff's ceiling
        self.assertEqual((yield self.sender.poll()), 1)
        expected = {"body": {"msisdn": "48600111222", "text": "setparam 2001:fleet.example"},
                    "token": b"gw-secret", "type": b"application/json"}
        self.assertEqual(self.resource.received, [expected, expected])
        found = self.state(command)
        self.assertEqual((found["state"], found["channel"], found["error"]), ("sent", "sms", None))

    @defer.inlineCallbacks
    def test_a_refusal_gives_the_sms_up_and_leaves_the_command_to_its_device(self) -> Any:
        yield self.gateway([400])
        command = self.queued()
        self.clock.advance(60)
        yield self.sender.poll()
        found = self.state(command)
        self.assertEqual(found["state"], "queued")
        self.assertIn("SMS given up after 1 attempts", found["error"])
        self.assertEqual(queue.due_for_sms(self.db, self.clock.seconds() + 500, 60.0, 10), [])
        row = self.db.execute("SELECT sms_next_at FROM device_commands WHERE id = ?", (command,)).fetchone()
        self.assertEqual(row[0], math.inf)

    @defer.inlineCallbacks
    def test_a_gateway_that_is_down_is_retried_until_max_attempts(self) -> Any:
        yield self.gateway([], max_attempts=2)
        self.sender.config = SmsConfig(url="http://127.0.0.1:1/sms", delay_s=60.0, max_attempts=2, timeout_s=5.0)
        command = self.queued()
        self.clock.advance(60)
        yield self.sender.poll()
        self.assertIn("SMS attempt 1 failed", self.state(command)["error"])
        self.clock.advance(100)  # past the first backoff, before the command expires
        yield self.sender.poll()
        self.assertIn("SMS given up after 2 attempts", self.state(command)["error"])
