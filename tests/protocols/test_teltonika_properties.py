"""Property tests: no input breaks the Teltonika codec, and device encode -> server decode round-trips."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import ProtocolError, crc16_ibm
from protocols.record import Record
from protocols.teltonika import (
    CRC_NAK,
    EVENT_NAMES,
    LOGIN_REJECT,
    DeviceReceiver,
    LoginAnswer,
    RecordAck,
    ServerCommand,
    ServerSession,
    decode_captured,
    decode_datagram,
    decode_udp_ack,
    encode_avl,
    encode_command,
    encode_command_response,
    encode_imei,
    encode_imei_command,
    encode_udp,
)
from tests.protocols.codec_properties import (
    assert_same_fields,
    cut_points,
    decodes_or_refuses,
    edit_lists,
    examples,
    mutate,
    split,
    survives,
)
from tests.protocols.test_teltonika_official import TCP_EXAMPLES, official_packets

IMEI = "356307042441013"
FAST = examples(60)
MAPPED_IDS = {16, 21, 66, 67, 69, 80, 181, 182, 239, 240, 241}


@pytest.fixture(scope="module")
def packets(vectors_dir: Path) -> dict[str, bytes]:
    return official_packets(vectors_dir)


def refusal(reply: bytes | None) -> bool:
    """Errors answer a refused IMEI or a frame whose CRC is wrong (the device sends it again)."""
    return reply in (None, LOGIN_REJECT, CRC_NAK)


cuts = cut_points(6)
edits = edit_lists(4)


@FAST
@given(data=st.binary(max_size=300), cuts=cuts, identified=st.booleans())
def test_arbitrary_bytes(data: bytes, cuts: list[int], identified: bool) -> None:
    survives(lambda: ServerSession(imei=IMEI if identified else None), split(data, cuts), replies=refusal)


@FAST
@given(data=st.binary(max_size=300))
def test_arbitrary_datagrams_and_captures(data: bytes) -> None:
    decodes_or_refuses([decode_datagram, decode_captured], data)


def reframe(body: bytes) -> bytes:
    """A frame around ``body`` with a correct length and CRC: mutations reach the record parser."""
    return struct.pack(">II", 0, len(body)) + body + struct.pack(">I", crc16_ibm(body))


@FAST
@given(
    name=st.sampled_from(TCP_EXAMPLES),
    edits=edits,
    cuts=cuts,
    prefix=st.booleans(),
    fix_crc=st.booleans(),
)
def test_mutated_official_packets(
    packets: dict[str, bytes], name: str, edits: list[tuple[str, int, int]], cuts: list[int], prefix: bool,
    fix_crc: bool,
) -> None:
    packet = packets[name]
    if fix_crc:
        mutated = reframe(mutate(packet[8:-4], edits))
    else:
        mutated = mutate(packet, edits)
    data = mutated + packets["codec8_ex2"]
    if prefix:
        data = packets["handshake"] + data
    survives(lambda: ServerSession(imei=None if prefix else IMEI), split(data, cuts), replies=refusal)


@FAST
@given(name=st.sampled_from(["udp_codec8", "udp_codec8e"]), edits=edits)
def test_mutated_datagrams(packets: dict[str, bytes], name: str, edits: list[tuple[str, int, int]]) -> None:
    decodes_or_refuses([decode_datagram, decode_captured], mutate(packets[name], edits))


@FAST
@given(data=st.binary(max_size=200), cuts=cuts, logged_in=st.booleans(), acks=st.integers(0, 3))
def test_device_receiver_arbitrary_bytes(
    data: bytes, cuts: list[int], logged_in: bool, acks: int
) -> None:
    receiver = DeviceReceiver(logged_in=logged_in)
    for _ in range(acks):
        receiver.expect_ack()
    for piece in split(data, cuts):
        try:
            events = receiver.feed(piece)
        except ProtocolError:
            continue
        assert all(isinstance(e, (LoginAnswer, RecordAck, ServerCommand)) for e in events)


# -- round trip ----------------------------------------------------------------------------------


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


@st.composite
def records(draw: st.DrawFn, codec: int) -> Record:
    """A record as a device would produce it, within the wire resolution of ``codec``."""
    max_id = 255 if codec == 0x08 else 0xFFFF
    satellites = draw(st.integers(0, 255))
    valid = draw(st.booleans()) if satellites else False
    if satellites == 0 and draw(st.booleans()):
        lat = lon = None
    else:
        lat = draw(st.integers(-900_000_000, 900_000_000)) / 1e7
        lon = draw(st.integers(-1_800_000_000, 1_800_000_000)) / 1e7
        if lat == lon == 0 and satellites == 0:
            lat = lon = None  # the contract: 0/0 without satellites is "no position"
    event_ids = [i for i in EVENT_NAMES if i <= max_id] + [0, 0, 7, max_id]
    event_io = draw(st.sampled_from(event_ids))
    attributes: dict[str, Any] = {"priority": draw(st.integers(0, 2)), "event_io": event_io}
    io_ids = st.integers(1, max_id).filter(lambda i: i not in MAPPED_IDS)
    values: st.SearchStrategy = st.integers(0, 2**64 - 1)
    if codec == 0x8E:
        values = st.one_of(values, st.binary(max_size=20).map(bytes.hex))
    for io_id, value in draw(st.dictionaries(io_ids, values, max_size=6)).items():
        attributes[f"io{io_id}"] = value
    if codec == 0x10 and draw(st.booleans()):
        attributes["generation_type"] = draw(st.integers(0, 7))
    motion = draw(optional(st.booleans()))
    return Record(
        imei=IMEI,
        protocol="teltonika",
        fix_time=draw(st.integers(0, 2**42)) / 1000,
        valid=valid,
        lat=lat,
        lon=lon,
        altitude_m=float(draw(st.integers(-32768, 32767))),
        speed_kmh=float(draw(st.integers(0, 0xFFFF))),
        course_deg=float(draw(st.integers(0, 359))),
        satellites=satellites,
        hdop=draw(optional(st.integers(0, 0xFFFF).map(lambda v: v / 10))),
        ignition=draw(optional(st.booleans())),
        motion=motion,
        ext_voltage_v=draw(optional(st.integers(0, 0xFFFF).map(lambda v: v / 1000))),
        battery_voltage_v=draw(optional(st.integers(0, 0xFFFF).map(lambda v: v / 1000))),
        gsm_signal_pct=draw(optional(st.sampled_from([0, 20, 40, 60, 80, 100]))),
        operator=draw(optional(st.integers(1, 2**32 - 1))),
        roaming=draw(optional(st.booleans())),
        odometer_m=draw(optional(st.integers(0, 2**40).map(float))),
        event=(EVENT_NAMES.get(event_io) or f"io{event_io}") if event_io else None,
        attributes=attributes,
    )


NORMALISED = (
    "imei", "protocol", "fix_time", "valid", "lat", "lon", "altitude_m", "speed_kmh", "course_deg",
    "satellites", "hdop", "ignition", "motion", "ext_voltage_v", "battery_voltage_v",
    "gsm_signal_pct", "operator", "roaming", "odometer_m", "event",
)  # fmt: skip


def assert_same(decoded: Record, original: Record) -> None:
    assert_same_fields(decoded, original, NORMALISED)
    for key, value in original.attributes.items():
        assert decoded.attributes[key] == value, key


codecs = st.sampled_from([0x08, 0x8E, 0x10])


@FAST
@given(data=st.data(), codec=codecs, cuts=cuts)
def test_tcp_round_trip(data: st.DataObject, codec: int, cuts: list[int]) -> None:
    originals = data.draw(st.lists(records(codec), min_size=1, max_size=4))
    session = ServerSession()
    stream = encode_imei(IMEI) + encode_avl(originals, codec_id=codec)
    messages = []
    for piece in split(stream, cuts):
        messages.extend(session.feed(piece))
    login, report = messages
    assert login.imei == IMEI
    assert report.ack == len(originals).to_bytes(4, "big")
    assert len(report.records) == len(originals)
    for decoded, original in zip(report.records, originals, strict=True):
        assert_same(decoded, original)


@FAST
@given(data=st.data(), codec=codecs, packet_id=st.integers(0, 0xFFFF), avl_id=st.integers(0, 255))
def test_udp_round_trip(data: st.DataObject, codec: int, packet_id: int, avl_id: int) -> None:
    originals = data.draw(st.lists(records(codec), min_size=1, max_size=4))
    [report] = decode_datagram(encode_udp(IMEI, packet_id, avl_id, originals, codec_id=codec))
    for decoded, original in zip(report.records, originals, strict=True):
        assert_same(decoded, original)
    ack = decode_udp_ack(report.ack)
    assert (ack.packet_id, ack.avl_packet_id, ack.count) == (packet_id, avl_id, len(originals))


printable = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80)


@FAST
@given(text=printable, cuts=cuts)
def test_command_response_round_trip(text: str, cuts: list[int]) -> None:
    session = ServerSession(imei=IMEI)
    messages = []
    for piece in split(encode_command_response(text), cuts):
        messages.extend(session.feed(piece))
    [response] = messages
    assert response.text == text and response.records[0].attributes == {"response": text}


@FAST
@given(
    data=st.data(),
    batches=st.lists(st.integers(1, 3), min_size=0, max_size=4),
    command=printable,
    corrupt=st.booleans(),
    cuts=cuts,
)
def test_device_receiver_round_trip(
    data: st.DataObject, batches: list[int], command: str, corrupt: bool, cuts: list[int]
) -> None:
    """Server replies (login accept, record ACKs or the CRC NAK, a command) parsed by the device."""
    session = ServerSession()
    receiver = DeviceReceiver()
    [login] = session.feed(encode_imei(IMEI))
    replies = login.accept
    expected: list[Any] = [LoginAnswer(True)]
    for size in batches:
        packet = encode_avl(data.draw(st.lists(records(0x8E), min_size=size, max_size=size)))
        receiver.expect_ack()
        if corrupt:
            packet = packet[:-1] + bytes([packet[-1] ^ 0xFF])
            with pytest.raises(ProtocolError) as info:
                session.feed(packet)
            replies += info.value.reply
            expected.append(RecordAck(0))
        else:
            [report] = session.feed(packet)
            replies += report.ack
            expected.append(RecordAck(size))
    replies += encode_command(command)
    expected.append(ServerCommand(command))
    events = []
    for piece in split(replies, cuts):
        events.extend(receiver.feed(piece))
    assert events == expected
    assert CRC_NAK == b"\x00\x00\x00\x00"


def test_codec14_command_reaches_device() -> None:
    frame = encode_imei_command(IMEI, "getver")
    assert frame[8] == 0x0E
    receiver = DeviceReceiver(logged_in=True)
    assert [e for b in frame for e in receiver.feed(bytes([b]))] == [ServerCommand("getver")]


def test_event_name_without_event_io_and_gnss_status() -> None:
    """The encoder finds the event id from the name; an invalid fix with satellites says so."""
    record = Record(
        imei=IMEI, protocol="teltonika", fix_time=1_700_000_000.0, valid=False, lat=54.5, lon=25.3,
        satellites=7, event="ignition", ignition=True, roaming=True, motion=True,
    )  # fmt: skip
    [report] = ServerSession(imei=IMEI).feed(encode_avl([record], codec_id=0x08))
    [decoded] = report.records
    assert decoded.event == "ignition" and decoded.attributes["event_io"] == 239
    assert decoded.valid is False and decoded.attributes["gnss_status"] == 2
    assert decoded.roaming is True and decoded.attributes["data_mode"] == 3
    assert (decoded.lat, decoded.lon, decoded.satellites) == (54.5, 25.3, 7)
