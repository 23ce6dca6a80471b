"""In-process ingest over MQTT for the tests: Store, BatchCommitter, Pipeline and MqttIngest wired as
``telediag serve`` wires them, plus a device-side paho publisher with a persistent session."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client, MQTTMessageInfo, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater

from protocols.record import Record
from telediag.config import MqttSettings
from telediag.ingest.mqtt import MqttIngest
from telediag.ingest.mqtt_schema import encode_telemetry, telemetry_topic
from telediag.pipeline import Pipeline
from telediag.store.committer import BatchCommitter
from telediag.store.reader import Reader
from telediag.store.writer import Store
from tests.stores import database_at

PREFIX = "telediag/v1"


@defer.inlineCallbacks
def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0, step: float = 0.02) -> Any:
    """Poll ``predicate`` on the reactor until it holds; fail naming ``what`` after ``timeout``."""
    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        yield deferLater(reactor, step, lambda: None)


def pause(seconds: float) -> defer.Deferred[None]:
    """Let the reactor run for a while."""
    return deferLater(reactor, seconds, lambda: None)


class IngestRig:
    """The ingest half of the service with MQTT as its only transport."""

    def __init__(
        self, data_dir: Path, broker_port: int, auto_register: bool = True, registered: Sequence[str] = (),
        pipeline_factory: Callable[..., Pipeline] = Pipeline, **settings: Any,
    ) -> None:
        self.database = data_dir / "telediag.sqlite3"
        self.settings = dataclasses.replace(
            MqttSettings(host="127.0.0.1", port=broker_port, reconnect_min_s=0.1, reconnect_max_s=0.5,
                         keepalive_s=5, stop_timeout_s=2.0, client_id="telediag-test"),
            **settings,
        )
        self.store = Store(database_at(self.database))
        self.committer = BatchCommitter(reactor, max_delay_s=0.002)
        self.committer.start(self.store)
        self.pipeline = pipeline_factory(reactor, self.committer, set(registered), auto_register)
        self.ingest: MqttIngest | None = None

    def start_ingest(self) -> defer.Deferred[None]:
        """A fresh MqttIngest on the same session; fires once it is subscribed."""
        self.ingest = MqttIngest(reactor, self.settings, self.pipeline)
        self.ingest.startService()
        return self.ingest.subscribed.addTimeout(10, reactor)

    @defer.inlineCallbacks
    def stop_ingest(self) -> Any:
        if self.ingest is not None and self.ingest.running:
            yield self.ingest.stopService()

    @defer.inlineCallbacks
    def stop(self) -> Any:
        yield self.stop_ingest()
        yield self.committer.stop()

    def records(self, imei: str) -> list[dict[str, Any]]:
        reader = Reader(database_at(self.database))
        try:
            return list(reader.records(imei))
        finally:
            reader.close()

    def count(self) -> int:
        reader = Reader(database_at(self.database))
        try:
            return int(reader.connection.execute("SELECT count(*) FROM records").fetchone()[0])
        finally:
            reader.close()

    def ingest_errors(self) -> list[tuple[Any, ...]]:
        reader = Reader(database_at(self.database))
        try:
            return reader.connection.execute(
                "SELECT imei, protocol, remote, message, excerpt FROM ingest_errors ORDER BY id").fetchall()
        finally:
            reader.close()


class DevicePublisher:
    """A device (or gateway) publishing telemetry with QoS 1 on a persistent session; paho retries
    its own unacknowledged publishes after a reconnect."""

    def __init__(self, port: int, client_id: str = "device-gateway") -> None:
        self.client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                             protocol=MQTTv311)
        self.client.reconnect_delay_set(0.05, 0.5)  # type: ignore[arg-type]
        self.acknowledged: set[int] = set()  # mids the broker PUBACKed (is_published() raises on NO_CONN)
        self.client.on_publish = lambda client, userdata, mid, reason, properties: self.acknowledged.add(mid)
        self.client.connect_async("127.0.0.1", port, 5)
        self.client.loop_start()
        self.sent: list[MQTTMessageInfo] = []

    def connected(self) -> bool:
        return self.client.is_connected()

    def publish(self, imei: str, records: Sequence[Record], iso_times: bool = True) -> None:
        self.publish_raw(telemetry_topic(PREFIX, imei), encode_telemetry(records, iso_times))

    def publish_raw(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        assert info.rc in (0, 4), f"publish refused: {info.rc}"  # 4: no connection yet, sent on reconnect
        self.sent.append(info)

    def all_published(self) -> bool:
        """The broker acknowledged every message."""
        return all(info.mid in self.acknowledged for info in self.sent)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
