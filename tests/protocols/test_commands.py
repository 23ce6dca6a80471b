"""Server commands of every protocol that takes them: the encoder against Traccar's encoder tests
where they exist, the device side reading the command and answering, and the server session reading
that answer as a ``CommandResponse``, fed whole, byte by byte and with the start of the next frame
behind it, carrying the reference the command was written with where the protocol echoes one."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from protocols import gl200, gt06, h02, jt808, meitrack, teltonika
from protocols.core import CommandResponse, Login, Message, Report
from protocols.gl200 import commands as gl200_commands
from protocols.jt808 import commands as jt808_commands
from protocols.meitrack.fields import checksum
from protocols.record import Record
from protocols.registry import get as codec_spec

IMEI = "123456789012345"
NOW = float(calendar.timegm((2026, 1, 1, 1, 2, 3)))


def position(protocol: str, second: int = 0) -> Record:
    return Record(imei=IMEI, protocol=protocol, fix_time=1_750_000_000.0 + second, valid=True, lat=52.2297,
                  lon=21.0122, altitude_m=100.0, speed_kmh=50.0, course_deg=90.0, satellites=9, hdop=1.0,
                  ignition=True, motion=True, gsm_signal_pct=80, operator=26001)


def replies(messages: list[Message]) -> bytes:
    """Everything the server would write for ``messages`` (login answers and ACKs)."""
    out = b""
    for m in messages:
        data = m.accept if isinstance(m, Login) else m.ack
        out += data or b""
    return out


# --- encoders against Traccar's encoder tests ------------------------------------------------


def test_gt06_engine_stop_is_traccars_frame() -> None:
    assert gt06.encode_command("Relay,1#", 0, 0) == bytes.fromhex("787812800c0000000052656c61792c312300009dee0d0a")


def test_meitrack_commands_are_traccars_frames() -> None:
    assert meitrack.server_command("Q", IMEI, "A10") == b"@@Q25,123456789012345,A10*68\r\n"
    assert meitrack.server_command("D", IMEI, "D03,1,camera_picture.jpg") == (
        b"@@D46,123456789012345,D03,1,camera_picture.jpg*1F\r\n"
    )
    assert meitrack.server_command("f", IMEI, "C02,0,15360853789,Meitrack") == (
        b"@@f48,123456789012345,C02,0,15360853789,Meitrack*B0\r\n"
    )


@pytest.mark.parametrize(("text", "expected"), [
    ("SCF,0,0", b"*HQ,123456789012345,SCF,010203,0,0#"),
    ("S20,1,1", b"*HQ,123456789012345,S20,010203,1,1#"),
    ("S20,1,0", b"*HQ,123456789012345,S20,010203,1,0#"),
    ("S71,22,10", b"*HQ,123456789012345,S71,010203,22,10#"),
])
def test_h02_commands_are_traccars_sentences(text: str, expected: bytes) -> None:
    session = h02.ServerSession()
    session.feed(h02.encode_v1(IMEI, position("h02")))
    assert session.encode_command(text, NOW) == expected


def test_jt808_terminal_control_is_traccars_frame() -> None:
    msg_id, body = jt808_commands.command_message("0x8105,0xF0", None)
    frame = jt808.build_frame(msg_id, bytes.fromhex("080201000027"), 0x1F, body)
    assert frame == bytes.fromhex("7e81050001080201000027001ff0467e")


def test_gl200_commands_get_their_prefix_and_terminator_once() -> None:
    expected = b"AT+GTRTO=,1,,,,,,FFFF$"
    assert gl200_commands.encode_command("RTO=,1,,,,,,FFFF") == expected
    assert gl200_commands.encode_command("AT+GTRTO=,1,,,,,,FFFF$") == expected


def test_the_gl200_session_puts_its_own_serial_number_in_each_command() -> None:
    session = gl200.ServerSession()
    first = session.encode_command("AT+GTRTO=,1,,,,,,FFFF$", NOW)
    serial = session.command_reference
    assert serial is not None and serial != "FFFF" and first == f"AT+GTRTO=,1,,,,,,{serial}$".encode()
    session.encode_command("RTO=,1,,,,,,FFFF", NOW)
    assert session.command_reference not in (None, serial)  # the next command, another serial
    assert session.encode_command("OUT=gl300,1", NOW) == b"AT+GTOUT=gl300,1$"  # no serial field: as typed
    assert session.command_reference is None


def test_teltonika_session_sends_codec_12() -> None:
    session = teltonika.ServerSession(imei=IMEI)
    assert session.encode_command("getinfo", NOW) == teltonika.encode_command("getinfo")


@pytest.mark.parametrize(("text", "version", "msg_id", "body"), [
    ("WHERE#", None, 0x8300, b"\x01WHERE#"),
    ("WHERE#", 1, 0x8300, b"\x01\x01WHERE#"),
    ("0x8300,0x8104", None, 0x8300, b"\x010x8104"),
    ("0x8105,4", None, 0x8105, b"\x04"),
    ("0x8105,1,http://x;a", None, 0x8105, b"\x01http://x;a"),
    ("0x8104", None, 0x8104, b""),
    ("0x8201", 1, 0x8201, b""),
])
def test_jt808_command_texts(text: str, version: int | None, msg_id: int, body: bytes) -> None:
    assert jt808_commands.command_message(text, version) == (msg_id, body)


# --- text a protocol cannot carry ------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "text"), [
    ("teltonika", "getparam ☃"),
    ("gt06", ""),
    ("gt06", "x" * 246),
    ("h02", "S20#"),
    ("gl200", "RTO"),
    ("gl200", "RTO=1$2"),
    ("meitrack", "C01*"),
    ("meitrack", ",C01"),
    ("meitrack", "getimei"),
    ("meitrack", "c01"),
    ("jt808", "0x8105,word"),
    ("jt808", "0x8105,256"),
    ("jt808", ""),
])
def test_text_a_protocol_cannot_carry_is_a_value_error(protocol: str, text: str) -> None:
    case = CASES[protocol]()
    with pytest.raises(ValueError):
        case.session.encode_command(text, NOW)


@pytest.mark.parametrize("protocol", ["h02", "meitrack", "jt808"])
def test_a_device_that_has_not_identified_itself_cannot_be_addressed(protocol: str) -> None:
    with pytest.raises(ValueError, match="not"):
        codec_spec(protocol).new_session().encode_command("A10", NOW)  # type: ignore[attr-defined]


# --- round trips: command to the device, its answer back to the session ------------------------


@dataclass
class Case:
    """A session that has seen the device, the command it sends, and how the device answers."""

    session: Any
    command: str
    answer: Callable[[bytes], bytes]
    """Command bytes -> the device's answer bytes."""
    expected: str
    trailing: bytes
    """The start of the device's next frame."""


def teltonika_case() -> Case:
    session = teltonika.ServerSession()
    session.feed(teltonika.encode_imei(IMEI))

    def answer(data: bytes) -> bytes:
        (command,) = teltonika.DeviceReceiver(logged_in=True).feed(data)
        assert isinstance(command, teltonika.ServerCommand) and command.text == "getinfo"
        return teltonika.encode_command_response("RTC:2026/1/1")

    return Case(session, "getinfo", answer, "RTC:2026/1/1", teltonika.encode_avl([position("teltonika")])[:9])


def gt06_case(long: bool = False) -> Case:
    session = gt06.ServerSession()
    session.feed(gt06.encode_login(IMEI, 1))
    text = "x" * 300 if long else "Relay:on"

    def answer(data: bytes) -> bytes:
        (ack,) = gt06.DeviceReceiver().feed(data)
        command = gt06.decode_command(ack.content, ack.serial)
        assert ack.type_id == gt06.MSG_COMMAND and command.text == "Relay,1#"
        return gt06.encode_answer(text, command.server_flag, 9)

    return Case(session, "Relay,1#", answer, text, gt06.encode_location(position("gt06"), 10)[:7])


def h02_case() -> Case:
    session = h02.ServerSession()
    session.feed(h02.encode_v1(IMEI, position("h02")))
    codec = h02.DeviceCodec(IMEI)

    def answer(data: bytes) -> bytes:
        assert codec.acks(data) == 0
        (command,) = codec.take_commands()
        assert command.text == "S20,1,1" and command.stamp == "010203"
        return codec.answer(command, "DONE")

    return Case(session, "S20,1,1", answer, "S20,DONE", h02.encode_v1(IMEI, position("h02", 1))[:12])


def gl200_case() -> Case:
    session = gl200.ServerSession()
    codec = gl200.DeviceCodec(IMEI)
    session.feed(codec.encode([position("gl200")]))

    def answer(data: bytes) -> bytes:
        assert codec.acks(data) == 0
        (command,) = codec.take_commands()
        assert command.type == "RTO" and command.serial == session.command_reference
        return codec.answer(command, "done")

    return Case(session, "RTO=,1,,,,,,00A1", answer, f"+ACK:GTRTO,060100,{IMEI},,done,{{reference}},0002",
                codec.encode([position("gl200", 1)])[:20])


def meitrack_case() -> Case:
    session = meitrack.ServerSession()
    codec = meitrack.DeviceCodec(IMEI)
    session.feed(codec.encode([position("meitrack")]))

    def answer(data: bytes) -> bytes:
        assert codec.acks(data) == 0
        (command,) = codec.take_commands()
        assert command.code == "C01" and command.params == "0,12222"
        assert command.flag + command.code == session.command_reference
        return codec.answer(command, "OK")

    return Case(session, "C01,0,12222", answer, "C01,OK", codec.encode([position("meitrack", 1)])[:15])


def jt808_case(command: str = "WHERE#", expected: str = "success") -> Case:
    session = jt808.ServerSession()
    codec = jt808.DeviceCodec(IMEI)
    session.feed(codec.login() + codec.encode([position("jt808")]))

    def answer(data: bytes) -> bytes:
        codec.acks(data)
        (received,) = codec.take_commands()
        assert received.text == command
        return codec.answer(received, "internet")

    return Case(session, command, answer, expected, codec.encode([position("jt808", 1)])[:11])


CASES: dict[str, Callable[[], Case]] = {
    "teltonika": teltonika_case,
    "gt06": gt06_case,
    "gt06 long answer (0x21)": lambda: gt06_case(long=True),
    "h02": h02_case,
    "gl200": gl200_case,
    "meitrack": meitrack_case,
    "jt808": jt808_case,
    "jt808 parameters": lambda: jt808_case("0x8104", "apn=internet"),
    "jt808 location": lambda: jt808_case("0x8201", "52.229700,21.012200"),
    "jt808 control": lambda: jt808_case("0x8105,4"),
}


def answers(messages: list[Message]) -> list[str]:
    return [m.text for m in messages if isinstance(m, CommandResponse)]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["whole", "bytes", "trailing"])
def test_the_devices_answer_comes_back_as_a_command_response(name: str, mode: str) -> None:
    case = CASES[name]()
    data = case.answer(case.session.encode_command(case.command, NOW))
    if mode == "whole":
        messages = case.session.feed(data)
    elif mode == "bytes":
        messages = [m for i in range(len(data)) for m in case.session.feed(data[i : i + 1])]
    else:
        messages = case.session.feed(data + case.trailing)
    reference = getattr(case.session, "command_reference", None)
    assert answers(messages) == [case.expected.format(reference=reference)]
    assert case.session.buffered == (len(case.trailing) if mode == "trailing" else 0)
    (answer,) = [m for m in messages if isinstance(m, CommandResponse)]
    assert answer.reference == reference  # what the command was written with comes back with its answer
    assert (reference is None) is (name == "teltonika")  # Codec 12 echoes nothing


@pytest.mark.parametrize("name", ["h02", "meitrack", "jt808"])
def test_an_answer_to_nothing_asked_stays_a_report(name: str) -> None:
    """Sessions that recognise answers by what they sent: without a command, nothing is one."""
    case = CASES[name]()
    data = case.answer(case.session.encode_command(case.command, NOW))
    fresh = CASES[name]().session
    messages = fresh.feed(data)
    assert answers(messages) == [] and all(isinstance(m, (Report, Login)) for m in messages)
    assert sum(len(m.records) for m in messages if isinstance(m, Report)) == 1  # kept, never dropped


def test_a_late_jt808_answer_names_its_own_command_not_the_latest() -> None:
    case = jt808_case()
    session = case.session
    first = session.encode_command("WHERE#", NOW)
    first_reference = session.command_reference
    late = case.answer(first)
    session.encode_command("0x8105,4", NOW)  # the first one timed out; a second is outstanding
    (message,) = session.feed(late)
    assert isinstance(message, CommandResponse) and message.reference == first_reference
    assert message.reference != session.command_reference
    assert message.records[0].attributes["reply_id"] == "0x8300"


@pytest.mark.parametrize("name", ["gt06", "gl200", "h02", "meitrack", "jt808"])
def test_a_late_answer_carries_the_reference_of_its_own_command(name: str) -> None:
    """The first command's answer, read after a second command was written, names the first."""
    case = CASES[name]()
    session = case.session
    first = session.encode_command(case.command, NOW)
    first_reference = session.command_reference
    late = case.answer(first)
    session.encode_command(case.command, NOW + 1)
    (answer,) = [m for m in session.feed(late) if isinstance(m, CommandResponse)]
    assert answer.reference == first_reference != session.command_reference


def test_the_gl200_device_does_not_count_the_sack_of_its_answer_as_a_position_ack() -> None:
    session = gl200.ServerSession()
    codec = gl200.DeviceCodec(IMEI)
    position_ack = replies(session.feed(codec.encode([position("gl200")])))
    assert codec.acks(session.encode_command("RTO=,1,,,,,,00A1", NOW)) == 0
    (command,) = codec.take_commands()
    answer_ack = replies(session.feed(codec.answer(command, "done")))
    assert answer_ack == b"+SACK:0001$"
    assert codec.acks(answer_ack) == 0
    assert codec.acks(position_ack) == 1


def test_a_meitrack_position_answer_keeps_its_position() -> None:
    session = meitrack.ServerSession()
    session.feed(meitrack.encode_aaa(IMEI, position("meitrack"), "A"))
    session.encode_command("A10", NOW)
    frame = meitrack.encode_aaa(IMEI, position("meitrack", 5), "Q").replace(b",AAA,", b",A10,")
    head = frame[: frame.rindex(b"*") + 1]
    (message,) = session.feed(head + checksum(head) + b"\r\n")
    assert isinstance(message, CommandResponse) and message.text.startswith("A10,")
    assert message.records[0].lat == pytest.approx(52.2297)
    assert message.records[0].fix_time == 1_750_000_005.0
