"""``GET /metrics`` of the in-process service, scraped over real HTTP while a simulated Teltonika
tracker sends records: counters, ACK latency, connections, decode errors, store gauges, the token."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest
from twisted.web.client import Agent
from twisted.web.http_headers import Headers

from protocols import teltonika
from protocols.record import Record
from simulators.devices import SimDevice, TeltonikaTcpLink
from telediag.api.service import ApiService
from telediag.app import makeService
from telediag.config import ApiConfig, Config, ConfigError, IngestConfig, MetricsSettings, StoreConfig, parse_section
from telediag.metrics import Metrics, StoreCollector, StoreCounts
from telediag.pipeline import LatencyHistogram
from tests.stores import database_at
from tests.telediag.api.support import BodyCollector

IMEI = "356307042441013"


def read_body(response: Any) -> defer.Deferred[bytes]:
    collector = BodyCollector()
    response.deliverBody(collector)
    return collector.done


def record(second: int, imei: str = IMEI) -> Record:
    return Record(imei=imei, protocol="teltonika", fix_time=1_750_000_000.0 + second, valid=True,
                  lat=52.2297, lon=21.0122, speed_kmh=50.0, satellites=9, ignition=True)


class Scrape:
    """One parsed exposition: ``value(name, **labels)`` of a sample."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        found = [s.value for s in self.samples
                 if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} samples {name}{labels} in:\n{self.text}")
        return found[0]


class UdpDevice(DatagramProtocol):
    def __init__(self) -> None:
        self.answers: defer.DeferredQueue[bytes] = defer.DeferredQueue()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.answers.put(data)


class MetricsEndpointTests(unittest.TestCase):
    @defer.inlineCallbacks
    def start(self, metrics: dict[str, Any] | None = None, **ingest: Any) -> Any:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-metrics-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        self.config = Config(
            store=StoreConfig(data_dir=data_dir),
            api=ApiConfig(listen="tcp:0:interface=127.0.0.1"),
            ingest=IngestConfig(**ingest),
            listen={"teltonika": ("tcp:0:interface=127.0.0.1", "udp:0:interface=127.0.0.1")},
            metrics=MetricsSettings(store_cache_s=0, **(metrics or {})),
        )
        self.service = makeService(self.config, reactor)
        self.service.startService()
        self.addCleanup(lambda: self.service.stopService() if self.service.running else None)
        yield self.service.ready
        self.api = self.service.getServiceNamed("api")
        self.agent = Agent(reactor)

    def port(self, transport: str = "tcp") -> int:
        return self.service.getServiceNamed("listeners").port("teltonika", transport)

    @defer.inlineCallbacks
    def get(self, path: str = "/metrics", token: str | None = None, port: int | None = None) -> Any:
        headers = Headers({b"Authorization": [f"Bearer {token}".encode()]} if token is not None else {})
        url = f"http://127.0.0.1:{port or self.api.port}{path}".encode()
        response = yield self.agent.request(b"GET", url, headers).addTimeout(10, reactor)
        body = yield read_body(response)
        return response, body

    @defer.inlineCallbacks
    def scrape(self, token: str | None = None, port: int | None = None) -> Any:
        response, body = yield self.get(token=token, port=port)
        self.assertEqual(response.code, 200, body)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"),
                         [b"text/plain; version=0.0.4; charset=utf-8"])
        return Scrape(body.decode())

    @defer.inlineCallbacks
    def until(self, condition: Any, timeout: float = 5.0) -> Any:
        for _ in range(int(timeout / 0.02)):
            if condition():
                return
            yield deferLater(reactor, 0.02, lambda: None)
        raise AssertionError("condition not reached in time")

    @defer.inlineCallbacks
    def sim_device(self, records: int, per_packet: int) -> Any:
        device = SimDevice(IMEI, "teltonika", "tcp", per_packet)
        for second in range(records):
            device.outbox.add(record(second))
        link = TeltonikaTcpLink(device, 0x08)
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port()), link)
        self.addCleanup(lambda: link.transport.loseConnection())
        return device, link

    @defer.inlineCallbacks
    def test_records_packets_ack_latency_and_connections_of_a_simulated_tracker(self) -> Any:
        yield self.start()
        before = yield self.scrape()
        self.assertEqual(before.value("telediag_packets_total", protocol="teltonika"), 0)
        self.assertEqual(before.value("telediag_connected_devices", protocol="teltonika"), 0)
        device, link = yield self.sim_device(records=7, per_packet=3)
        yield self.until(lambda: device.outbox.counters.acked == 7)

        scrape = yield self.scrape()
        self.assertEqual(scrape.value("telediag_records_total", protocol="teltonika"), 7)
        self.assertEqual(scrape.value("telediag_packets_total", protocol="teltonika"), 3)
        self.assertEqual(scrape.value("telediag_ack_latency_seconds_count", protocol="teltonika"), 3)
        self.assertEqual(scrape.value("telediag_ack_latency_seconds_bucket", protocol="teltonika", le="+Inf"), 3)
        self.assertGreater(scrape.value("telediag_ack_latency_seconds_sum", protocol="teltonika"), 0)
        self.assertLess(scrape.value("telediag_ack_latency_seconds_sum", protocol="teltonika"), 10)
        self.assertEqual(scrape.value("telediag_connected_devices", protocol="teltonika"), 1)
        self.assertEqual(scrape.value("telediag_decode_errors_total", protocol="teltonika"), 0)
        self.assertEqual(scrape.value("telediag_records_stored_total"), 7)
        self.assertGreaterEqual(scrape.value("telediag_commits_total"), 1)
        self.assertEqual(scrape.value("telediag_commit_failures_total"), 0)
        self.assertEqual(scrape.value("telediag_commit_backlog_records"), 0)
        self.assertEqual(scrape.value("telediag_commit_queue_limit_records"), 100_000)
        self.assertGreaterEqual(scrape.value("telediag_diagnostics_jobs_in_flight"), 0)
        self.assertGreaterEqual(scrape.value("telediag_ticket_jobs_in_flight"), 0)

        link.transport.loseConnection()
        yield self.until(lambda: self.service.pipeline.stats.connections["teltonika"] == 0)
        after = yield self.scrape()
        self.assertEqual(after.value("telediag_connected_devices", protocol="teltonika"), 0)
        self.assertEqual(after.value("telediag_packets_total", protocol="teltonika"), 3)

    @defer.inlineCallbacks
    def test_a_bad_frame_is_counted_as_a_decode_error(self) -> Any:
        yield self.start()
        device, _ = yield self.sim_device(records=1, per_packet=1)
        yield self.until(lambda: device.outbox.counters.acked == 1)
        device.send_garbage()  # a frame with a broken CRC: answered with 0, the connection goes on
        yield self.until(lambda: self.service.pipeline.stats.errors["teltonika"] == 1)
        scrape = yield self.scrape()
        self.assertEqual(scrape.value("telediag_decode_errors_total", protocol="teltonika"), 1)
        self.assertEqual(scrape.value("telediag_packets_total", protocol="teltonika"), 1)
        self.assertEqual(scrape.value("telediag_ack_latency_seconds_count", protocol="teltonika"), 1)

    @defer.inlineCallbacks
    def test_udp_packets_are_timed_from_decode_to_ack(self) -> Any:
        yield self.start()
        client = UdpDevice()
        port = reactor.listenUDP(0, client, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        for packet_id in (1, 2):
            records = [record(packet_id * 10), record(packet_id * 10 + 1)]
            datagram = teltonika.encode_udp(IMEI, packet_id, packet_id, records)
            client.transport.write(datagram, ("127.0.0.1", self.port("udp")))
            yield client.answers.get().addTimeout(5, reactor)
        scrape = yield self.scrape()
        self.assertEqual(scrape.value("telediag_packets_total", protocol="teltonika"), 2)
        self.assertEqual(scrape.value("telediag_records_total", protocol="teltonika"), 4)
        self.assertEqual(scrape.value("telediag_ack_latency_seconds_count", protocol="teltonika"), 2)
        self.assertEqual(scrape.value("telediag_connected_devices", protocol="teltonika"), 0)

    @defer.inlineCallbacks
    def test_refused_device_is_counted(self) -> Any:
        yield self.start(auto_register=False)
        yield self.sim_device(records=1, per_packet=1)
        yield self.until(lambda: self.service.pipeline.stats.refused["teltonika"] == 1)
        scrape = yield self.scrape()
        self.assertEqual(scrape.value("telediag_refused_devices_total", protocol="teltonika"), 1)
        self.assertEqual(scrape.value("telediag_packets_total", protocol="teltonika"), 0)

    @defer.inlineCallbacks
    def test_active_findings_and_open_tickets_come_from_the_store(self) -> Any:
        yield self.start()
        scrape = yield self.scrape()
        self.assertEqual(scrape.value("telediag_findings_active", code="GPS_NO_FIX"), 0)
        self.assertEqual(scrape.value("telediag_tickets_open", state="new", priority="P2"), 0)
        db = database_at(self.config.database_path).connect()
        self.addCleanup(db.close)
        with db:
            db.execute("INSERT INTO findings (imei, code, active, first_seen, last_seen) "
                       "VALUES (?, 'GPS_NO_FIX', 1, 1.0, 2.0)", (IMEI,))
            db.execute("INSERT INTO findings (imei, code, active, first_seen, last_seen, cleared_at) "
                       "VALUES (?, 'BATTERY_LOW', 0, 1.0, 2.0, 3.0)", (IMEI,))
        scrape = yield self.scrape()
        self.assertEqual(scrape.value("telediag_findings_active", code="GPS_NO_FIX"), 1)
        self.assertEqual(scrape.value("telediag_findings_active", code="BATTERY_LOW"), 0)
        self.assertEqual(scrape.value("telediag_tickets_open", state="new", priority="P2"), 0)
        with db:
            for state in ("new", "resolved"):
                db.execute(
                    "INSERT INTO tickets (title, origin, category, topic, team, priority, state, created_at, "
                    "updated_at) VALUES ('GPS antenna', 'auto', 'system_problem', 'remote_diagnostics', "
                    "'technical', 'P2', ?, 1.0, 1.0)", (state,))
        scrape = yield self.scrape()
        self.assertEqual(scrape.value("telediag_tickets_open", state="new", priority="P2"), 1)
        self.assertEqual(scrape.value("telediag_tickets_open", state="open", priority="P2"), 0)
        self.assertNotIn('state="resolved"', scrape.text)

    @defer.inlineCallbacks
    def test_token_is_required_only_when_configured(self) -> Any:
        yield self.start(metrics={"token": "s3cret"})
        response, body = yield self.get()
        self.assertEqual(response.code, 401)
        self.assertIn(b"[metrics] token", body)
        self.assertTrue(response.headers.getRawHeaders(b"www-authenticate"))
        response, _ = yield self.get(token="wrong")
        self.assertEqual(response.code, 401)
        scrape = yield self.scrape(token="s3cret")
        self.assertEqual(scrape.value("telediag_packets_total", protocol="teltonika"), 0)
        response, _ = yield self.get("/healthz")
        self.assertEqual(response.code, 200)

    @defer.inlineCallbacks
    def test_no_token_by_default_and_only_get(self) -> Any:
        yield self.start()
        response, _ = yield self.get()
        self.assertEqual(response.code, 200)
        posted = yield self.agent.request(b"POST", f"http://127.0.0.1:{self.api.port}/metrics".encode())
        yield read_body(posted)
        self.assertEqual(posted.code, 405)

    @defer.inlineCallbacks
    def test_an_api_without_ingest_wired_in_serves_the_store_gauges(self) -> Any:
        yield self.start()
        alone = ApiService(self.config, reactor, self.api.diagnostics, read_threads=1)
        alone.startService()
        self.addCleanup(alone.stopService)
        port = yield alone.ready
        scrape = yield self.scrape(port=port)
        self.assertEqual(scrape.value("telediag_findings_active", code="DEVICE_SILENT"), 0)
        self.assertNotIn("telediag_packets_total", scrape.text)


class StoreGaugeCacheTests(unittest.TestCase):
    def test_the_store_is_read_at_most_once_per_cache_time_and_scrapes_share_a_read(self) -> None:
        clock = Clock()
        collector = StoreCollector(clock, cache_s=5.0)
        reads: list[defer.Deferred[StoreCounts]] = []

        def read(function: Any) -> defer.Deferred[StoreCounts]:
            reads.append(defer.Deferred())
            return reads[-1]

        first, second = collector.refresh(read), collector.refresh(read)
        self.assertEqual(len(reads), 1)
        reads[0].callback(StoreCounts({"GPS_NO_FIX": 2}, {}))
        self.assertTrue(first.called and second.called)
        clock.advance(4.9)
        self.assertTrue(collector.refresh(read).called)
        self.assertEqual(len(reads), 1)
        clock.advance(0.2)
        collector.refresh(read)
        self.assertEqual(len(reads), 2)
        reads[1].errback(RuntimeError("database is locked"))
        self.assertEqual(collector.read_errors, 1)
        self.assertEqual(collector.counts.findings, {"GPS_NO_FIX": 2}, "the last counts are kept")
        self.assertTrue(collector.refresh(read).called, "no new read right after a failure")
        self.assertEqual(len(reads), 2)


class HistogramAndSettingsTests(unittest.TestCase):
    def test_latency_buckets_follow_prometheus_le(self) -> None:
        histogram = LatencyHistogram((0.01, 0.1))
        for seconds in (0.005, 0.01, 0.05, 3.0, -1.0):
            histogram.observe("teltonika", seconds)
        self.assertEqual(histogram.counts["teltonika"], [3, 1, 1])
        self.assertAlmostEqual(histogram.sums["teltonika"], 3.065)

    def test_settings(self) -> None:
        self.assertEqual(parse_section("metrics", {}).token, "")
        self.assertEqual(parse_section("metrics", {"token": "x", "store_cache_s": 1}).store_cache_s, 1.0)
        with self.assertRaisesRegex(ConfigError, r"^\[metrics\] has no key 'tokn'"):
            parse_section("metrics", {"tokn": "x"})
        with self.assertRaisesRegex(ConfigError, r"^\[metrics\] token must be str, got int 5"):
            parse_section("metrics", {"token": 5})
        with self.assertRaisesRegex(ConfigError, r"^\[metrics\] store_cache_s must not be negative, got -1"):
            parse_section("metrics", {"store_cache_s": -1})


class ListenerMetricsTests(unittest.TestCase):
    """Refused connections per reason, open connections, and each UDP socket's buffer and drops."""

    def test_refusals_open_connections_and_udp_buffers_per_listener(self) -> None:
        import socket
        from collections import Counter

        class Factory:
            protocol_name = "teltonika"
            refused = Counter({"per_address_cap": 4})
            open_per_address = Counter({"10.0.0.1": 2, "10.0.0.2": 1})
            unmatched_answers = 2

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        metrics = Metrics(MetricsSettings(), Clock(), process=False)
        metrics.watch_tcp(Factory())
        metrics.watch_udp("teltonika", 5027, sock, 1 << 20)
        from prometheus_client import generate_latest

        scrape = Scrape(generate_latest(metrics.registry).decode())
        labels = {"protocol": "teltonika", "port": "5027"}
        self.assertEqual(scrape.value("telediag_connections_refused_total", protocol="teltonika",
                                      reason="per_address_cap"), 4)
        self.assertEqual(scrape.value("telediag_device_connections", protocol="teltonika"), 3)
        self.assertEqual(scrape.value("telediag_command_answers_unmatched_total", protocol="teltonika"), 2)
        self.assertEqual(scrape.value("telediag_udp_receive_buffer_requested_bytes", **labels), 1 << 20)
        self.assertEqual(scrape.value("telediag_udp_receive_buffer_bytes", **labels),
                         sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        if Path("/proc/net/udp").exists():
            self.assertEqual(scrape.value("telediag_udp_receive_drops_total", **labels), 0)
        else:
            self.assertNotIn("telediag_udp_receive_drops_total", scrape.text)
        sock.close()  # a listener that stopped is left out, not an error
        self.assertNotIn("telediag_udp_receive_buffer_bytes{", generate_latest(metrics.registry).decode())

    def test_kernel_drops_are_read_from_the_sockets_row_of_proc_net_udp(self) -> None:
        import os
        import socket

        from telediag.ingest.udp import kernel_drops

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        inode = os.fstat(sock.fileno()).st_ino
        table = Path(tempfile.mkdtemp(prefix="telediag-proc-")) / "udp"
        self.addCleanup(shutil.rmtree, table.parent, True)
        header = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode "
                  "ref pointer drops")
        rows = [f"  {n}: 0100007F:13A3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 {i} 2 "
                f"0000000000000000 {d}" for n, (i, d) in enumerate(((inode + 1, 99), (inode, 17)))]
        table.write_text("\n".join([header, *rows]) + "\n")
        self.assertEqual(kernel_drops(sock, [table.parent / "missing", table]), 17)
        self.assertIsNone(kernel_drops(sock, [table.parent / "missing"]))

    def test_a_full_receive_buffer_shows_as_kernel_drops(self) -> None:
        """A real socket with the smallest buffer, never read: the kernel drops, /proc/net/udp says so."""
        import socket

        from telediag.ingest.udp import kernel_drops, set_receive_buffer

        if not Path("/proc/net/udp").exists():
            raise unittest.SkipTest("no /proc/net/udp on this system")
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(receiver.close)
        receiver.bind(("127.0.0.1", 0))
        set_receive_buffer(receiver, 1)  # the kernel rounds it up to its minimum
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(200):
                sender.sendto(b"x" * 512, receiver.getsockname())
        self.assertGreater(kernel_drops(receiver) or 0, 0)
