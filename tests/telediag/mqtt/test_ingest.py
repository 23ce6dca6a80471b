"""MQTT ingest against a real Mosquitto: every record stored once with its values, PUBACK only after
the commit, redelivery after a lost connection or a failed commit, the broker's offline queue, a
broker restart in the middle of a stream, bad payloads and refused devices."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from protocols.record import Record, iso_utc
from telediag.ingest.mqtt_schema import telemetry_topic
from telediag.pipeline import Pipeline
from telediag.store.committer import QueueFull
from tests.telediag.mqtt.broker import Mosquitto
from tests.telediag.mqtt.rig import PREFIX, DevicePublisher, IngestRig, pause, wait_until

IMEIS = ("356307042441013", "356307042441014", "356307042441015", "356307042441016")
BASE = 1_750_000_000.0


def message_records(imei: str, n: int) -> list[Record]:
    """The records of message ``n`` of a device: one or two, values distinct per device and message."""
    index = IMEIS.index(imei) if imei in IMEIS else 9
    records = []
    for k in range(1 + n % 2):
        records.append(Record(
            imei=imei, protocol="mqtt", fix_time=BASE + n * 10 + k, valid=True,
            lat=52.0 + index * 0.01 + n * 1e-5 + k * 1e-6, lon=21.0 + n * 1e-5, speed_kmh=float(n % 90) + 0.5,
            satellites=4 + n % 10, ignition=n % 3 != 0, ext_voltage_v=12.0 + n / 100, operator=26001,
            attributes={"seq": n, "part": k},
        ))
    return records


def as_stored(record: Record) -> tuple[Any, ...]:
    return (iso_utc(record.fix_time), record.lat, record.lon, record.speed_kmh, record.satellites,
            record.ignition, record.ext_voltage_v, record.operator, record.attributes, "mqtt")


def stored(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["fix_time"], r["lat"], r["lon"], r["speed_kmh"], r["satellites"], r["ignition"],
             r["ext_voltage_v"], r["operator"], r["attributes"], r["protocol"]) for r in rows]


class GatedPipeline(Pipeline):
    """Holds every commit until released, to look at the broker's side while nothing is durable."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.open = False
        self.held: list[tuple[defer.Deferred[None], str, Sequence[Record]]] = []

    def submit(self, imei: str, protocol: str, records: Sequence[Record]) -> defer.Deferred[None]:
        if self.open:
            return super().submit(imei, protocol, records)
        waiter: defer.Deferred[None] = defer.Deferred()
        self.held.append((waiter, imei, records))
        return waiter

    def release(self) -> None:
        self.open = True
        held, self.held = self.held, []
        for waiter, imei, records in held:
            super().submit(imei, "mqtt", records).chainDeferred(waiter)


class FlakyPipeline(Pipeline):
    """The first ``failures`` commits fail (a store that is overloaded for a moment)."""

    failures = 5

    def submit(self, imei: str, protocol: str, records: Sequence[Record]) -> defer.Deferred[None]:
        if self.failures > 0:
            self.failures -= 1
            return defer.fail(QueueFull("store overloaded for the test"))
        return super().submit(imei, protocol, records)


class MqttIngestTests(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="telediag-mqtt-test-"))
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.broker = Mosquitto(self.directory / "broker").start()
        self.addCleanup(self.broker.stop)

    @defer.inlineCallbacks
    def rig(self, **options: Any) -> Any:
        data_dir = self.directory / "data"
        data_dir.mkdir(exist_ok=True)
        rig = IngestRig(data_dir, self.broker.port, **options)
        self.addCleanup(rig.stop)
        yield rig.start_ingest()
        return rig

    def device(self, client_id: str = "device-gateway") -> DevicePublisher:
        publisher = DevicePublisher(self.broker.port, client_id)
        self.addCleanup(publisher.close)
        return publisher

    def expected(self, messages: int) -> dict[str, list[tuple[Any, ...]]]:
        """What the store must hold after ``messages`` messages spread round-robin over IMEIS."""
        out: dict[str, list[tuple[Any, ...]]] = {imei: [] for imei in IMEIS}
        for n in range(messages):
            imei = IMEIS[n % len(IMEIS)]
            out[imei].extend(as_stored(r) for r in message_records(imei, n))
        return out

    def publish_stream(self, device: DevicePublisher, start: int, stop: int) -> None:
        for n in range(start, stop):
            imei = IMEIS[n % len(IMEIS)]
            device.publish(imei, message_records(imei, n), iso_times=n % 3 != 0)

    def assert_exactly(self, rig: IngestRig, expected: dict[str, list[tuple[Any, ...]]]) -> None:
        for imei, rows in expected.items():
            self.assertEqual(stored(rig.records(imei)), rows, f"records of {imei}")
        self.assertEqual(rig.count(), sum(map(len, expected.values())), "no duplicates")

    @defer.inlineCallbacks
    def assert_nothing_redelivered(self, rig: IngestRig) -> Any:
        """A new session start gets no message back: every one was acknowledged."""
        yield rig.stop_ingest()
        yield rig.start_ingest()
        yield pause(0.3)
        self.assertEqual(rig.ingest.stats.received, 0)

    @defer.inlineCallbacks
    def test_a_stream_of_200_messages_is_stored_exactly_once_with_exact_values(self) -> Any:
        rig = yield self.rig()
        device = self.device()
        self.publish_stream(device, 0, 200)
        expected = self.expected(200)
        total = sum(map(len, expected.values()))
        yield wait_until(lambda: rig.ingest.stats.acked == 200 and rig.count() == total, "200 messages acked")
        self.assert_exactly(rig, expected)
        self.assertEqual(rig.pipeline.stats.packets["mqtt"], 200)
        self.assertEqual(rig.pipeline.stats.records["mqtt"], total)
        self.assertEqual(sum(rig.pipeline.stats.ack_latency.counts["mqtt"]), 200)
        self.assertEqual((rig.ingest.stats.invalid, rig.ingest.stats.commit_failures), (0, 0))
        yield self.assert_nothing_redelivered(rig)

    @defer.inlineCallbacks
    def test_no_puback_before_the_commit_and_a_lost_connection_brings_the_messages_back(self) -> Any:
        rig = yield self.rig(pipeline_factory=GatedPipeline)
        acks: list[tuple[int, int]] = []
        client = rig.ingest._client
        real_ack = client.ack
        client.ack = lambda mid, qos: (acks.append((mid, rig.count())), real_ack(mid, qos))[1]
        device = self.device()
        self.publish_stream(device, 0, 10)
        yield wait_until(lambda: rig.ingest.stats.received == 10, "10 messages received")
        yield pause(0.2)
        self.assertEqual((acks, rig.count(), len(rig.pipeline.held)), ([], 0, 10))
        # the network drops while the commits are pending: the broker resends all ten on the new connection
        client.socket().shutdown(socket.SHUT_RDWR)
        yield wait_until(lambda: rig.ingest.stats.received == 20, "the ten messages redelivered")
        self.assertEqual(acks, [])
        rig.pipeline.release()
        expected = self.expected(10)
        yield wait_until(lambda: rig.ingest.stats.acked == 10, "ten PUBACKs")
        self.assertEqual(rig.ingest.stats.stale_acks, 10, "commits of the lost connection send no PUBACK")
        self.assertTrue(all(count >= 1 for _, count in acks), "every PUBACK after a commit")
        self.assert_exactly(rig, expected)
        yield self.assert_nothing_redelivered(rig)

    @defer.inlineCallbacks
    def test_messages_whose_commit_did_not_finish_come_back_to_the_next_session(self) -> Any:
        rig = yield self.rig(pipeline_factory=GatedPipeline, stop_timeout_s=0.2)
        device = self.device()
        self.publish_stream(device, 0, 8)
        yield wait_until(lambda: rig.ingest.stats.received == 8, "8 messages received")
        yield rig.stop_ingest()  # the commits never finish: nothing is acknowledged
        self.assertEqual(rig.ingest.stats.acked, 0)
        rig.pipeline.release()
        yield rig.start_ingest()
        yield wait_until(lambda: rig.ingest.stats.acked == 8, "8 messages redelivered and acked")
        self.assert_exactly(rig, self.expected(8))

    @defer.inlineCallbacks
    def test_a_failed_commit_is_not_acked_and_a_reconnection_gets_it_redelivered(self) -> Any:
        rig = yield self.rig(pipeline_factory=FlakyPipeline)
        device = self.device()
        self.publish_stream(device, 0, 12)
        expected = self.expected(12)
        yield wait_until(lambda: rig.count() == sum(map(len, expected.values())), "all records after the retry")
        self.assertEqual(rig.ingest.stats.commit_failures, 5)
        self.assertGreaterEqual(rig.ingest.stats.connects, 2, "reconnected so that the broker redelivers")
        self.assert_exactly(rig, expected)
        yield wait_until(lambda: rig.ingest.in_flight == 0, "commits settled")
        yield self.assert_nothing_redelivered(rig)

    @defer.inlineCallbacks
    def test_messages_published_while_telediag_is_away_are_delivered_on_its_return(self) -> Any:
        rig = yield self.rig()
        yield rig.stop_ingest()
        device = self.device()
        self.publish_stream(device, 0, 40)
        yield wait_until(device.all_published, "the broker took the 40 messages")
        yield rig.start_ingest()
        yield wait_until(lambda: rig.ingest.stats.acked == 40, "40 queued messages delivered and acked")
        self.assert_exactly(rig, self.expected(40))

    @defer.inlineCallbacks
    def test_a_broker_restart_in_the_middle_of_the_stream_loses_nothing_and_duplicates_nothing(self) -> Any:
        rig = yield self.rig()
        device = self.device()
        yield wait_until(device.connected, "the device connected")
        self.publish_stream(device, 0, 100)
        yield wait_until(lambda: rig.ingest.stats.acked >= 30, "the stream under way")
        first_pid = self.broker.process.pid
        self.broker.restart()  # SIGTERM (the broker saves its sessions and queues), same port and directory
        self.assertNotEqual(self.broker.process.pid, first_pid)
        self.publish_stream(device, 100, 200)  # the device keeps publishing; paho resends after reconnect
        expected = self.expected(200)
        total = sum(map(len, expected.values()))
        yield wait_until(lambda: rig.count() == total and device.all_published(), "all 200 messages", 15)
        self.assert_exactly(rig, expected)
        self.assertGreaterEqual(rig.ingest.stats.connects, 2)
        self.assertGreaterEqual(rig.ingest.stats.disconnects, 1)
        yield wait_until(lambda: rig.ingest.in_flight == 0, "commits settled")
        yield self.assert_nothing_redelivered(rig)

    @defer.inlineCallbacks
    def test_bad_payloads_are_counted_stored_as_ingest_errors_and_acked(self) -> Any:
        rig = yield self.rig(max_payload_bytes=1024)
        device = self.device()
        imei = IMEIS[0]
        topic = telemetry_topic(PREFIX, imei)
        device.publish_raw(topic, b"not json at all")
        device.publish_raw(topic, b'{"lat": "north", "fix_time": 1750000000}')
        device.publish_raw(topic, b'{"fix_time": 1750000000, "blob": "' + b"x" * 2000 + b'"}')
        device.publish_raw(f"{PREFIX}/not-an-imei/telemetry", b'{"fix_time": 1750000000}')
        device.publish(imei, message_records(imei, 0))
        yield wait_until(lambda: rig.ingest.stats.acked == 5 and len(rig.ingest_errors()) == 4, "5 acks, 4 errors")
        self.assertEqual(rig.ingest.stats.invalid, 4)
        self.assertEqual(rig.pipeline.stats.errors["mqtt"], 4)
        errors = rig.ingest_errors()
        self.assertEqual([e[0] for e in errors], [imei, imei, imei, None])
        self.assertEqual({e[1] for e in errors}, {"mqtt"})
        self.assertEqual(errors[0][2], topic)
        self.assertIn("not UTF-8 JSON", errors[0][3])
        self.assertEqual(errors[0][4], b"not json at all".hex())
        self.assertIn("lat must be a number", errors[1][3])
        self.assertIn("over the 1024-byte limit", errors[2][3])
        self.assertIn("must be 15-17 digits", errors[3][3])
        self.assertEqual(stored(rig.records(imei)), [as_stored(r) for r in message_records(imei, 0)])
        yield self.assert_nothing_redelivered(rig)

    @defer.inlineCallbacks
    def test_an_unregistered_device_is_refused_acked_and_counted(self) -> Any:
        rig = yield self.rig(auto_register=False, registered=[IMEIS[1]])
        device = self.device()
        device.publish(IMEIS[0], message_records(IMEIS[0], 0))
        device.publish(IMEIS[1], message_records(IMEIS[1], 1))
        yield wait_until(lambda: rig.ingest.stats.acked == 2, "both acked")
        self.assertEqual(rig.ingest.stats.refused, 1)
        self.assertEqual(rig.pipeline.stats.refused["mqtt"], 1)
        yield wait_until(lambda: rig.count() == 2, "the registered device's records")
        self.assertEqual(rig.records(IMEIS[0]), [])
        yield self.assert_nothing_redelivered(rig)

    @defer.inlineCallbacks
    def test_stop_disconnects_and_ends_the_network_thread(self) -> Any:
        rig = yield self.rig()
        client = rig.ingest._client
        yield rig.stop_ingest()
        self.assertFalse(client.is_connected())
        self.assertIsNone(client._thread)
        self.assertIsNone(rig.ingest._client)
