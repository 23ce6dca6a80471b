"""Simulated devices answer server commands over their protocol, without sockets: the server
session encodes a command, the client reads it among the server's bytes, answers from the shared
answer table, and the session reads that answer as a ``CommandResponse``; position ACKs around it
still count as ACKs."""

from __future__ import annotations

import importlib

import pytest
from twisted.internet.testing import StringTransport

from protocols import gt06
from protocols.core import CommandResponse, Login, Message
from protocols.record import Record
from simulators.devices import Gt06Link, SimDevice, command_answer
from simulators.generic_link import AnswersCommands, GenericTcpLink

IMEI = "356307042441013"
NOW = 1_767_225_600.0


def position(protocol: str) -> Record:
    return Record(imei=IMEI, protocol=protocol, fix_time=1_750_000_000.0, valid=True, lat=52.2297, lon=21.0122,
                  altitude_m=100.0, speed_kmh=50.0, course_deg=90.0, satellites=9, hdop=1.0, ignition=True)


def replies(messages: list[Message]) -> bytes:
    return b"".join((m.accept if isinstance(m, Login) else m.ack) or b"" for m in messages)


COMMANDS = {
    "h02": ("getimei", f"getimei,IMEI: {IMEI}"),
    "gl200": ("RTO=,8,,,,,,0001",  # the serial number is the session's own
              f"+ACK:GTRTO,060100,{IMEI},,Unknown command: RTO=;8;;;;;;{{reference}},{{reference}},0001"),
    "meitrack": ("A10", "A10,Unknown command: A10"),
    "jt808": ("getimei", "success"),
}


def test_the_answer_table_is_shared() -> None:
    device = SimDevice(IMEI, "h02", "tcp", 1, apn="m2m.example")
    assert command_answer(device, " getparam 2001 ") == "Param ID:2001 Value:m2m.example"
    assert command_answer(device, "S20,1,1") == "Unknown command: S20,1,1"


@pytest.mark.parametrize("protocol", sorted(COMMANDS))
def test_the_generic_client_answers_commands_and_still_counts_acks(protocol: str) -> None:
    module = importlib.import_module(f"protocols.{protocol}")
    device = SimDevice(IMEI, protocol, "tcp", 1)
    device.outbox.add(position(protocol))
    link = GenericTcpLink(device, module.DeviceCodec, module.ServerSession)
    assert isinstance(link.codec, AnswersCommands)
    transport = StringTransport()
    link.makeConnection(transport)
    server = module.ServerSession()
    sent = server.feed(transport.value())
    transport.clear()
    command, expected = COMMANDS[protocol]
    link.dataReceived(replies(sent) + server.encode_command(command, NOW))
    answered = [m.text for m in server.feed(transport.value()) if isinstance(m, CommandResponse)]
    assert answered == [expected.format(reference=server.command_reference)]
    assert device.commands_answered == 1
    assert device.outbox.counters.acked == 1 and device.outbox.counters.resent == 0


def test_the_gt06_client_answers_with_the_server_flag() -> None:
    device = SimDevice(IMEI, "gt06", "tcp", 1)
    device.outbox.add(position("gt06"))
    link = Gt06Link(device)
    transport = StringTransport()
    link.makeConnection(transport)
    server = gt06.ServerSession()
    login = server.feed(transport.value())
    transport.clear()
    link.dataReceived(replies(login))  # logged in: the position goes out
    location = server.feed(transport.value())
    transport.clear()
    link.dataReceived(replies(location) + server.encode_command("getimei", NOW))
    (answer,) = server.feed(transport.value())
    assert isinstance(answer, CommandResponse) and answer.text == f"IMEI: {IMEI}"
    assert f"{answer.records[0].attributes['server_flag']:08x}" == server.command_reference == answer.reference
    assert device.outbox.counters.acked == 1 and device.commands_answered == 1


def test_setparam_changes_the_simulated_apn_and_is_answered_as_teltonika_does() -> None:
    device = SimDevice("356307042441099", "teltonika", "tcp", 1, apn="internet")
    assert command_answer(device, "setparam 2001:fleet.example") == "New value 2001:fleet.example;"
    assert device.apn == "fleet.example"
    assert command_answer(device, "getparam 2001") == "Param ID:2001 Value:fleet.example"
    assert command_answer(device, "setparam 2004:example.org;2005:5027") == "New value 2004:example.org;2005:5027;"
    assert device.apn == "fleet.example"
    assert command_answer(device, "setparam nonsense").startswith("Unknown command")
