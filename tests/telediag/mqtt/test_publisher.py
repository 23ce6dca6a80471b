"""MQTT out against a real Mosquitto: findings and ticket events on each account's own topics."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from paho.mqtt.client import Client, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from telediag.config import MqttSettings
from telediag.diagnostics.findings import Finding, Transition
from telediag.mqtt_out import MqttPublisher, account_slug, findings_topic, registry_accounts, tickets_topic
from telediag.registry import repository
from telediag.registry.entries import parse_entry
from telediag.store.sqlite import SQLiteDatabase, connect
from tests.telediag.mqtt.broker import Mosquitto

ACME, OTHER, LOOSE = "356307042441013", "356307042441014", "356307042441015"
ACCOUNTS = {ACME: "ACME Ltd.", OTHER: "ООО Ромашка"}


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

    def take(self, n: int, timeout: float = 5.0) -> list[tuple[str, Any]]:
        return [self.messages.get(timeout=timeout) for _ in range(n)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Any:
    settings = MqttSettings(host="127.0.0.1", port=mosquitto.port, reconnect_min_s=0.1, reconnect_max_s=0.5)
    out = MqttPublisher(settings, ACCOUNTS.get)
    out.start()
    deadline = time.monotonic() + 5
    while not out._client.is_connected():
        assert time.monotonic() < deadline, "publisher did not connect"
        time.sleep(0.01)
    yield out
    out.stop()


def test_slugs_and_topics() -> None:
    assert account_slug("ACME Ltd.") == "acme-ltd"
    assert account_slug("  Fleet__North / 2 ") == "fleet-north-2"
    assert account_slug("ООО Ромашка") == "ооо-ромашка"
    assert account_slug(None) == account_slug("") == account_slug("!!!") == "_unassigned"
    assert findings_topic("telediag/v1", "ACME Ltd.") == "telediag/v1/accounts/acme-ltd/findings"
    assert tickets_topic("telediag/v1", None) == "telediag/v1/accounts/_unassigned/tickets"


def test_findings_go_to_each_devices_account(mosquitto: Mosquitto, publisher: MqttPublisher) -> None:
    viewer = Subscriber(mosquitto.port)
    try:
        queued = publisher.publish_findings([
            Transition("raised", finding(ACME, "GPS_NO_FIX")),
            Transition("cleared", finding(OTHER, "EXTERNAL_POWER_LOST", active=False)),
            Transition("updated", finding(LOOSE, "DEVICE_SILENT")),
        ])
        assert queued == 3
        got = dict(viewer.take(3))
    finally:
        viewer.close()
    acme = got["telediag/v1/accounts/acme-ltd/findings"]
    assert acme["kind"] == "raised"
    assert acme["finding"] == finding(ACME, "GPS_NO_FIX").as_dict()
    assert acme["finding"]["evidence"] == {"lat": 52.2297, "lon": 21.0122}
    other = got["telediag/v1/accounts/ооо-ромашка/findings"]
    assert (other["kind"], other["finding"]["code"], other["finding"]["cleared_at"]) == (
        "cleared", "EXTERNAL_POWER_LOST", "2025-06-15T15:21:40.000Z")
    assert got["telediag/v1/accounts/_unassigned/findings"]["finding"]["imei"] == LOOSE
    deadline = time.monotonic() + 5
    while publisher.delivered < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (publisher.published, publisher.delivered, publisher.dropped) == (3, 3, 0)


def test_ticket_events_go_to_the_tickets_account(mosquitto: Mosquitto, publisher: MqttPublisher) -> None:
    viewer = Subscriber(mosquitto.port)
    try:
        with_account = {"id": 1, "title": "No GPS fix", "account": "ACME Ltd.", "devices": [ACME], "state": "new"}
        by_device = {"id": 2, "title": "Power lost", "account": None, "devices": [OTHER], "state": "open"}
        nobody = {"id": 3, "title": "Outage", "account": None, "devices": [], "state": "new"}
        publisher.notify(None, "ticket.created", with_account, 0.0)  # type: ignore[arg-type]
        assert publisher.publish_ticket("ticket.open", by_device)
        assert publisher.publish_ticket("ticket.created", nobody)
        got = viewer.take(3)
    finally:
        viewer.close()
    assert sorted(got, key=lambda m: m[1]["ticket"]["id"]) == [
        ("telediag/v1/accounts/acme-ltd/tickets", {"event": "ticket.created", "ticket": with_account}),
        ("telediag/v1/accounts/ооо-ромашка/tickets", {"event": "ticket.open", "ticket": by_device}),
        ("telediag/v1/accounts/_unassigned/tickets", {"event": "ticket.created", "ticket": nobody}),
    ]


def test_a_failed_account_lookup_publishes_nothing(mosquitto: Mosquitto) -> None:
    def broken(imei: str) -> str | None:
        raise RuntimeError("database is locked")

    settings = MqttSettings(host="127.0.0.1", port=mosquitto.port)
    out = MqttPublisher(settings, broken)
    out.start()
    try:
        assert out.publish_findings([Transition("raised", finding(ACME, "GPS_NO_FIX"))]) == 0
        assert not out.publish_ticket("ticket.created", {"id": 1, "account": None, "devices": [ACME]})
        assert (out.published, out.dropped) == (0, 2)
    finally:
        out.stop()


def test_notifications_wait_for_a_broker_that_is_late(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    settings = MqttSettings(host="127.0.0.1", port=broker.port, reconnect_min_s=0.1, reconnect_max_s=0.2)
    out = MqttPublisher(settings, ACCOUNTS.get)
    out.start()
    try:
        assert out.publish_findings([Transition("raised", finding(ACME, "GPS_NO_FIX"))]) == 1
        broker.start()
        deadline = time.monotonic() + 5
        while out.delivered < 1:
            assert time.monotonic() < deadline, "queued finding not delivered after the broker came up"
            time.sleep(0.01)
    finally:
        out.stop(timeout_s=1)
        broker.cleanup()


def test_registry_accounts_reads_the_device_registry(tmp_path: Path) -> None:
    database = tmp_path / "telediag.sqlite3"
    db = connect(database)
    repository.save(db, [parse_entry({"imei": ACME, "protocol": "teltonika", "account": "ACME Ltd."}),
                         parse_entry({"imei": OTHER, "protocol": "teltonika"})], 0.0, "manual")
    db.close()
    account_of = registry_accounts(SQLiteDatabase(database))
    assert (account_of(ACME), account_of(OTHER), account_of(LOOSE)) == ("ACME Ltd.", None, None)
    account_of.close()
    assert account_of(ACME) == "ACME Ltd.", "a lookup after close opens a new connection"
    account_of.close()
