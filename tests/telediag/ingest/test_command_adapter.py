"""The TCP adapter writes what the command gate allows, in a string transport on a Clock: a command
never lands between an AVL packet and its ACK, times out from when it is written, and fails clearly
on a full queue or a disconnect."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from protocols import gt06, teltonika
from protocols.record import Record
from protocols.registry import get as codec_spec
from telediag.ingest.command_gate import CommandDisconnected, CommandNotSent, CommandQueueFull
from telediag.ingest.tcp import CommandTimedOut, DeviceStreamFactory, DeviceStreamProtocol
from telediag.pipeline import Pipeline

IMEI = "356307042441013"
ACK_ONE = struct.pack(">I", 1)


class HeldCommitter:
    """The committer as the pipeline and adapter use it; commits complete when the test says so."""

    backlog = 0
    queue_limit = 100_000
    saturated = False

    def __init__(self) -> None:
        self.waiting: list[Deferred[None]] = []

    def submit(self, batch: Any) -> Deferred[None]:
        waiter: Deferred[None] = Deferred()
        self.waiting.append(waiter)
        return waiter

    def note(self, change: Any) -> None:
        pass

    def throttle(self, producer: Any) -> None:
        pass

    def release(self, producer: Any) -> None:
        pass

    def commit(self) -> None:
        waiting, self.waiting = self.waiting, []
        for waiter in waiting:
            waiter.callback(None)


class Peer:
    host = "127.0.0.1"
    port = 40000


def record(second: int) -> Record:
    return Record(imei=IMEI, protocol="teltonika", fix_time=1_750_000_000.0 + second, valid=True,
                  lat=52.2297, lon=21.0122, altitude_m=100.0, speed_kmh=50.0, course_deg=90.0, satellites=9)


class Rig:
    """One connection of ``protocol`` through the real adapter, with a Clock and held commits."""

    def __init__(self, protocol: str = "teltonika", **factory: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_760_000_000.0)
        self.committer = HeldCommitter()
        self.pipeline = Pipeline(self.clock, self.committer, set())  # type: ignore[arg-type]
        self.factory = DeviceStreamFactory(self.clock, codec_spec(protocol), self.pipeline, idle_timeout_s=3600.0,
                                           max_frame=65536, **factory)
        built = self.factory.buildProtocol(Peer())
        assert built is not None
        self.conn: DeviceStreamProtocol = built
        self.transport = StringTransport(peerAddress=Peer())
        self.conn.makeConnection(self.transport)

    def take(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def login_teltonika(self) -> None:
        self.conn.dataReceived(teltonika.encode_imei(IMEI))
        assert self.take() == teltonika.LOGIN_ACCEPT

    def send(self, text: str, timeout_s: float = 30.0) -> tuple[Deferred[str], list[Any]]:
        outcome: list[Any] = []
        answer = self.pipeline.send_command(IMEI, text, timeout_s)
        answer.addBoth(outcome.append)
        return answer, outcome


def failure_of(outcome: list[Any]) -> BaseException:
    assert len(outcome) == 1 and isinstance(outcome[0], Failure), outcome
    return outcome[0].value


def test_a_command_asked_while_an_ack_awaits_its_commit_follows_the_ack() -> None:
    rig = Rig()
    rig.login_teltonika()
    rig.conn.dataReceived(teltonika.encode_avl([record(0)]))
    _, outcome = rig.send("getinfo")
    assert rig.take() == b""  # the device waits for its ACK: nothing may come before it
    rig.committer.commit()
    assert rig.take() == ACK_ONE + teltonika.encode_command("getinfo")
    rig.conn.dataReceived(teltonika.encode_command_response("RTC:2026/1/1"))
    assert outcome == ["RTC:2026/1/1"]


def test_a_half_received_teltonika_packet_holds_the_command_back() -> None:
    rig = Rig()
    rig.login_teltonika()
    packet = teltonika.encode_avl([record(0)])
    rig.conn.dataReceived(packet[:10])
    rig.send("getinfo")
    assert rig.take() == b""
    rig.conn.dataReceived(packet[10:])
    assert rig.take() == b""  # complete now, but its ACK waits for the commit
    rig.committer.commit()
    assert rig.take() == ACK_ONE + teltonika.encode_command("getinfo")


def test_a_read_with_a_frame_and_half_of_the_next_writes_the_ack_only() -> None:
    rig = Rig()
    rig.login_teltonika()
    first, second = teltonika.encode_avl([record(0)]), teltonika.encode_avl([record(1)])
    rig.conn.dataReceived(first + second[:7])
    rig.send("getinfo")
    rig.committer.commit()
    assert rig.take() == ACK_ONE  # the device is mid-packet: the command waits for that ACK too
    rig.conn.dataReceived(second[7:])
    rig.committer.commit()
    assert rig.take() == ACK_ONE + teltonika.encode_command("getinfo")


def test_one_command_at_a_time_in_the_order_asked() -> None:
    rig = Rig()
    rig.login_teltonika()
    _, first = rig.send("getinfo")
    _, second = rig.send("getstatus")
    assert rig.take() == teltonika.encode_command("getinfo")
    rig.conn.dataReceived(teltonika.encode_command_response("info"))
    assert rig.take() == teltonika.encode_command("getstatus")
    rig.conn.dataReceived(teltonika.encode_command_response("status"))
    assert (first, second) == (["info"], ["status"])


def test_the_answer_timeout_counts_from_when_the_command_is_written() -> None:
    rig = Rig(command_max_wait_s=100.0)
    rig.login_teltonika()
    rig.conn.dataReceived(teltonika.encode_avl([record(0)]))
    _, outcome = rig.send("getinfo", timeout_s=5.0)
    rig.clock.advance(20.0)  # waiting for the commit does not use up the answer time
    assert outcome == []
    rig.committer.commit()
    assert rig.take().endswith(teltonika.encode_command("getinfo"))
    rig.clock.advance(4.9)
    assert outcome == []
    rig.clock.advance(0.1)
    error = failure_of(outcome)
    assert isinstance(error, CommandTimedOut) and isinstance(error, TimeoutError)
    assert "did not answer the command 'getinfo' within 5 s" in str(error)


def test_a_device_busy_past_the_wait_bound_fails_the_command_unsent() -> None:
    rig = Rig(command_max_wait_s=10.0)
    rig.login_teltonika()
    rig.conn.dataReceived(teltonika.encode_avl([record(0)]))  # a commit that does not complete
    _, outcome = rig.send("getinfo", timeout_s=60.0)
    rig.clock.advance(10.0)
    error = failure_of(outcome)
    assert isinstance(error, CommandNotSent) and "was not sent" in str(error)
    rig.committer.commit()
    assert rig.take() == ACK_ONE  # and it never goes out later


def test_past_the_queue_limit_a_command_is_refused_at_once() -> None:
    rig = Rig(command_queue_limit=2)
    rig.login_teltonika()
    rig.send("a")  # written, outstanding
    rig.send("b")
    rig.send("c")
    _, refused = rig.send("d")
    error = failure_of(refused)
    assert isinstance(error, CommandQueueFull) and IMEI in str(error) and "limit is 2" in str(error)


def test_a_disconnect_fails_the_outstanding_and_the_queued_commands() -> None:
    rig = Rig()
    rig.login_teltonika()
    _, written = rig.send("getinfo")
    _, queued = rig.send("getstatus")
    rig.conn.connectionLost(Failure(ConnectionError("gone")))
    sent, unsent = failure_of(written), failure_of(queued)
    assert isinstance(sent, CommandDisconnected) and sent.sent and "before answering" in str(sent)
    assert isinstance(unsent, CommandDisconnected) and not unsent.sent and "could be sent" in str(unsent)
    timers = [c for c in rig.clock.getDelayedCalls() if getattr(c.func, "__name__", "") == "_commands_due"]
    assert not [c for c in timers if c.active()]


def test_text_the_protocol_cannot_carry_fails_alone() -> None:
    rig = Rig()
    rig.login_teltonika()
    _, bad = rig.send("getparam ☃")
    _, good = rig.send("getinfo")
    assert isinstance(failure_of(bad), ValueError)
    assert rig.take() == teltonika.encode_command("getinfo")
    assert good == []


def test_full_duplex_gt06_waits_for_pending_replies_but_not_for_half_frames() -> None:
    rig = Rig("gt06")
    rig.conn.dataReceived(gt06.encode_login(IMEI, 1))
    rig.take()
    fix = record(0)
    location = gt06.encode_location(fix, 2)
    rig.conn.dataReceived(location)
    _, outcome = rig.send("WHERE#")
    assert rig.take() == b""
    rig.committer.commit()
    acks = gt06.DeviceReceiver().feed(rig.take())
    assert [(a.type_id, a.serial) for a in acks][0] == (0x22, 2) and acks[1].type_id == 0x80
    rig.conn.dataReceived(location[:9])  # half a frame: GT06 frames say what they are, no need to wait
    _, second = rig.send("STATUS#")
    assert rig.take() == b""  # but one command at a time
    assert outcome == []


def test_a_protocol_without_commands_says_so() -> None:
    rig = Rig("osmand")
    assert rig.factory.spec.takes_commands is False
    answer = rig.conn.send_command("x", 1.0)
    outcome: list[Any] = []
    answer.addBoth(outcome.append)
    assert "carry no server commands" in str(failure_of(outcome))


@pytest.mark.parametrize("name", ["teltonika", "gt06", "h02", "gl200", "meitrack", "jt808"])
def test_these_protocols_take_commands(name: str) -> None:
    assert codec_spec(name).takes_commands
    assert codec_spec(name).half_duplex is (name == "teltonika")


def test_a_command_asked_as_the_device_logs_in_follows_the_login_answer() -> None:
    rig = Rig()
    outcome: list[Any] = []
    changed = rig.pipeline.connection_changed

    def ask_on_connect(imei: str, protocol: str, connected: bool, remote: str | None, channel: Any = None) -> None:
        changed(imei, protocol, connected, remote, channel)
        if connected:  # e.g. a queue of commands kept for the device while it was away
            rig.pipeline.send_command(imei, "getinfo", 30.0).addBoth(outcome.append)

    rig.pipeline.connection_changed = ask_on_connect  # type: ignore[method-assign]
    rig.conn.dataReceived(teltonika.encode_imei(IMEI))
    assert rig.take() == teltonika.LOGIN_ACCEPT + teltonika.encode_command("getinfo")


def test_a_late_gt06_answer_is_stored_and_answers_no_later_command() -> None:
    rig = Rig("gt06")
    rig.conn.dataReceived(gt06.encode_login(IMEI, 1))
    rig.take()
    _, first = rig.send("WHERE#", timeout_s=5.0)
    (written,) = gt06.DeviceReceiver().feed(rig.take())
    where = gt06.decode_command(written.content, written.serial)
    rig.clock.advance(5.0)
    assert isinstance(failure_of(first), CommandTimedOut)  # reported unanswered
    _, second = rig.send("STATUS#", timeout_s=5.0)
    (written,) = gt06.DeviceReceiver().feed(rig.take())
    status = gt06.decode_command(written.content, written.serial)
    assert status.server_flag != where.server_flag
    rig.conn.dataReceived(gt06.encode_answer("Lat:N52.2297,Lon:E21.0122", where.server_flag, 2))
    assert second == [] and rig.factory.unmatched_answers == 1  # the late answer answers nothing
    assert len(rig.committer.waiting) == 1  # and is stored as the record it is
    rig.conn.dataReceived(gt06.encode_answer("Battery:4.1V", status.server_flag, 3))
    assert second == ["Battery:4.1V"] and rig.factory.unmatched_answers == 1


def test_teltonika_answers_echo_nothing_and_keep_the_order_rule() -> None:
    rig = Rig()
    rig.login_teltonika()
    _, first = rig.send("getinfo", timeout_s=5.0)
    assert rig.take() == teltonika.encode_command("getinfo")
    rig.clock.advance(5.0)
    assert isinstance(failure_of(first), CommandTimedOut)
    _, second = rig.send("getstatus")
    rig.take()
    rig.conn.dataReceived(teltonika.encode_command_response("info, late"))
    assert second == ["info, late"]  # Codec 12 carries no reference: the next answer is the next command's
