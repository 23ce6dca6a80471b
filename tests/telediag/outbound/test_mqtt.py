"""MQTT out against a real Mosquitto: findings and ticket events on each account's own topics, ticket
events only once their change is committed (read from the outbox)."""

from __future__ import annotations

import queue
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
from paho.mqtt.client import Client, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from telediag.config import Config, MqttSettings, TicketsConfig, WebhookConfig
from telediag.diagnostics.findings import Finding, Transition
from telediag.outbound.destinations import ticket_notifier
from telediag.outbound.mqtt import MqttPublisher, account_slug, device_accounts, findings_topic, tickets_topic
from telediag.registry import repository
from telediag.registry.entries import parse_entry
from telediag.store.database import transaction
from telediag.store.sqlite import SQLiteDatabase
from telediag.tickets import outbox
from telediag.tickets.desk import TicketDesk
from tests.stores import database_at
from tests.telediag.mqtt.broker import Mosquitto
from tests.telediag.mqtt.rig import wait_until

ACME, OTHER, LOOSE = "356307042441013", "356307042441014", "356307042441015"
NOW = 1_790_000_000.0


def finding(imei: str, code: str, active: bool = True) -> Finding:
    return Finding(id=7, imei=imei, code=code, active=active, first_seen=1_750_000_000.0,
                   last_seen=1_750_000_600.0, count=3, evidence={"lat": 52.2297, "lon": 21.0122},
                   cleared_at=None if active else 1_750_000_900.0)


class Subscriber:
    """A test client that collects everything under ``telediag/v1/accounts/#``."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ready = queue.Queue[int]()
        self.client = Client(CallbackAPIVersion.VERSION2, client_id="account-viewer", protocol=MQTTv311)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("telediag/v1/accounts/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, r, p: self.ready.put(mid)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, orjson.loads(m.payload)))
        self.client.connect("127.0.0.1", port, 5)
        self.client.loop_start()
        self.ready.get(timeout=5)

    @defer.inlineCallbacks
    def take(self, n: int) -> Any:
        yield wait_until(lambda: self.messages.qsize() >= n, f"{n} messages", timeout=5)
        return [self.messages.get_nowait() for _ in range(n)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class PublisherTests(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="telediag-mqtt-out-"))
        self.addCleanup(shutil.rmtree, folder, True)
        self.database = database_at(folder / "telediag.sqlite3")
        db = self.database.connect()
        repository.save(db, [parse_entry({"imei": ACME, "protocol": "teltonika", "account": "ACME Ltd."}),
                             parse_entry({"imei": OTHER, "protocol": "teltonika", "account": "ООО Ромашка"})],
                        0.0, "manual")
        db.close()
        self.broker = Mosquitto(folder / "broker")
        self.addCleanup(self.broker.cleanup)

    def publisher(self, database: Any = None, **settings: Any) -> MqttPublisher:
        values: dict[str, Any] = dict(host="127.0.0.1", port=self.broker.port, reconnect_min_s=0.1,
                                      reconnect_max_s=0.5)
        values.update(settings)
        out = MqttPublisher(MqttSettings(**values), database or self.database, reactor)
        out.startService()
        self.addCleanup(lambda: out.stopService() if out.running else None)
        return out

    @defer.inlineCallbacks
    def connected(self, out: MqttPublisher) -> Any:
        yield wait_until(lambda: out._client is not None and out._client.is_connected(), "a connection")

    @defer.inlineCallbacks
    def test_findings_go_to_each_devices_account(self) -> Any:
        self.broker.start()
        out = self.publisher()
        yield self.connected(out)
        viewer = Subscriber(self.broker.port)
        self.addCleanup(viewer.close)
        queued = yield out.publish_findings([
            Transition("raised", finding(ACME, "GPS_NO_FIX")),
            Transition("cleared", finding(OTHER, "EXTERNAL_POWER_LOST", active=False)),
            Transition("updated", finding(LOOSE, "DEVICE_SILENT")),
        ])
        self.assertEqual(queued, 3)
        got = dict((yield viewer.take(3)))
        acme = got["telediag/v1/accounts/acme-ltd/findings"]
        self.assertEqual(acme["kind"], "raised")
        self.assertEqual(acme["finding"], finding(ACME, "GPS_NO_FIX").as_dict())
        self.assertEqual(acme["finding"]["evidence"], {"lat": 52.2297, "lon": 21.0122})
        other = got["telediag/v1/accounts/ооо-ромашка/findings"]
        self.assertEqual((other["kind"], other["finding"]["code"], other["finding"]["cleared_at"]),
                         ("cleared", "EXTERNAL_POWER_LOST", "2025-06-15T15:21:40.000Z"))
        self.assertEqual(got["telediag/v1/accounts/_unassigned/findings"]["finding"]["imei"], LOOSE)
        yield wait_until(lambda: out.delivered == 3, "three PUBACKs")
        self.assertEqual((out.published, out.delivered, out.dropped), (3, 3, 0))

    def desk(self) -> TicketDesk:
        settings = MqttSettings(host="127.0.0.1", port=self.broker.port)
        return TicketDesk(Config().sla, TicketsConfig(), ticket_notifier(WebhookConfig(), settings))

    def mqtt_rows(self) -> list[int]:
        db = self.database.connect()
        try:
            return [event.id for event in outbox.mqtt_due(db, self.database.dialect, 0, 100)]
        finally:
            db.close()

    @defer.inlineCallbacks
    def test_committed_ticket_events_go_to_the_tickets_account_and_a_rolled_back_change_to_nobody(self) -> Any:
        desk = self.desk()
        db = self.database.connect()
        self.addCleanup(db.close)
        [ticket] = desk.on_findings(db, [Transition("raised", finding(ACME, "DEVICE_SILENT"))], NOW)
        with self.assertRaises(RuntimeError), transaction(db):
            desk.lifecycle.move(db, ticket, "resolved", "tech", NOW + 60)  # queues ticket.resolved ...
            raise RuntimeError("... and the change fails before its commit")
        desk.change_state(db, ticket, "open", "tech", NOW + 120)
        nobody = desk.file(db, origin="staff", by="tech", account=None, devices=[], description="Server down",
                           now=NOW + 180, selfcheck=lambda imei: {}, findings=lambda imeis: [])
        self.assertEqual(len(self.mqtt_rows()), 3)  # queued with their changes, published by nobody yet

        self.broker.start()
        viewer = Subscriber(self.broker.port)
        self.addCleanup(viewer.close)
        out = self.publisher()
        yield self.connected(out)
        self.assertEqual((yield out.relay_now()), 3)
        got = yield viewer.take(3)
        self.assertEqual([(topic, message["event"], message["ticket"]["id"]) for topic, message in got], [
            ("telediag/v1/accounts/acme-ltd/tickets", "ticket.created", ticket),
            ("telediag/v1/accounts/acme-ltd/tickets", "ticket.open", ticket),
            ("telediag/v1/accounts/_unassigned/tickets", "ticket.created", nobody),
        ])
        self.assertEqual(got[1][1]["ticket"]["state"], "open")
        yield wait_until(lambda: not self.mqtt_rows(), "the rows the broker acknowledged deleted")
        self.assertEqual((yield out.relay_now()), 0)  # nothing is sent twice
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertTrue(viewer.messages.empty())  # ticket.resolved never happened, and nobody heard of it

    @defer.inlineCallbacks
    def test_ticket_events_wait_in_the_outbox_while_the_broker_is_away(self) -> Any:
        desk = self.desk()
        db = self.database.connect()
        self.addCleanup(db.close)
        out = self.publisher(reconnect_max_s=0.2)
        self.assertEqual((yield out.relay_now()), 0)  # not connected: the rows stay
        desk.on_findings(db, [Transition("raised", finding(OTHER, "GPS_NO_FIX"))], NOW)
        self.assertEqual(len(self.mqtt_rows()), 1)
        self.broker.start()
        viewer = Subscriber(self.broker.port)
        self.addCleanup(viewer.close)
        yield self.connected(out)
        [(topic, message)] = yield viewer.take(1)  # the periodic poll found it
        self.assertEqual((topic, message["event"]), ("telediag/v1/accounts/ооо-ромашка/tickets", "ticket.created"))
        yield wait_until(lambda: not self.mqtt_rows(), "the row deleted")

    @defer.inlineCallbacks
    def test_a_failed_account_lookup_publishes_nothing(self) -> Any:
        self.broker.start()
        folder = Path(tempfile.mkdtemp(prefix="telediag-broken-"))
        self.addCleanup(shutil.rmtree, folder, True)
        (folder / "telediag.sqlite3").write_bytes(b"not a database " * 100)
        out = self.publisher(database=SQLiteDatabase(folder / "telediag.sqlite3"))
        yield self.connected(out)
        queued = yield out.publish_findings([Transition("raised", finding(ACME, "GPS_NO_FIX")),
                                             Transition("raised", finding(OTHER, "GPS_NO_FIX"))])
        self.assertEqual(queued, 0)  # never guessed: a wrong topic would show them to another account
        self.assertEqual((out.published, out.dropped), (0, 2))

    @defer.inlineCallbacks
    def test_notifications_wait_for_a_broker_that_is_late(self) -> Any:
        out = self.publisher(reconnect_max_s=0.2)
        queued = yield out.publish_findings([Transition("raised", finding(ACME, "GPS_NO_FIX"))])
        self.assertEqual(queued, 1)
        self.broker.start()
        yield wait_until(lambda: out.delivered == 1, "the queued finding delivered after the broker came up")


def test_slugs_and_topics() -> None:
    assert account_slug("ACME Ltd.") == "acme-ltd"
    assert account_slug("  Fleet__North / 2 ") == "fleet-north-2"
    assert account_slug("ООО Ромашка") == "ооо-ромашка"
    assert account_slug(None) == account_slug("") == account_slug("!!!") == "_unassigned"
    assert findings_topic("telediag/v1", "ACME Ltd.") == "telediag/v1/accounts/acme-ltd/findings"
    assert tickets_topic("telediag/v1", None) == "telediag/v1/accounts/_unassigned/tickets"


def test_device_accounts_reads_the_registry(tmp_path: Path) -> None:
    database = database_at(tmp_path / "telediag.sqlite3")
    db = database.connect()
    try:
        repository.save(db, [parse_entry({"imei": ACME, "protocol": "teltonika", "account": "ACME Ltd."}),
                             parse_entry({"imei": OTHER, "protocol": "teltonika"})], 0.0, "manual")
        assert device_accounts(db, [ACME, OTHER, LOOSE]) == {ACME: "ACME Ltd.", OTHER: None, LOOSE: None}
    finally:
        db.close()
