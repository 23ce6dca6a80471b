"""Server commands through the real TCP listeners on 127.0.0.1, one simulated device per protocol:
a command asked while the device's position packet waits for its commit reaches the device after
that packet's ACK, the device takes the ACK as the ACK (a Teltonika device never reads ``00000000``),
answers the command, and the answer comes back to whoever asked.

The store commits only when two packets are queued (``batch_max_records=2``, no timed flush), so the
first device's ACK is held until a second device sends a packet: the command is asked in between,
with no race against the clock.
"""

from __future__ import annotations

import importlib
import re
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.trial import unittest

from protocols import gl200, gt06, jt808, teltonika
from protocols.record import Record
from simulators.devices import Gt06Link, SimDevice, TeltonikaTcpLink
from simulators.generic_link import GenericTcpLink
from telediag.app import makeService
from telediag.config import ApiConfig, Config, StoreConfig

PROTOCOLS = ("teltonika", "gt06", "h02", "gl200", "meitrack", "jt808")


def record(imei: str, protocol: str, second: int) -> Record:
    return Record(imei=imei, protocol=protocol, fix_time=1_750_000_000.0 + second, valid=True, lat=52.2297,
                  lon=21.0122, altitude_m=100.0, speed_kmh=50.0, course_deg=90.0, satellites=9, hdop=1.0,
                  ignition=True, motion=True, ext_voltage_v=13.8, gsm_signal_pct=80, operator=26001)


def link_for(device: SimDevice) -> Protocol:
    """The simulator's client for the device's protocol, keeping every byte the server sends."""
    if device.protocol == "teltonika":
        link: Protocol = TeltonikaTcpLink(device, 0x8E)
    elif device.protocol == "gt06":
        link = Gt06Link(device)
    else:
        module = importlib.import_module(f"protocols.{device.protocol}")
        link = GenericTcpLink(device, module.DeviceCodec, module.ServerSession)
    received: list[bytes] = []
    original = link.dataReceived

    def recording(data: bytes) -> None:
        received.append(data)
        original(data)

    link.dataReceived = recording  # type: ignore[method-assign]
    link.received = received  # type: ignore[attr-defined]
    return link


# What the device received, in order: "ack" for its position's ACK, "command" for the command.

def _gt06_events(raw: bytes) -> list[str]:
    return [{0x22: "ack", gt06.MSG_COMMAND: "command"}.get(a.type_id, "other")
            for a in gt06.DeviceReceiver().feed(raw)]


def _jt808_events(raw: bytes) -> list[str]:
    out = []
    for answer in jt808.DeviceReceiver().feed(raw):
        if answer.msg_id == 0x8001 and answer.reply_id == 0x0200:
            out.append("ack")
        else:
            out.append("command" if answer.msg_id == 0x8300 else "other")
    return out


def _dollar_events(raw: bytes) -> list[str]:
    out = []
    for sentence in raw.split(b"$")[:-1]:
        if sentence.startswith(b"AT+GT"):
            out.append("command")
        else:
            out.append("ack" if sentence == b"+SACK:0000" else "other")  # the position's count number
    return out


def _line_events(marker: bytes) -> Callable[[bytes], list[str]]:
    def events(raw: bytes) -> list[str]:
        out = []
        for line in raw.split(b"\r\n" if marker == b",CCC," else b"#"):
            if marker in line:
                out.append("ack")
            elif line.startswith((b"@@", b"*HQ")):
                out.append("command")
        return out
    return events


EVENTS: dict[str, Callable[[bytes], list[str]]] = {
    "gt06": _gt06_events,
    "jt808": _jt808_events,
    "gl200": _dollar_events,
    "meitrack": _line_events(b",CCC,"),
    "h02": _line_events(b"never an ACK"),
}

CASES: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "teltonika": ("356307042441013", "getimei", lambda imei: re.escape(f"IMEI: {imei}")),
    "gt06": ("356307042441014", "getimei", lambda imei: re.escape(f"IMEI: {imei}")),
    "h02": ("356307042441015", "getimei", lambda imei: re.escape(f"getimei,IMEI: {imei}")),
    "gl200": ("356307042441016", "RTO=,8,,,,,,00A1",  # the session writes its own serial number in
              lambda imei: re.escape(f"+ACK:GTRTO,060100,{imei},,Unknown command: RTO=;8;;;;;;")
              + r"([0-9A-F]{4}),\1,0001"),
    "meitrack": ("356307042441017", "C01,0,12222", lambda imei: re.escape("C01,Unknown command: C01;0;12222")),
    "jt808": ("356307042441018", "WHERE#", lambda imei: "success"),
}
"""Protocol -> (device IMEI, command, a pattern of the answer the asker gets)."""


class CommandOrderTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self) -> Any:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-commands-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        store = StoreConfig(data_dir=data_dir, batch_max_records=2, batch_max_delay_ms=600_000.0)
        self.config = Config(store=store, api=ApiConfig(listen="tcp:0:interface=127.0.0.1"),
                             listen={name: ("tcp:0:interface=127.0.0.1",) for name in PROTOCOLS})
        self.service = makeService(self.config, reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        yield self.service.ready

    @defer.inlineCallbacks
    def connect(self, device: SimDevice) -> Any:
        link = link_for(device)
        port = self.service.getServiceNamed("listeners").port(device.protocol)
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), link)
        self.addCleanup(lambda: link.transport.loseConnection())
        return link

    @defer.inlineCallbacks
    def until(self, condition: Callable[[], bool], what: str) -> Any:
        for _ in range(500):
            if condition():
                return
            yield deferLater(reactor, 0.01, lambda: None)
        self.fail(f"never happened: {what}")

    @defer.inlineCallbacks
    def check(self, protocol: str) -> Any:
        imei, command, expected = CASES[protocol]
        pipeline = self.service.pipeline
        committer = pipeline.committer
        device = SimDevice(imei, protocol, "tcp", 1)
        device.outbox.add(record(imei, protocol, 0))
        link = yield self.connect(device)
        yield self.until(lambda: committer.backlog >= 1, "the position reached the commit queue")
        yield self.until(lambda: imei in pipeline.connected_devices(None), "the device is connected")
        answer = pipeline.send_command(imei, command, timeout_s=10.0)
        # a second device's packet fills the batch: both commit, both ACKs go out, then the command
        other = SimDevice(str(int(imei) + 100), protocol, "tcp", 1)
        other.outbox.add(record(other.imei, protocol, 1))
        yield self.connect(other)
        text = yield answer.addTimeout(10, reactor)
        self.assertRegex(text, f"^{expected(imei)}$")
        yield self.until(lambda: device.outbox.counters.acked == 1 or not device.outbox.in_flight, "the ACK")
        self.assertEqual(device.commands_answered, 1)
        raw = b"".join(link.received)  # type: ignore[attr-defined]
        if protocol == "teltonika":
            # the login answer, the record count, then the command: never 00000000 where the ACK is due
            self.assertEqual(raw[:5], teltonika.LOGIN_ACCEPT + struct.pack(">I", 1))
            self.assertEqual(raw[5:], teltonika.encode_command(command))
        else:
            events = EVENTS[protocol](raw)
            self.assertEqual(events.count("command"), 1, events)
            if protocol != "h02":  # H02 positions get no ACK here: the command had nothing to wait for
                self.assertEqual(events.count("ack"), 1, events)
                self.assertLess(events.index("ack"), events.index("command"), events)
        counters = device.outbox.counters
        self.assertEqual((counters.acked, counters.resent, len(device.outbox.pending)), (1, 0, 0))

    def test_teltonika(self) -> Any:
        return self.check("teltonika")

    def test_gt06(self) -> Any:
        return self.check("gt06")

    def test_h02(self) -> Any:
        return self.check("h02")

    def test_gl200(self) -> Any:
        return self.check("gl200")

    def test_meitrack(self) -> Any:
        return self.check("meitrack")

    def test_jt808(self) -> Any:
        return self.check("jt808")


def test_every_case_is_a_protocol_that_takes_commands() -> None:
    from protocols.registry import get

    assert set(CASES) == set(PROTOCOLS) and all(get(name).takes_commands for name in PROTOCOLS)
    assert gl200.DeviceCodec  # the generic client drives it
