"""The reference a session writes a command with comes back in the device's answer, built as the real
device builds it: from Traccar's captures of real answers (``traccar_vectors.jsonl``) with the
reference the command carried put where the device echoes it, or field by field from the vendor's
document where no capture holds an answer. A late answer names its own command, not a later one.

Where each reference is documented:

* GT06: the 4-byte server flag, "returned as is" in 0x15 and 0x21 (Concox JM-VL03 protocol V1.1.2,
  "Online Command (0x80)"); Traccar's encoder sends 0 and every captured answer carries 0;
* Queclink @Track: the serial number, the last field of ``AT+GTxxx`` and the third from the end of
  ``+ACK`` ("the same serial number which is sent to the device with the corresponding command",
  GL300 @Tracker Air Interface Protocol TRACGL300AN001); Traccar's encoder sends FFFF and the
  captured ``+ACK:GTRTO`` carries FFFF;
* JT808: the platform message serial, the first field of 0x0001, 0x0104 and 0x0201 (JT/T 808-2013
  8.1, 8.19, 8.20);
* Meitrack: the data identifier, "the same as that of the sending command" (MEITRACK T622 GPRS
  Protocol 1.1), with the command code as the answer's type;
* H02: the command's ``HHMMSS``, echoed after the confirmed command in ``V4`` (SinoTrack TQ GPRS
  transport protocol; the captured ``V4,S20,DONE,130305,050316``);
* Teltonika Codec 12: the answer (type 0x06) carries only its text: no reference.
"""

from __future__ import annotations

import calendar
import struct
from pathlib import Path
from typing import Any

import pytest

from protocols import gl200, gt06, h02, jt808, meitrack, teltonika
from protocols.core import Buffer, CommandResponse, Message
from protocols.gt06.framing import build_frame as gt06_frame
from protocols.gt06.framing import take_frame as gt06_take
from protocols.jt808.framing import Frame as Jt808Frame
from protocols.jt808.framing import take_frame as jt808_take
from protocols.meitrack.fields import checksum
from protocols.record import Record
from tests.conftest import traccar_vectors

IMEI = "123456789012345"


@pytest.fixture(scope="module")
def captured(vectors_dir: Path) -> dict[tuple[str, int], bytes]:
    """The captures these tests start from, by (protocol, line in Traccar's test source)."""
    wanted = {("gt06", 444), ("gt06", 471), ("gl200", 591), ("h02", 208), ("h02", 217), ("jt808", 26)}
    found: dict[tuple[str, int], bytes] = {}
    for protocol in {p for p, _ in wanted}:
        for entry in traccar_vectors(vectors_dir, protocol):
            key = (protocol, entry["line"])
            if key in wanted:
                text = entry["payload"]
                found[key] = bytes.fromhex(text) if entry["payload_kind"] == "hex" else text.encode("latin-1")
    assert set(found) == wanted, f"captures missing from the vectors: {sorted(wanted - set(found))}"
    return found


def position(protocol: str) -> Record:
    return Record(imei=IMEI, protocol=protocol, fix_time=1_750_000_000.0, valid=True, lat=52.2297, lon=21.0122,
                  altitude_m=100.0, speed_kmh=50.0, course_deg=90.0, satellites=9, hdop=1.0, ignition=True)


def answer_of(messages: list[Message]) -> CommandResponse:
    (answer,) = [m for m in messages if isinstance(m, CommandResponse)]
    return answer


# --- GT06 ------------------------------------------------------------------------------------


def gt06_frame_of(data: bytes) -> Any:
    buf = Buffer()
    buf.feed(data)
    frame = gt06_take(buf, 1024)
    assert frame is not None
    return frame


@pytest.mark.parametrize("line", [471, 444])
def test_a_gt06_answer_echoes_the_server_flag_of_its_command(line: int, captured: dict[Any, bytes]) -> None:
    real = gt06_frame_of(captured[("gt06", line)])
    flag_at = 1 if real.type_id == 0x15 else 0  # 0x15: length byte first; 0x21: the flag first
    assert real.content[flag_at : flag_at + 4] == bytes(4)  # the answer to Traccar's command, which sends 0
    session = gt06.ServerSession()
    session.feed(gt06.encode_login(IMEI, 1))
    assert answer_of(session.feed(captured[("gt06", line)])).reference == "00000000"

    sent = gt06_frame_of(session.encode_command("Relay,1#", 0.0))
    flag = sent.content[1:5]
    assert session.command_reference == flag.hex()
    content = real.content[:flag_at] + flag + real.content[flag_at + 4 :]
    answer = answer_of(session.feed(gt06_frame(real.type_id, content, real.serial or 0, extended=real.type_id == 0x21)))
    assert answer.reference == session.command_reference


def test_gt06_flags_differ_between_commands_and_connections() -> None:
    first, second = gt06.ServerSession(), gt06.ServerSession()
    references = set()
    for session in (first, second):
        session.feed(gt06.encode_login(IMEI, 1))
        for _ in range(3):
            session.encode_command("WHERE#", 0.0)
            references.add(session.command_reference)
    assert len(references) == 6 and "00000000" not in references


# --- Queclink @Track -------------------------------------------------------------------------


def test_a_queclink_ack_echoes_the_serial_number_of_its_command(captured: dict[Any, bytes]) -> None:
    real = captured[("gl200", 591)].decode("latin-1")  # +ACK:GTRTO,1A0800,<IMEI>,GL300,VER,FFFF,<time>,0C19
    session = gl200.ServerSession()
    assert answer_of(session.feed(real.encode() + b"$")).reference == "FFFF"  # Traccar's serial, echoed

    sent = session.encode_command("AT+GTRTO=gl300,8,,,,,,FFFF$", 0.0)
    serial = session.command_reference
    assert serial is not None and sent == f"AT+GTRTO=gl300,8,,,,,,{serial}$".encode()
    answer = answer_of(session.feed(real.replace(",FFFF,", f",{serial},").encode() + b"$"))
    assert answer.reference == serial


def test_a_queclink_ack_as_the_document_shows_it() -> None:
    """``+ACK:GTRTO,<version>,<IMEI>,<name>,<sub command>,<serial>,<send time>,<count>$`` (the
    GMT100 @Track document's example, ``...,IOS,0014,20090214093254,11F1$``, with this command's serial)."""
    session = gl200.ServerSession()
    session.encode_command("AT+GTRTO=gmt100,I,,,,,,0014$", 0.0)
    serial = session.command_reference
    ack = f"+ACK:GTRTO,080100,135790246811220,,IOS,{serial},20090214093254,11F1$".encode()
    assert answer_of(session.feed(ack)).reference == serial


def test_a_queclink_nack_names_no_serial() -> None:
    session = gl200.ServerSession()
    (_, nack) = session.feed(b"+NACK:APN,123456789012345,C031,10,0,,0,012F,20210407101530,1234$")
    assert isinstance(nack, CommandResponse) and nack.reference is None  # matched by order


# --- JT808 -----------------------------------------------------------------------------------


def jt808_session(captured: dict[Any, bytes]) -> tuple[jt808.ServerSession, Jt808Frame]:
    """A session that has read a real terminal's 0x0200 location (Traccar's capture), and that frame."""
    buf = Buffer()
    buf.feed(captured[("jt808", 26)])
    frame = jt808_take(buf, 4096)
    assert isinstance(frame, Jt808Frame) and frame.msg_id == 0x0200
    session = jt808.ServerSession()
    session.feed(captured[("jt808", 26)])
    return session, frame


def test_a_jt808_general_response_names_the_serial_of_its_command(captured: dict[Any, bytes]) -> None:
    session, real = jt808_session(captured)
    session.encode_command("WHERE#", 0.0)
    serial = int(session.command_reference or "")
    body = struct.pack(">HHB", serial, 0x8300, 0)  # 8.1: answered serial, answered id, result
    answer = answer_of(session.feed(jt808.build_frame(0x0001, real.phone, 0x0E, body, version=real.version)))
    assert answer.reference == session.command_reference and answer.text == "success"


def test_a_jt808_location_answer_names_the_serial_of_its_query(captured: dict[Any, bytes]) -> None:
    session, real = jt808_session(captured)
    session.encode_command("0x8201", 0.0)
    serial = int(session.command_reference or "")
    body = struct.pack(">H", serial) + real.body  # 8.20: answered serial, then the 0x0200 body
    answer = answer_of(session.feed(jt808.build_frame(0x0201, real.phone, 0x0E, body, version=real.version)))
    assert answer.reference == session.command_reference and answer.records[0].lat is not None


def test_a_jt808_parameter_answer_names_the_serial_of_its_query(captured: dict[Any, bytes]) -> None:
    session, real = jt808_session(captured)
    session.encode_command("0x8104", 0.0)
    serial = int(session.command_reference or "")
    apn = b"internet"
    body = struct.pack(">HBIB", serial, 1, 0x0010, len(apn)) + apn  # 8.19: answered serial, count, items
    answer = answer_of(session.feed(jt808.build_frame(0x0104, real.phone, 0x0E, body, version=real.version)))
    assert answer.reference == session.command_reference


def test_a_jt808_answer_to_an_id_other_than_the_commands_answers_nothing(captured: dict[Any, bytes]) -> None:
    session, real = jt808_session(captured)
    session.encode_command("WHERE#", 0.0)
    serial = int(session.command_reference or "")
    body = struct.pack(">HHB", serial, 0x8105, 0)  # the serial, but another command's id
    messages = session.feed(jt808.build_frame(0x0001, real.phone, 0x0E, body, version=real.version))
    assert not [m for m in messages if isinstance(m, CommandResponse)]


# --- Meitrack --------------------------------------------------------------------------------


def meitrack_reply(flag: str, imei: str, text: str) -> bytes:
    """``$$<data identifier><data length>,<IMEI>,<command type>,<command/error code>*<checksum>\\r\\n``
    (MEITRACK GPRS protocol 1.1: the length counts from the first comma through CR LF)."""
    length = 1 + len(imei) + 1 + len(text) + 1 + 2 + 2
    head = f"$${flag}{length},{imei},{text}*".encode("latin-1")
    return head + checksum(head) + b"\r\n"


def test_a_meitrack_answer_echoes_the_data_identifier_of_its_command() -> None:
    session = meitrack.ServerSession()
    session.feed(meitrack.encode_aaa(IMEI, position("meitrack"), "F"))
    sent = session.encode_command("C01,0,12222", 0.0)
    flag = sent.decode()[2]
    assert session.command_reference == f"{flag}C01"
    assert answer_of(session.feed(meitrack_reply(flag, IMEI, "C01,OK"))).reference == f"{flag}C01"


def test_the_meitrack_clock_answer_identifier_is_never_a_commands() -> None:
    session = meitrack.ServerSession()
    session.feed(meitrack.encode_aaa(IMEI, position("meitrack"), "F"))
    flags = set()
    for _ in range(60):
        flags.add(session.encode_command("A10", 0.0)[2:3].decode())
    assert "z" not in flags and all(0x41 <= ord(f) <= 0x7A for f in flags)


# --- H02 -------------------------------------------------------------------------------------


def test_an_h02_confirmation_echoes_the_time_of_its_command(captured: dict[Any, bytes]) -> None:
    """Traccar's captures answer a command sent at 13:03:05; a later one of the same word is not theirs."""
    session = h02.ServerSession()
    at_130305 = float(calendar.timegm((2022, 9, 2, 13, 3, 5)))
    before = session.feed(captured[("h02", 217)])  # identifies the device; nothing was asked: a report
    assert not [m for m in before if isinstance(m, CommandResponse)]
    session.encode_command("S20,1,3", at_130305)
    assert session.command_reference == "S20,130305"
    answer = answer_of(session.feed(captured[("h02", 217)]))
    assert answer.reference == "S20,130305" and answer.text == "S20,DONE"
    session.encode_command("S17,1", at_130305 + 40)
    late = answer_of(session.feed(captured[("h02", 208)]))  # the S17 answer, with the time of 13:03:05
    assert late.reference == "S17,130305" != session.command_reference


# --- Teltonika -------------------------------------------------------------------------------


def test_a_codec_12_answer_carries_no_reference() -> None:
    session = teltonika.ServerSession()
    session.feed(teltonika.encode_imei(IMEI))
    session.encode_command("getinfo", 0.0)
    assert getattr(session, "command_reference", None) is None
    answer = answer_of(session.feed(teltonika.encode_command_response("RTC:2019/7/22 7:53")))
    assert answer.reference is None  # order is all Codec 12 gives

