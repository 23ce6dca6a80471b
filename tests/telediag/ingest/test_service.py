"""The ingest service in-process on 127.0.0.1 with raw device sockets: ACK after commit, bad input
handled per connection, limits, registration policy, server commands, flush on stop."""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.trial import unittest

from protocols import gt06, teltonika
from protocols.record import Record
from simulators.devices import SimDevice, TeltonikaTcpLink
from telediag.app import makeService
from telediag.config import ApiConfig, Config, IngestConfig, StoreConfig
from telediag.pipeline import DeviceNotConnected
from telediag.registry import repository
from telediag.registry.entries import parse_entry
from telediag.store.reader import Reader
from tests.stores import database_at

IMEI = "356307042441013"


def record(second: int, **overrides: Any) -> Record:
    values = dict(imei=IMEI, protocol="teltonika", fix_time=1_750_000_000.0 + second, valid=True,
                  lat=52.2297, lon=21.0122, altitude_m=100.0, speed_kmh=50.0, course_deg=90.0,
                  satellites=9, hdop=1.0, ignition=True, motion=True, ext_voltage_v=13.8,
                  battery_voltage_v=4.1, gsm_signal_pct=80, operator=26001, roaming=False,
                  odometer_m=1000.0)
    values.update(overrides)
    return Record(**values)


class RawDevice(Protocol):
    """A socket that records what the server sends and whether it closed."""

    def __init__(self) -> None:
        self.received = b""
        self.closed: defer.Deferred[None] = defer.Deferred()
        self._waiting: list[tuple[int, defer.Deferred[bytes]]] = []

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        for entry in list(self._waiting):
            if len(self.received) >= entry[0]:
                self._waiting.remove(entry)
                entry[1].callback(self.received)

    def connectionLost(self, reason: Any) -> None:
        self.closed.callback(None)

    def wait_for(self, total: int, timeout: float = 5.0) -> defer.Deferred[bytes]:
        waiter: defer.Deferred[bytes] = defer.Deferred()
        if len(self.received) >= total:
            waiter.callback(self.received)
        else:
            self._waiting.append((total, waiter))
        return waiter.addTimeout(timeout, reactor)


class UdpDevice(DatagramProtocol):
    def __init__(self) -> None:
        self.answers: defer.DeferredQueue[bytes] = defer.DeferredQueue()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.answers.put(data)


class IngestServiceTests(unittest.TestCase):
    def start(self, **ingest: Any) -> defer.Deferred[None]:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-test-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        store = StoreConfig(data_dir=data_dir, batch_max_delay_ms=ingest.pop("delay_ms", 2.0))
        self.config = Config(
            store=store,
            api=ApiConfig(listen="tcp:0:interface=127.0.0.1"),
            ingest=IngestConfig(**ingest),
            listen={"teltonika": ("tcp:0:interface=127.0.0.1", "udp:0:interface=127.0.0.1"),
                    "gt06": ("tcp:0:interface=127.0.0.1",)},
        )
        self.service = makeService(self.config, reactor)
        self.service.startService()
        self.addCleanup(self.stop_service)
        return self.service.ready

    def stop_service(self) -> Any:
        if self.service.running:
            return self.service.stopService()
        return None

    def port(self, protocol: str, transport: str = "tcp") -> int:
        return self.service.getServiceNamed("listeners").port(protocol, transport)

    @defer.inlineCallbacks
    def connect(self, protocol: str = "teltonika") -> Any:
        device = RawDevice()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port(protocol)), device)
        self.addCleanup(lambda: device.transport.loseConnection())
        return device

    def stored(self, imei: str = IMEI) -> list[dict]:
        reader = Reader(database_at(self.config.database_path))
        try:
            return list(reader.records(imei))
        finally:
            reader.close()

    def state(self, imei: str = IMEI) -> dict | None:
        reader = Reader(database_at(self.config.database_path))
        try:
            return reader.device_state(imei)
        finally:
            reader.close()

    @defer.inlineCallbacks
    def test_teltonika_ack_comes_after_the_records_are_committed(self) -> Any:
        yield self.start()
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.wait_for(1)
        self.assertEqual(device.received, b"\x01")
        device.transport.write(teltonika.encode_avl([record(0), record(1, speed_kmh=60.0)]))
        yield device.wait_for(5)
        self.assertEqual(device.received[1:], struct.pack(">I", 2))
        stored = self.stored()  # read at the moment of the ACK: already durable
        self.assertEqual([r["speed_kmh"] for r in stored], [50.0, 60.0])
        self.assertEqual(stored[0]["fix_time"], "2025-06-15T15:06:40.000Z")
        self.assertEqual(self.state()["connected"], 1)

    @defer.inlineCallbacks
    def test_crc_error_gets_a_zero_ack_and_the_stream_goes_on(self) -> Any:
        yield self.start()
        bystander = yield self.connect()
        bystander.transport.write(teltonika.encode_imei("356307042441014"))
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.wait_for(1)
        packet = bytearray(teltonika.encode_avl([record(0)]))
        packet[-1] ^= 0xFF
        device.transport.write(bytes(packet) + teltonika.encode_avl([record(1)]))
        yield device.wait_for(9)
        self.assertEqual(device.received, b"\x01" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x01")
        bystander.transport.write(teltonika.encode_avl([record(5, imei="356307042441014")]))
        yield bystander.wait_for(5)
        self.assertEqual(bystander.received, b"\x01\x00\x00\x00\x01")
        self.assertEqual([r["fix_time"] for r in self.stored()], ["2025-06-15T15:06:41.000Z"])
        yield deferLater(reactor, 0.05, lambda: None)
        state = self.state()
        self.assertEqual(state["protocol_errors"], 1)
        self.assertIn("CRC", state["last_error"])
        self.assertEqual(self.service.pipeline.stats.errors["teltonika"], 1)

    @defer.inlineCallbacks
    def test_unknown_imei_is_refused_when_not_auto_registering(self) -> Any:
        yield self.start(auto_register=False)
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.closed
        self.assertEqual(device.received, b"\x00")

    @defer.inlineCallbacks
    def test_idle_connection_is_closed(self) -> Any:
        yield self.start(idle_timeout_s=0.3)
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.closed.addTimeout(5, reactor)
        self.assertEqual(device.received, b"\x01")

    @defer.inlineCallbacks
    def test_oversized_frame_closes_only_that_connection(self) -> Any:
        yield self.start(max_frame_bytes=512)
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.wait_for(1)
        device.transport.write(teltonika.encode_avl([record(i) for i in range(40)]))
        yield device.closed.addTimeout(5, reactor)
        self.assertEqual(self.stored(), [])
        other = yield self.connect()
        other.transport.write(teltonika.encode_imei(IMEI))
        yield other.wait_for(1)
        self.assertEqual(other.received, b"\x01")

    @defer.inlineCallbacks
    def test_codec12_command_reaches_the_device_and_its_answer_comes_back(self) -> Any:
        yield self.start()
        device = SimDevice(IMEI, "teltonika", "tcp", 1)
        link = TeltonikaTcpLink(device, 0x8E)
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port("teltonika")), link)
        self.addCleanup(lambda: link.transport.loseConnection())
        for _ in range(100):
            if IMEI in self.service.pipeline.connected_devices():
                break
            yield deferLater(reactor, 0.02, lambda: None)
        answer = yield self.service.pipeline.send_command(IMEI, "getparam 2001", timeout_s=5)
        self.assertEqual(answer, "Param ID:2001 Value:internet")
        yield deferLater(reactor, 0.05, lambda: None)
        stored = self.stored()
        self.assertEqual(stored[-1]["event"], "command_response")
        self.assertEqual(stored[-1]["attributes"]["response"], "Param ID:2001 Value:internet")

    @defer.inlineCallbacks
    def test_gt06_login_location_and_heartbeat(self) -> Any:
        yield self.start()
        device = yield self.connect("gt06")
        device.transport.write(gt06.encode_login(IMEI, 1))
        yield device.wait_for(10)
        fix = record(0, protocol="gt06")
        device.transport.write(gt06.encode_location(fix, 2) + gt06.encode_status(fix, 3))
        yield device.wait_for(30)
        acks = gt06.DeviceReceiver().feed(device.received)
        self.assertEqual([(a.type_id, a.serial) for a in acks], [(0x01, 1), (0x22, 2), (0x13, 3)])
        stored = self.stored()
        self.assertEqual(len(stored), 2)
        location, status = stored  # the heartbeat has no fix time; it sorts by its server time
        self.assertAlmostEqual(location["lat"], 52.2297, places=5)
        self.assertAlmostEqual(location["lon"], 21.0122, places=5)
        self.assertEqual(location["fix_time"], "2025-06-15T15:06:40.000Z")
        self.assertEqual(location["protocol"], "gt06")
        self.assertIsNone(status["fix_time"])
        self.assertIsNone(status["lat"])

    @defer.inlineCallbacks
    def test_udp_ack_echoes_the_packet_after_commit(self) -> Any:
        yield self.start()
        client = UdpDevice()
        port = reactor.listenUDP(0, client, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        datagram = teltonika.encode_udp(IMEI, 0xCAFE, 5, [record(0), record(1)])
        client.transport.write(datagram, ("127.0.0.1", self.port("teltonika", "udp")))
        answer = yield client.answers.get().addTimeout(5, reactor)
        self.assertEqual(answer, bytes.fromhex("0005CAFE010502"))
        self.assertEqual(len(self.stored()), 2)
        client.transport.write(datagram, ("127.0.0.1", self.port("teltonika", "udp")))
        again = yield client.answers.get().addTimeout(5, reactor)
        self.assertEqual(again, answer)
        self.assertEqual(len(self.stored()), 2, "a resent datagram is acknowledged, not stored twice")

    @defer.inlineCallbacks
    def test_stop_commits_what_is_queued(self) -> Any:
        yield self.start(delay_ms=60_000.0)
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.wait_for(1)
        device.transport.write(teltonika.encode_avl([record(0)]))
        for _ in range(100):
            if self.service.pipeline.committer.backlog:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(self.stored(), [])
        yield self.service.stopService()
        self.assertEqual(len(self.stored()), 1)

    @defer.inlineCallbacks
    def test_command_to_a_silent_or_absent_device_fails_clearly(self) -> Any:
        yield self.start()
        with self.assertRaises(DeviceNotConnected):
            yield self.service.pipeline.send_command("000000000000000", "getinfo")
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.wait_for(1)
        with self.assertRaises(defer.TimeoutError):
            yield self.service.pipeline.send_command(IMEI, "getinfo", timeout_s=0.2)
        self.assertEqual(device.received[1:], teltonika.encode_command("getinfo"))

    @defer.inlineCallbacks
    def test_device_registered_while_running_is_accepted_without_auto_register(self) -> Any:
        yield self.start(auto_register=False)
        db = database_at(self.config.database_path).connect()
        repository.save(db, [parse_entry({"imei": IMEI, "protocol": "teltonika"})], 0.0, "manual")
        db.close()
        store = self.service.getServiceNamed("store")
        for _ in range(40):  # the store reads the registry again every second, off the reactor
            if IMEI in store.registered:
                break
            yield deferLater(reactor, 0.1, lambda: None)
        self.assertIn(IMEI, store.registered)
        device = yield self.connect()
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.wait_for(1)
        self.assertEqual(device.received, b"\x01")
