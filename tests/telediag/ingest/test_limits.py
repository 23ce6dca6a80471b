"""Ingest limits against hostile peers, on the real IngestService in-process on 127.0.0.1: the frame
deadline (slowloris on OsmAnd and Teltonika), connections per source address, the UDP receive buffer
and the kernel's drop count on /metrics, and JSON answers to broken HTTP on the OsmAnd port."""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from twisted.internet import defer, reactor, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.trial import unittest

from protocols import teltonika
from protocols.teltonika.device import encode_udp
from telediag.app import makeService
from telediag.config import ApiConfig, Config, IngestConfig, StoreConfig
from tests.stores import database_at
from tests.telediag.ingest.test_service import IMEI, RawDevice, record

FRAME_TIMEOUT_S = 1.0
GRACE_S = 1.5
"""How much later than the deadline a close may come on a loaded machine."""
OSMAND_HEAD = b"GET /?id=356307040000001&lat=1 HTTP/1.1\r\nHost: x\r\nX-Slow: "


def http_answer(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of the first response in ``data``."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body[: int(headers.get("content-length", len(body)))]


def json_error(data: bytes) -> tuple[int, dict[str, Any]]:
    status, headers, body = http_answer(data)
    assert headers.get("content-type") == "application/json", headers
    error = orjson.loads(body)["error"]
    assert {"code", "message"} <= set(error), error
    return status, error


class IngestLimitTests(unittest.TestCase):
    timeout = 60

    def start(self, **ingest: Any) -> defer.Deferred[None]:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-limits-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        values = dict(frame_timeout_s=FRAME_TIMEOUT_S, idle_timeout_s=30.0)
        values.update(ingest)
        self.config = Config(
            store=StoreConfig(data_dir=data_dir),
            api=ApiConfig(listen="tcp:0:interface=127.0.0.1"),
            ingest=IngestConfig(**values),
            listen={"teltonika": ("tcp:0:interface=127.0.0.1", "udp:0:interface=127.0.0.1"),
                    "osmand": ("tcp:0:interface=127.0.0.1",)},
        )
        self.service = makeService(self.config, reactor)
        self.service.startService()
        self.addCleanup(self.stop_service)
        return self.service.ready

    def stop_service(self) -> Any:
        if self.service.running:
            return self.service.stopService()
        return None

    def listener(self, protocol: str, transport: str = "tcp") -> Any:
        for name, kind, port in self.service.getServiceNamed("listeners").ports:
            if name == protocol and kind == transport:
                return port
        raise AssertionError(f"no {protocol} {transport} listener")

    def port(self, protocol: str, transport: str = "tcp") -> int:
        return self.listener(protocol, transport).getHost().port

    @defer.inlineCallbacks
    def connect(self, protocol: str) -> Any:
        device = RawDevice()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port(protocol)), device)
        self.addCleanup(lambda: device.transport.loseConnection())
        return device

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = database_at(self.config.database_path).connect(readonly=True)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    @defer.inlineCallbacks
    def eventually(self, check: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {check}")
            yield deferLater(reactor, 0.05, lambda: None)

    @defer.inlineCallbacks
    def metrics(self) -> Any:
        url = f"http://127.0.0.1:{self.service.getServiceNamed('api').port}/metrics"
        body = yield threads.deferToThread(lambda: urllib.request.urlopen(url, timeout=10).read())
        return body.decode()

    @defer.inlineCallbacks
    def trickle(self, device: RawDevice, start: bytes) -> Any:
        """Send ``start``, then one byte every 0.2 s until the server closes; seconds it took."""
        began = time.monotonic()
        device.transport.write(start)
        while not device.closed.called and time.monotonic() - began < 15:
            yield deferLater(reactor, 0.2, lambda: None)
            if device.transport.connected:
                device.transport.write(b"X")
        yield device.closed
        return time.monotonic() - began

    @defer.inlineCallbacks
    def served(self, imei: str, second: int) -> Any:
        """A normal Teltonika device: login accepted and one record acknowledged."""
        device = yield self.connect("teltonika")
        device.transport.write(teltonika.encode_imei(imei))
        yield device.wait_for(1)
        device.transport.write(teltonika.encode_avl([record(second, imei=imei)]))
        received = yield device.wait_for(5)
        device.transport.loseConnection()
        return received == b"\x01\x00\x00\x00\x01"

    def ingest_errors(self, protocol: str) -> list[str]:
        return [row[0] for row in self.query("SELECT message FROM ingest_errors WHERE protocol = ?", protocol)]

    # -- the frame deadline -----------------------------------------------------------------------

    @defer.inlineCallbacks
    def test_slowloris_on_osmand_is_answered_408_and_closed_within_the_frame_timeout(self) -> Any:
        yield self.start()
        slow = yield self.connect("osmand")
        held = self.trickle(slow, OSMAND_HEAD)
        served = []
        for i in range(3):  # a normal device is served meanwhile
            ok = yield self.served(f"35630704244{i:03d}7", i)
            served.append(ok)
        seconds = yield held
        self.assertEqual(served, [True, True, True])
        self.assertLess(seconds, FRAME_TIMEOUT_S + GRACE_S)
        self.assertGreaterEqual(seconds, FRAME_TIMEOUT_S * 0.9)
        status, error = json_error(slow.received)
        self.assertEqual((status, error["code"]), (408, "request_timeout"))
        errors = yield self.eventually(lambda: self.ingest_errors("osmand"))
        self.assertIn(f"incomplete frame for {FRAME_TIMEOUT_S:g} s", errors[0])

    @defer.inlineCallbacks
    def test_slowloris_on_teltonika_is_closed_within_the_frame_timeout(self) -> Any:
        yield self.start()
        slow = yield self.connect("teltonika")
        slow.transport.write(teltonika.encode_imei("356307040000019"))
        yield slow.wait_for(1)
        held = self.trickle(slow, b"\x00\x00\x00\x00\x00\x00\x01\x00")  # an AVL frame of 256 bytes begins
        ok = yield self.served(IMEI, 1)
        seconds = yield held
        self.assertTrue(ok)
        self.assertLess(seconds, FRAME_TIMEOUT_S + GRACE_S)
        self.assertEqual(slow.received, b"\x01")  # the login answer, nothing else
        errors = yield self.eventually(lambda: self.ingest_errors("teltonika"))
        self.assertTrue(errors[0].startswith(f"incomplete frame for {FRAME_TIMEOUT_S:g} s"), errors)

    @defer.inlineCallbacks
    def test_frames_that_keep_completing_are_not_cut_off(self) -> Any:
        """The deadline is per frame: reads that never end on a frame boundary for three times the
        deadline are fine as long as frames keep completing, and a frame in two pieces is too."""
        yield self.start()
        device = yield self.connect("teltonika")
        device.transport.write(teltonika.encode_imei(IMEI))
        yield device.wait_for(1)
        stream = b"".join(teltonika.encode_avl([record(i)]) for i in range(8))
        step = len(stream) // 8 + 7  # never a frame boundary
        for at in range(0, len(stream), step):
            device.transport.write(stream[at : at + step])
            yield deferLater(reactor, FRAME_TIMEOUT_S * 0.45, lambda: None)
        yield device.wait_for(1 + 4 * 8, timeout=10)
        self.assertFalse(device.closed.called)
        self.assertEqual(len(self.service.pipeline.stats.errors), 0)

    # -- connections per source address -----------------------------------------------------------

    @defer.inlineCallbacks
    def test_connections_past_the_per_address_cap_are_refused_and_counted(self) -> Any:
        yield self.start(max_connections_per_address=3)
        held = []
        for _ in range(3):
            device = yield self.connect("teltonika")
            held.append(device)
        refused = yield self.connect("teltonika")
        yield refused.closed.addTimeout(5, reactor)
        self.assertEqual(refused.received, b"")
        text = yield self.metrics()
        self.assertIn('telediag_connections_refused_total{protocol="teltonika",reason="per_address_cap"} 1.0', text)
        self.assertIn('telediag_device_connections{protocol="teltonika"} 3.0', text)
        for device in held:  # the ones held are served normally
            self.assertFalse(device.closed.called)
        held[0].transport.loseConnection()
        yield held[0].closed
        again = yield self.connect("teltonika")
        again.transport.write(teltonika.encode_imei(IMEI))
        received = yield again.wait_for(1)
        self.assertEqual(received, b"\x01")
        self.assertFalse(again.closed.called)

    # -- UDP: the receive buffer and the kernel's drops --------------------------------------------

    @defer.inlineCallbacks
    def test_udp_socket_gets_the_configured_receive_buffer(self) -> Any:
        yield self.start(udp_receive_buffer_bytes=2 * 1024 * 1024)
        sock = self.listener("teltonika", "udp").getHandle()
        self.assertGreaterEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), 2 * 1024 * 1024)
        text = yield self.metrics()
        port = self.port("teltonika", "udp")
        self.assertIn(f'telediag_udp_receive_buffer_requested_bytes{{port="{port}",protocol="teltonika"}} 2.097152e+06',
                      text)

    @defer.inlineCallbacks
    def test_an_unpaced_udp_burst_is_stored_or_its_losses_are_counted(self) -> Any:
        yield self.start()
        if not Path("/proc/net/udp").exists():
            raise unittest.SkipTest("the kernel's drop count comes from /proc/net/udp (Linux)")
        imei = "356307040000027"
        datagrams = [encode_udp(imei, i, i & 0xFF, [record(i, imei=imei)]) for i in range(1000)]
        pattern = re.compile(r'^telediag_udp_receive_drops_total\{[^}]*protocol="teltonika"[^}]*\} ([0-9.e+]+)$', re.M)
        before = yield self.metrics()
        self.assertTrue(pattern.search(before), "no drops series for the UDP socket")
        dropped_before = sum(float(v) for v in pattern.findall(before))
        target = ("127.0.0.1", self.port("teltonika", "udp"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for datagram in datagrams:  # on the reactor thread: nothing is read until the burst is sent
                sender.sendto(datagram, target)
        deadline = time.monotonic() + 20
        while True:
            stored = self.query("SELECT count(*) FROM records WHERE imei = ?", imei)[0][0]
            text = yield self.metrics()
            dropped = sum(float(v) for v in pattern.findall(text)) - dropped_before
            if stored + dropped == len(datagrams) or time.monotonic() > deadline:
                break
            yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(stored + dropped, len(datagrams), f"{stored} stored, {dropped} counted as dropped")

    # -- OsmAnd: broken HTTP gets JSON ----------------------------------------------------------------

    @defer.inlineCallbacks
    def test_osmand_framing_errors_are_answered_with_json(self) -> Any:
        yield self.start()
        cases = [
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
            (b"GET /?id=1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n", 431),
            (b"GET /?id=1 HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
             431),
            (b"\x00\x01\x02 garbage\r\n\r\n", 400),
            (b"GET /?lat=1&lon=2 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n", 413),
        ]
        for raw, expected in cases:
            device = yield self.connect("osmand")
            device.transport.write(raw)
            received = yield device.wait_for(12)
            while b"\r\n\r\n" not in received or len(http_answer(received)[2]) < int(
                    http_answer(received)[1].get("content-length", 0)):
                received = yield device.wait_for(len(received) + 1)
            status, error = json_error(received)
            self.assertEqual(status, expected, (raw[:40], error))

    @defer.inlineCallbacks
    def test_osmand_absurd_values_are_kept_raw_or_refused_never_silent(self) -> Any:
        yield self.start()
        now = int(time.time()) - 60
        queries = {
            "356307040000035": "timestamp=1e30&lat=52.2&lon=21.0",
            "356307040000043": "timestamp=-1&lat=52.2&lon=21.0",
            "356307040000050": f"timestamp={now}&lat=1e308&lon=21",
            "356307040000068": f"timestamp={now}&lat=nan&lon=inf",
        }
        for imei, query in queries.items():
            device = yield self.connect("osmand")
            device.transport.write(f"GET /?id={imei}&{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            yield device.wait_for(12)
        sql = "SELECT valid, fix_time, lat, attributes FROM records WHERE imei = ?"
        for imei in list(queries)[:3]:
            rows = yield self.eventually(lambda imei=imei: self.query(sql, imei))
            valid, _, lat, attributes = rows[0]
            self.assertEqual(valid, 0)
            self.assertIn("invalid_reason", orjson.loads(attributes))
            self.assertTrue(lat is None or -90 <= lat <= 90)
        errors = yield self.eventually(lambda: self.query(
            "SELECT message FROM ingest_errors WHERE imei = ? OR protocol = 'osmand'", "356307040000068"))
        self.assertTrue(any("finite" in e[0] for e in errors), errors)
