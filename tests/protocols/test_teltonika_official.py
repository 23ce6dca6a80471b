"""Teltonika codec against the vendor's own examples (official_examples.md, section 1).

The packets are read from ``../shared/vectors`` (never copied here); the expected values come from
``official_examples_decoded.json``. Every TCP packet is also fed whole, byte by byte, split at every
offset and followed by the start of another packet, as a TCP peer may deliver it.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import pytest

from protocols.core import CommandResponse, Login, ProtocolError, Report, crc16_ibm
from protocols.teltonika import (
    CRC_NAK,
    DeviceReceiver,
    LoginAnswer,
    RecordAck,
    ServerCommand,
    ServerSession,
    decode_datagram,
    decode_udp_ack,
    encode_command,
    encode_command_response,
    encode_imei,
)

HANDSHAKE_IMEI = "356307042441013"
AVL_EXAMPLES = ["codec8_ex1", "codec8_ex2", "codec8_ex3", "codec8e", "codec16"]
RESPONSE_EXAMPLES = ["codec12_getinfo_resp", "codec12_getio_resp", "codec14_resp"]
TCP_EXAMPLES = AVL_EXAMPLES + RESPONSE_EXAMPLES
# name -> (section of official_examples.md, index of the hex string in that section)
_LOCATIONS = {
    "handshake": ("1.", 0),
    "codec8_ex1": ("1.1", 0),
    "codec8_ex2": ("1.2", 0),
    "codec8_ex3": ("1.3", 0),
    "codec8e": ("1.4", 0),
    "codec16": ("1.5", 0),
    "codec12_getinfo": ("1.6", 0),
    "codec12_getinfo_resp": ("1.6", 1),
    "codec12_getio": ("1.6", 2),
    "codec12_getio_resp": ("1.6", 3),
    "codec14_resp": ("1.7", 0),
    "udp_codec8": ("1.8", 0),
    "udp_codec8e": ("1.8", 1),
}
_HEX = re.compile(r"\b[0-9A-Fa-f]{30,}\b")


def official_packets(vectors_dir: Path) -> dict[str, bytes]:
    """The Teltonika example packets of official_examples.md by name, plus the documented UDP ACK."""
    text = (vectors_dir / "official_examples.md").read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^#{2,3} (\d+\.\d*)", line)
        if heading:
            current = heading.group(1)
            sections[current] = []
        elif current is not None:
            sections[current].extend(_HEX.findall(line))
    packets = {name: bytes.fromhex(sections[sec][i]) for name, (sec, i) in _LOCATIONS.items()}
    ack = re.search(r"Expected ACK for the first UDP packet above: `([0-9A-Fa-f]+)`", text)
    assert ack, "official_examples.md no longer states the expected UDP ACK"
    packets["udp_ack"] = bytes.fromhex(ack.group(1))
    return packets


@pytest.fixture(scope="module")
def packets(vectors_dir: Path) -> dict[str, bytes]:
    return official_packets(vectors_dir)


def identified() -> ServerSession:
    session = ServerSession()
    assert session.feed(encode_imei(HANDSHAKE_IMEI))
    return session


def feed_all(session: ServerSession, pieces: list[bytes]) -> list[Any]:
    messages = []
    for piece in pieces:
        messages.extend(session.feed(piece))
    return messages


def check_avl(report: Any, expected: dict[str, Any], imei: str) -> None:
    """Every record field of the decoded JSON, and the ACK, match the Report."""
    assert isinstance(report, Report) and report.kind == "avl"
    if "udp_length" not in expected:  # the UDP ACK is checked by the UDP tests
        assert report.ack == bytes.fromhex(expected["ack_tcp"])
    assert len(report.records) == expected["records_n1"] == expected["n2"]
    for record, want in zip(report.records, expected["records"], strict=True):
        assert record.imei == imei and record.protocol == "teltonika"
        assert record.fix_time == want["timestamp_ms"] / 1000
        attrs = record.attributes
        assert attrs["priority"] == want["priority"]
        assert attrs["event_io"] == want["event_io"]
        assert attrs.get("generation_type") == want.get("generation_type")
        if want["lat"] == want["lon"] == 0 and want["satellites"] == 0:
            assert record.lat is None and record.lon is None  # "no position", not 0/0
        else:
            assert (record.lat, record.lon) == (want["lat"], want["lon"])
        assert record.altitude_m == want["altitude"]
        assert record.course_deg == want["angle"]
        assert record.satellites == want["satellites"]
        assert record.speed_kmh == want["speed_kmh"]
        assert record.valid is (want["satellites"] > 0)
        raw_io = {k: v for k, v in attrs.items() if re.fullmatch(r"io\d+", k)}
        assert raw_io == {f"io{io_id}": io["value"] for io_id, io in want["io"].items()}
        assert len(raw_io) == want["total_io"]


def test_handshake(packets: dict[str, bytes]) -> None:
    session = ServerSession()
    assert session.imei is None
    [login] = session.feed(packets["handshake"])
    assert login == Login(imei=HANDSHAKE_IMEI, accept=b"\x01", reject=b"\x00")
    assert session.imei == HANDSHAKE_IMEI
    assert encode_imei(HANDSHAKE_IMEI) == packets["handshake"]


def test_handshake_byte_by_byte(packets: dict[str, bytes]) -> None:
    session = ServerSession()
    messages = feed_all(session, [bytes([b]) for b in packets["handshake"]])
    assert [m.imei for m in messages] == [HANDSHAKE_IMEI]


@pytest.mark.parametrize("name", AVL_EXAMPLES)
def test_avl_example(name: str, packets: dict[str, bytes], official_decoded: dict) -> None:
    [report] = identified().feed(packets[name])
    check_avl(report, official_decoded[name], HANDSHAKE_IMEI)


def test_codec8_mapping(packets: dict[str, bytes]) -> None:
    """Example 1 carries GSM signal, external voltage and operator: the normalised fields."""
    [report] = identified().feed(packets["codec8_ex1"])
    [record] = report.records
    assert record.gsm_signal_pct == 60  # IO 21 = 3 of 5
    assert record.ext_voltage_v == 24.079  # IO 66 = 24079 mV
    assert record.operator == 24602  # IO 241, MCC 246 MNC 02
    assert record.event == "din1"
    assert record.valid is False
    assert record.ignition is None and record.battery_voltage_v is None and record.hdop is None


def test_codec8e_odometer_and_codec16_generation(packets: dict[str, bytes]) -> None:
    [report] = identified().feed(packets["codec8e"])
    assert report.records[0].odometer_m == 22949000
    [report] = identified().feed(packets["codec16"])
    assert [r.attributes["generation_type"] for r in report.records] == [5, 5]
    assert [r.event for r in report.records] == ["io11", "io11"]


@pytest.mark.parametrize("name", TCP_EXAMPLES)
def test_splits(name: str, packets: dict[str, bytes]) -> None:
    """Whole, byte by byte and split at every offset: the same messages every time."""
    packet = packets[name]
    whole = identified().feed(packet)
    assert len(whole) == 1
    assert feed_all(identified(), [bytes([b]) for b in packet]) == whole
    for cut in range(1, len(packet)):
        session = identified()
        assert session.feed(packet[:cut]) == []
        assert session.buffered == cut
        assert session.feed(packet[cut:]) == whole
        assert session.buffered == 0


@pytest.mark.parametrize("name", TCP_EXAMPLES)
def test_trailing_bytes_stay_buffered(name: str, packets: dict[str, bytes]) -> None:
    packet, following = packets[name], packets["codec8_ex3"]
    whole, next_whole = identified().feed(packet), identified().feed(following)
    for cut in (1, 4, 8, 11, len(following) - 1):
        session = identified()
        assert session.feed(packet + following[:cut]) == whole
        assert session.buffered == cut
        assert session.feed(following[cut:]) == next_whole
    session = identified()
    assert session.feed(packet + following + packet) == whole + next_whole + whole


def test_handshake_and_packet_in_one_segment(packets: dict[str, bytes], official_decoded) -> None:
    session = ServerSession()
    login, report = session.feed(packets["handshake"] + packets["codec8_ex1"])
    assert isinstance(login, Login)
    check_avl(report, official_decoded["codec8_ex1"], HANDSHAKE_IMEI)


@pytest.mark.parametrize("name", AVL_EXAMPLES)
def test_crc_corruption_is_nacked_and_stream_continues(name: str, packets: dict[str, bytes]) -> None:
    packet = packets[name]
    bad = packet[:-1] + bytes([packet[-1] ^ 0x01])
    session = identified()
    with pytest.raises(ProtocolError) as info:
        session.feed(bad)
    assert info.value.reply == b"\x00\x00\x00\x00" == CRC_NAK
    assert info.value.close is False
    [report] = session.feed(packets["codec8_ex2"])
    assert report.ack == b"\x00\x00\x00\x01"

    # corrupted data byte (not the CRC), then a good packet in the same segment
    bad = bytearray(packet)
    bad[20] ^= 0x40
    session = identified()
    with pytest.raises(ProtocolError) as info:
        session.feed(bytes(bad) + packets["codec8_ex2"])
    assert info.value.reply == CRC_NAK and not info.value.close
    [report] = session.feed(b"")
    assert len(report.records) == 1


def test_error_after_good_frame_is_raised_on_next_feed(packets: dict[str, bytes]) -> None:
    """Nothing decoded is dropped: the good frame comes back first, the error on the next call."""
    bad = packets["codec8_ex1"][:-1] + b"\x00"
    session = identified()
    [report] = session.feed(packets["codec8_ex2"] + bad + packets["codec8_ex3"])
    assert report.ack == b"\x00\x00\x00\x01"
    assert session.pending
    with pytest.raises(ProtocolError) as info:
        session.feed(b"")
    assert info.value.reply == CRC_NAK
    assert session.pending  # the frame after the bad one is queued, not lost
    [report] = session.feed(b"")
    assert report.ack == b"\x00\x00\x00\x02"
    assert not session.pending


def reframe(body: bytes) -> bytes:
    return struct.pack(">II", 0, len(body)) + body + struct.pack(">I", crc16_ibm(body))


def test_fatal_frame_errors(packets: dict[str, bytes]) -> None:
    body = packets["codec8_ex1"][8:-4]
    cases = {
        "N1 != N2": reframe(body[:-1] + b"\x02"),
        "unknown codec": reframe(b"\x55" + body[1:]),
        "records shorter than length": reframe(body[:-1] + b"\xaa\x01"),
        "non-zero preamble": b"\x00\x00\x00\x01" + packets["codec8_ex1"][4:],
        "length over max_frame": struct.pack(">II", 0, 70_000),
        "length too small": struct.pack(">II", 0, 1) + b"\x08\x00\x00\x00\x00",
    }
    for label, frame in cases.items():
        with pytest.raises(ProtocolError) as info:
            identified().feed(frame)
        assert info.value.close, label
    small = ServerSession(max_frame=60, imei=HANDSHAKE_IMEI)
    with pytest.raises(ProtocolError) as info:
        small.feed(packets["codec8_ex1"])  # 66 bytes
    assert info.value.close


@pytest.mark.parametrize(
    "handshake",
    [b"\x00\x05ABCDE", b"\x00\x0fABCDEFGHIJKLMNO", b"\x00\x12" + b"1" * 18, b"\x00\x0f12345678901234\xff"],
)
def test_bad_imei_is_rejected(handshake: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        ServerSession().feed(handshake)
    assert info.value.close and info.value.reply == b"\x00"


def test_avl_before_handshake_closes(packets: dict[str, bytes]) -> None:
    with pytest.raises(ProtocolError) as info:
        ServerSession().feed(packets["codec8_ex1"])
    assert info.value.close


def test_keepalive_byte_is_skipped(packets: dict[str, bytes]) -> None:
    session = ServerSession()
    login, report = session.feed(b"\xff" + packets["handshake"] + b"\xff" + packets["codec8_ex2"])
    assert login.imei == HANDSHAKE_IMEI and len(report.records) == 1


@pytest.mark.parametrize("name", ["codec12_getinfo_resp", "codec12_getio_resp"])
def test_codec12_response(name: str, packets: dict[str, bytes], official_decoded: dict) -> None:
    [response] = identified().feed(packets[name])
    text = official_decoded[name]["text"]
    assert isinstance(response, CommandResponse)
    assert response.text == text and response.ack is None
    [record] = response.records
    assert record.imei == HANDSHAKE_IMEI and record.fix_time is None
    assert record.event == "command_response" and record.attributes == {"response": text}
    assert record.lat is None and record.lon is None and not record.valid
    assert encode_command_response(text) == packets[name]


@pytest.mark.parametrize("name", ["codec12_getinfo", "codec12_getio"])
def test_codec12_server_command(name: str, packets: dict[str, bytes], official_decoded) -> None:
    text = official_decoded[name]["text"]
    assert encode_command(text) == packets[name]
    receiver = DeviceReceiver(logged_in=True)
    assert feed_all_device(receiver, packets[name]) == [ServerCommand(text)]


def feed_all_device(receiver: DeviceReceiver, data: bytes) -> list[Any]:
    events = []
    for b in data:
        events.extend(receiver.feed(bytes([b])))
    return events


def test_codec14_response(packets: dict[str, bytes], official_decoded: dict) -> None:
    [response] = identified().feed(packets["codec14_resp"])
    want = official_decoded["codec14_resp"]
    assert response.text == want["text"]
    assert response.records[0].attributes["device_imei"] == want["imei_hex"].lstrip("0")


@pytest.mark.parametrize("name", ["udp_codec8", "udp_codec8e"])
def test_udp(name: str, packets: dict[str, bytes], official_decoded: dict) -> None:
    want = official_decoded[name]
    [report] = decode_datagram(packets[name])
    check_avl(report, want, want["imei"])
    ack = decode_udp_ack(report.ack)
    assert ack.packet_id == int(want["packet_id"], 16)
    assert ack.avl_packet_id == int(want["avl_packet_id"], 16)
    assert ack.count == want["records_n1"]


def test_udp_ack_echoes_packet_id(packets: dict[str, bytes]) -> None:
    [report] = decode_datagram(packets["udp_codec8"])
    assert report.ack == packets["udp_ack"] == bytes.fromhex("0005CAFE010501")


def test_udp_errors(packets: dict[str, bytes]) -> None:
    datagram = packets["udp_codec8"]
    for bad in (datagram[:-1], datagram + b"\x00", datagram[:10], b"", datagram[:-1] + b"\x02"):
        with pytest.raises(ProtocolError):
            decode_datagram(bad)


def test_device_receiver_session(packets: dict[str, bytes]) -> None:
    """What a device reads from a server that accepts it, ACKs two packets and asks getinfo."""
    receiver = DeviceReceiver()
    receiver.expect_ack()
    receiver.expect_ack()
    stream = b"\x01" + b"\x00\x00\x00\x01" + CRC_NAK + packets["codec12_getinfo"]
    assert feed_all_device(receiver, stream) == [
        LoginAnswer(True),
        RecordAck(1),
        RecordAck(0),
        ServerCommand("getinfo"),
    ]
    assert DeviceReceiver().feed(b"\x00") == [LoginAnswer(False)]


def test_segment_larger_than_max_frame(packets: dict[str, bytes]) -> None:
    """A read bigger than the receive buffer (many frames at once) is framed piece by piece."""
    packet = packets["codec8_ex1"]
    session = identified()
    reports = session.feed(packet * 1500)  # ~99 kB in one segment, buffer limit 64 kB
    assert len(reports) == 1500 and session.buffered == 0
    small = ServerSession(max_frame=100, imei=HANDSHAKE_IMEI)
    assert len(small.feed(packet * 7 + packet[:30])) == 7
    assert len(small.feed(packet[30:])) == 1
