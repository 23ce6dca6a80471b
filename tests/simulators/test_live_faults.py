"""Faults in the live fleet without sockets: the command line, the registry CSV, garbage frames that
never count as records, connectivity events to a file and an API, and devices that stay offline."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport

from protocols import gt06, teltonika
from protocols.core import Login, ProtocolError, Report
from protocols.record import Record, parse_iso_utc
from simulators.cli import main, parse_faults
from simulators.devices import COMMAND_ANSWERS, Gt06Link, SimDevice, TeltonikaTcpLink
from simulators.events_out import ConnectivityOutput
from simulators.faults import FAULTS
from simulators.fleet import Fleet, FleetSettings
from simulators.network import REGISTRY_COLUMNS
from telediag.registry.repository import read_import_file

T0 = 1_700_000_000.0


def records(count: int, imei: str = "356307042441013") -> list[Record]:
    return [
        Record(imei=imei, protocol="teltonika", fix_time=T0 + 10 * i, valid=True, lat=52.2, lon=21.0 + i / 1000,
               speed_kmh=40.0, satellites=9, hdop=0.9, ignition=True, motion=True, ext_voltage_v=13.9)
        for i in range(count)
    ]


# --- command line -------------------------------------------------------------------------------


def test_parse_faults() -> None:
    assert parse_faults(None) == {}
    assert parse_faults("wrong_apn:2, power_cut ,silent:1,wrong_apn:1") == {"wrong_apn": 3, "power_cut": 1, "silent": 1}
    with pytest.raises(ValueError, match="unknown fault 'flat_tyre'; known: activation_pending, no_data"):
        parse_faults("flat_tyre:1")
    with pytest.raises(ValueError, match="integer"):
        parse_faults("silent:many")
    with pytest.raises(ValueError, match="negative"):
        parse_faults("silent:-1")


def test_bad_faults_exit_2_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--faults", "flat_tyre:1", "--registry-only"]) == 2
    error = capsys.readouterr().err
    assert "flat_tyre" in error and all(name in error for name in FAULTS)
    assert main(["--devices", "3", "--faults", "silent:2,backlog:2", "--registry-only"]) == 2
    assert "4 faulty devices" in capsys.readouterr().err
    assert main(["--mix", "gt06=3", "--faults", "power_cut:1", "--registry-only"]) == 2
    assert "teltonika" in capsys.readouterr().err
    assert main(["--api", "http://127.0.0.1:8080", "--registry-only"]) == 2
    assert "TELEDIAG_TOKEN" in capsys.readouterr().err


def test_registry_only_writes_a_csv_the_importer_accepts(tmp_path: Path) -> None:
    path = tmp_path / "fleet.csv"
    argv = ["--devices", "9", "--seed", "4", "--faults", "roaming_rejected:1,activation_pending:1,power_cut:2",
            "--registry-only", "--registry-csv", str(path)]
    assert main(argv) == 0
    with open(path, newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(REGISTRY_COLUMNS)
    with open(path, newline="", encoding="utf-8") as handle:
        entries = read_import_file(handle)
    assert len(entries) == 9 and {e.protocol for e in entries} == {"teltonika", "gt06"}
    assert {e.home_country for e in entries} == {"PL"} and all(e.iccid and e.apn for e in entries)
    domestic = [e for e in entries if e.coverage == "domestic"]
    assert len(domestic) == 1 and domestic[0].roaming is False and domestic[0].vehicle_plate.startswith("FSL ")
    ages = sorted(time.time() - e.activated_at for e in entries)  # activated relative to the start
    assert abs(ages[0] - 6 * 3600) < 60 and ages[1] >= 10 * 86400
    first = [{k: v for k, v in row.items() if k != "activated_at"}
             for row in csv.DictReader(io.StringIO(path.read_text()))]
    assert main(argv) == 0
    again = [{k: v for k, v in row.items() if k != "activated_at"}
             for row in csv.DictReader(io.StringIO(path.read_text()))]
    assert again == first  # same seed, same fleet


def test_registry_only_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--devices", "2", "--registry-only"]) == 0
    assert len(read_import_file(io.StringIO(capsys.readouterr().out))) == 2


# --- garbage frames over a connection ------------------------------------------------------------


class TeltonikaServer:
    """The server side of one connection: a real session answering as telediag does."""

    def __init__(self) -> None:
        self.session = teltonika.ServerSession()
        self.errors: list[ProtocolError] = []
        self.stored: list[Record] = []

    def answer(self, data: bytes) -> tuple[bytes, bool]:
        """(reply bytes, close) for what the device sent."""
        replies, to_feed = b"", data
        while True:
            try:
                messages = self.session.feed(to_feed)
            except ProtocolError as error:
                self.errors.append(error)
                replies += error.reply or b""
                if error.close:
                    return replies, True
                to_feed = b""
                continue
            for message in messages:
                if isinstance(message, Login):
                    replies += message.accept
                elif isinstance(message, Report):
                    self.stored.extend(message.records)
                    replies += message.ack
            if not self.session.pending:
                return replies, False


def converse(device: SimDevice, server: TeltonikaServer) -> tuple[TeltonikaTcpLink, bool]:
    """Connect a link and exchange bytes until neither side has more; True when the server closed."""
    link, transport = TeltonikaTcpLink(device, 0x8E), StringTransport()
    link.makeConnection(transport)
    while transport.value():
        sent = transport.value()
        transport.clear()
        reply, close = server.answer(sent)
        if reply:
            link.dataReceived(reply)
        if close:
            link.connectionLost(None)  # type: ignore[arg-type]
            return link, True
    return link, False


def test_teltonika_garbage_is_answered_or_closed_and_never_counted() -> None:
    device = SimDevice("356307042441013", "teltonika", "tcp", 1, apn="m2m.plus.pl")
    batch = records(4)
    for record in batch[:2]:
        device.outbox.add(record)
    device.send_garbage()  # bad CRC: the server answers 0 and carries on
    for record in batch[2:]:
        device.outbox.add(record)
    server = TeltonikaServer()
    _, closed = converse(device, server)
    assert not closed and device.outbox.counters.acked == 4 and device.outbox.unacked == 0
    device.send_garbage()  # GT06 bytes: the server closes, the device reconnects and resends
    device.outbox.add(records(5)[4])
    _, closed = converse(device, server)
    assert closed and device.outbox.unacked == 1 and device.garbage_sent == 2
    server.session = teltonika.ServerSession()
    _, closed = converse(device, server)
    assert not closed and device.outbox.unacked == 0
    counters = device.outbox.counters
    assert (counters.generated, counters.acked, len(device.outbox.acked)) == (5, 5, 5)
    assert [r.fix_time for r in server.stored] == [r.fix_time for r in records(5)]
    assert [e.close for e in server.errors] == [False, True] and server.errors[0].reply == teltonika.CRC_NAK


def test_gt06_garbage_is_skipped_by_the_server() -> None:
    device = SimDevice("356307042441013", "gt06", "tcp", 2)
    link, transport = Gt06Link(device), StringTransport()
    session, errors = gt06.ServerSession(), []
    link.makeConnection(transport)
    for record in records(3):
        device.outbox.add(record)
    device.send_garbage()
    device.send_garbage()
    for _ in range(10):
        sent = transport.value()
        transport.clear()
        if not sent:
            break
        data, replies = sent, b""
        while True:
            try:
                messages = session.feed(data)
            except ProtocolError as error:
                errors.append(error)
                data = b""
                continue
            replies += b"".join(m.ack or b"" for m in messages if hasattr(m, "ack"))
            replies += b"".join(m.accept for m in messages if isinstance(m, Login))
            if not session.pending:
                break
        link.dataReceived(replies)
    assert device.outbox.unacked == 0 and device.outbox.counters.acked == 3 and len(errors) == 2
    assert not any(error.close for error in errors)


def test_getparam_2001_answers_the_device_apn() -> None:
    device = SimDevice("356307042441013", "teltonika", "tcp", 1, apn="internet")
    assert COMMAND_ANSWERS["getparam 2001"](device) == "Param ID:2001 Value:internet"


# --- connectivity events -------------------------------------------------------------------------


def test_connectivity_output_writes_lines_and_retries_failed_posts(tmp_path: Path) -> None:
    clock, answers, bodies = Clock(), [(500, b"down"), (201, b"{}")], []

    def sender(body: bytes) -> defer.Deferred:
        bodies.append(json.loads(body))
        return defer.succeed(answers.pop(0))

    log = io.StringIO()
    output = ConnectivityOutput(clock, str(tmp_path / "events.jsonl"), sender, log=log, every_s=1.0)
    output.start()
    events = [{"imei": "356307042441013", "at": "2023-11-14T22:13:20.000Z", "type": "attach"}] * 3
    output.add(events)
    clock.advance(1.0)
    assert output.failures == 1 and "HTTP 500: down" in log.getvalue() and len(output.queue) == 3
    clock.advance(0.5)
    assert len(bodies) == 1  # waits out the backoff
    clock.advance(1.0)
    assert output.posted == 3 and not output.queue and bodies[1] == events
    done = output.close()
    clock.advance(1.0)
    assert done.called
    assert [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()] == events


# --- a fleet with faults on a fake reactor ---------------------------------------------------------


def test_fleet_keeps_offline_devices_off_and_reports_their_events(tmp_path: Path) -> None:
    reactor = MemoryReactorClock()
    reactor.advance(T0)
    settings = FleetSettings(mix={"teltonika-tcp": 5}, interval_s=10.0, duration_s=120.0, seed=3,
                             faults={"wrong_apn": 1, "silent": 1, "rtc_reset": 1})
    output = ConnectivityOutput(reactor, str(tmp_path / "events.jsonl"))
    fleet = Fleet(reactor, settings, out=io.StringIO(), events=output)
    fleet.start()
    for _ in range(130):
        reactor.advance(1.0)
    by_fault = {fault: index for index, fault in enumerate(fleet.faults)}
    connected = {factory.device.imei for _, _, factory, _, _ in reactor.tcpClients}
    wrong, silent = fleet.devices[by_fault["wrong_apn"]], fleet.devices[by_fault["silent"]]
    assert wrong.imei not in connected and len(connected) == 4 and wrong.apn == "internet"
    factory, connector = fleet._tcp[by_fault["silent"]]
    assert connector._disconnected and not factory.continueTrying and not silent.online
    rtc = fleet.devices[by_fault["rtc_reset"]]
    assert rtc.outbox.pending and all(r.fix_time < 978_307_200 for r in rtc.outbox.pending)
    output.handle.flush()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    rejects = [e for e in events if e["imei"] == wrong.imei and e["type"] == "pdp_reject"]
    assert rejects and rejects[0]["cause"] == 27 and rejects[0]["apn"] == "internet"
    assert all(parse_iso_utc(e["at"]) >= T0 for e in events)
    summary = fleet.summary()
    assert summary.faults == {"wrong_apn": 1, "silent": 1, "rtc_reset": 1} and summary.held >= 10
    assert "faults=rtc_reset:1,silent:1,wrong_apn:1" in summary.line()
