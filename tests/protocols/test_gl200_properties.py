"""Property tests: no input breaks the Queclink codec, framing does not depend on how bytes arrive,
and the device encoder and the server decoder are inverses within the protocol's precision."""

from __future__ import annotations

import json
import struct
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import CommandResponse, Login, ProtocolError, Report
from protocols.gl200 import DEFAULT_PORT, DeviceCodec, ServerSession, decode_datagram
from protocols.gl200.device import EVENT_TYPES
from protocols.gl200.framing import seal_binary, seal_pro
from protocols.record import Record, operator_code
from tests.protocols.codec_properties import (
    arbitrary_bytes_test,
    bytewise,
    cut_points,
    decoded_however_split,
    examples,
    feed_all,
    partial_frame_waits,
    split,
    survives,
    two_pieces,
)

IMEI = "865084030003675"
FAST = examples(60)
HEARTBEAT = f"+ACK:GTHBD,060100,{IMEI},,20240101120000,0A1B$".encode()


def hex_report(lat: float, lon: float, count: int) -> bytes:
    """A HEX ``+RSP`` FRI with the default report mask 00FC1FBF and one position."""
    uid = bytes(int(IMEI[i : i + 2]) for i in range(0, 14, 2)) + bytes((int(IMEI[14]),))
    body = struct.pack(">BIHB2s2s", 7, 0x00FC1FBF, 0, 0x45, b"\x01\x02", b"\x02\x09") + uid
    body += bytes((80,)) + struct.pack(">H", 12500) + bytes((0x22, 0x08, 0x10, 1))
    body += bytes((2,)) + struct.pack(">HBHhii", 42, 5, 90, 120, round(lon * 1e6), round(lat * 1e6))
    body += struct.pack(">HBBBBB", 2024, 5, 6, 7, 8, 9)
    body += struct.pack(">HHHHB", 0x0262, 0x0001, 0x1234, 0x5678, 0)
    body += bytes(3 + 5 + 3 + 6) + struct.pack(">HBBBBB", 2024, 5, 6, 7, 8, 10) + struct.pack(">H", count)
    frame = b"+RSP" + body
    total = len(frame) + 4
    frame = frame[:9] + struct.pack(">H", total) + frame[11:]
    return seal_binary(frame)


def pro_report(count: int) -> bytes:
    """A Protocol Pro report with one fixed-report record carrying a full location (data id 0x52)."""
    location = bytes((0x29,)) + struct.pack(">iiIHBH", -91543308, 44833422, 1782503153, 123, 22, 45)
    location += (4341).to_bytes(3, "big") + bytes((5,))
    record = struct.pack(">IHBB", 1782503153, 1, 0x50, 0) + bytes((0x52, len(location))) + location
    record = bytes((len(record) + 1,)) + record
    head = b"+\x00\x00\x00\x00" + bytes.fromhex("0" + IMEI) + b"\x82\x03\x00\x03\x00\x00"
    frame = head + record + struct.pack(">H", count)
    frame = frame[:2] + struct.pack(">H", len(frame) + 2) + frame[4:]
    return seal_pro(frame)


@pytest.fixture(scope="module")
def stream(vectors_dir: Path) -> bytes:
    """Frames of every format back to back: device messages, vendor captures, HEX and Pro."""
    codec = DeviceCodec(IMEI)
    rec = Record(imei=None, protocol="gl200", fix_time=1_700_000_000.0, valid=True, lat=52.5, lon=13.4,
                 speed_kmh=50.0, course_deg=90.0, ignition=True, motion=True, operator=26201)
    parts = [HEARTBEAT, codec.encode([rec, rec]), hex_report(52.5, 13.4, 7), pro_report(8)]
    with open(vectors_dir / "traccar_vectors.jsonl", encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            if entry["protocol"] == "gl200" and entry["line"] in (16, 25, 19, 270, 357, 441):
                hexed = entry["payload_kind"] == "hex"
                data = bytes.fromhex(entry["payload"]) if hexed else entry["payload"].encode()
                parts.append(data if data.endswith((b"$", b"\n")) else data + b"$")
    return b"".join(parts)


def test_default_port() -> None:
    assert DEFAULT_PORT == 5004


def test_whole_bytewise_and_every_split(stream: bytes) -> None:
    whole = decoded_however_split(ServerSession, stream, (bytewise, partial(two_pieces, step=7)))
    assert sum(len(m.records) for m in whole if isinstance(m, Report)) > 200


def test_partial_frames_are_kept(stream: bytes) -> None:
    _, rest = partial_frame_waits(ServerSession(), stream, HEARTBEAT, 20)
    # a Login comes first: the stream ended on another device's messages
    assert rest[-1].ack == b"+SACK:GTHBD,060100,0A1B$"


def test_trailing_garbage_is_an_error_after_the_good_messages(stream: bytes) -> None:
    session = ServerSession()
    messages = session.feed(stream + b"\x01\x02garbage")
    assert messages and session.pending
    with pytest.raises(ProtocolError) as raised:
        session.feed(b"")
    assert not raised.value.close and raised.value.excerpt.endswith(b"garbage")
    assert session.feed(HEARTBEAT)[-1].ack.startswith(b"+SACK:GTHBD")


def test_login_once_then_reports() -> None:
    session = ServerSession()
    first = session.feed(HEARTBEAT)
    answer = b"+SACK:GTHBD,060100,0A1B$"
    assert first == [Login(IMEI, accept=None, reject=None), Report("heartbeat", (), answer)]
    assert session.imei == IMEI
    again = session.feed(HEARTBEAT)
    assert [type(m) for m in again] == [Report]


def test_sack_answers() -> None:
    codec = DeviceCodec(IMEI)
    rec = Record(imei=None, protocol="gl200", fix_time=1_700_000_000.0, valid=True, lat=1.0, lon=2.0)
    message = codec.encode([rec])
    (_, report) = ServerSession().feed(message)
    assert report.ack == b"+SACK:0000$"
    (_, quiet) = ServerSession(sack=False).feed(message)
    assert quiet.ack is None and quiet.records == report.records
    (_, beat) = ServerSession(sack=False).feed(HEARTBEAT)
    assert beat.ack == b"+SACK:GTHBD,060100,0A1B$"
    (_, nack) = ServerSession().feed(b"+NACK:APN,123456789012345,C031,10,0,,0,012F,20210407101530,1234$")
    assert isinstance(nack, CommandResponse) and nack.ack is None and nack.records == ()


def test_binary_checks() -> None:
    frame = hex_report(10.0, 20.0, 1)
    (login, report) = ServerSession().feed(frame)
    assert login.imei == IMEI and report.ack is None
    (rec,) = report.records
    assert (rec.lat, rec.lon, rec.speed_kmh, rec.course_deg) == (10.0, 20.0, 42.5, 90.0)
    assert (rec.altitude_m, rec.operator, rec.satellites) == (120.0, 26201, 8)
    assert (rec.ext_voltage_v, rec.ignition, rec.motion) == (12.5, True, True)
    broken = frame[:-5] + bytes((frame[-5] ^ 1,)) + frame[-4:]
    session = ServerSession()
    with pytest.raises(ProtocolError, match="CRC") as raised:
        session.feed(broken)
    assert not raised.value.close and session.buffered == 0
    (login, pro) = ServerSession().feed(pro_report(0x0102))
    assert pro.ack == b"+SACK:0102$" and pro.records[0].lat == 44.833422


def test_frame_size_limit() -> None:
    session = ServerSession(max_frame=256)
    with pytest.raises(ProtocolError) as raised:
        session.feed(b"+RESP:GTFRI," + b"1" * 300)
    assert raised.value.close and session.buffered == 0
    session = ServerSession(max_frame=256)
    with pytest.raises(ProtocolError) as raised:
        session.feed(b"+RSP\x07\x00\xfc\x1f\xbf\x04\x00")
    assert raised.value.close


def test_datagrams() -> None:
    sentence = (f"+RESP:GTFRI,060100,{IMEI},,,10,1,1,0.0,0,70.0,121.354335,31.222073,20090214013254,"
                "0460,0000,18d8,6141,00,,20090214093254,11F0")
    (_, report) = decode_datagram(sentence.encode())
    assert report.records[0].lat == 31.222073 and report.ack == b"+SACK:11F0$"
    assert decode_datagram(sentence.encode() + b"$") == decode_datagram(sentence.encode())
    assert len(decode_datagram(hex_report(1.0, 2.0, 3))) == 2
    with pytest.raises(ProtocolError):
        decode_datagram(hex_report(1.0, 2.0, 3)[:-3])
    with pytest.raises(ProtocolError):
        decode_datagram(b"+RESP:GTFRI,garbage")


test_arbitrary_bytes = arbitrary_bytes_test(ServerSession, max_size=400, budget=FAST, datagram=decode_datagram)


field = st.one_of(
    st.just(""),
    st.from_regex(r"-?\d{1,3}\.\d{6}", fullmatch=True),
    st.from_regex(r"\d{14}", fullmatch=True),
    st.from_regex(r"[0-9A-F]{1,10}", fullmatch=True),
    st.from_regex(r"\d{1,5}(\.\d)?", fullmatch=True),
    st.text(alphabet="0123456789ABCDEF:.-+ |<>", max_size=12),
)


@FAST
@given(
    header=st.sampled_from(["+RESP:GTFRI", "+BUFF:GTERI", "+RESP:GTIGN", "+RESP:GTINF", "+RESP:GTCAN",
                            "+RESP:GTGSM", "+RESP:GTBAA", "+RESP:GTDTT", "+ACK:GTHBD", "+ACK:GTRTO",
                            "+RESP:GTSTT", "+RESP:GTLBS", "+RESP:GTWIF", "+RESP:GTOBD"]),
    version=st.sampled_from(["060100", "1A0800", "F10413", "8020050605", "400201", "C30303", "", "350101"]),
    fields=st.lists(field, max_size=60),
)
def test_random_sentences(header: str, version: str, fields: list[str]) -> None:
    """Well-framed sentences with random fields: messages or ProtocolError, never a crash."""
    sentence = ",".join([header, version, IMEI, *fields]) + "$"
    survives(ServerSession, [sentence.encode()])


@FAST
@given(
    header=st.sampled_from([b"+RSP", b"+BSP", b"+EVT", b"+BVT", b"+INF", b"+ACK", b"+HBD", b"+LGN", b"+CRD"]),
    mtype=st.integers(0, 255),
    mask=st.integers(0, 0xFFFFFFFF),
    body=st.binary(max_size=160),
)
def test_random_binary_frames(header: bytes, mtype: int, mask: int, body: bytes) -> None:
    """Frames with a right length, tail and CRC but random content."""
    from protocols.gl200.framing import BINARY_LENGTH

    offset, width = BINARY_LENGTH[header]
    frame = bytearray(header + bytes((mtype,)) + mask.to_bytes(4, "big") + body)
    frame += bytes(max(0, offset + width + 12 - len(frame)))
    total = len(frame) + 4
    if width == 1 and total > 255:
        frame, total = frame[: 255 - 4], 255
    frame[offset : offset + width] = total.to_bytes(width, "big")
    survives(ServerSession, [HEARTBEAT, seal_binary(bytes(frame))])


@FAST
@given(body=st.binary(min_size=10, max_size=120), buffered=st.booleans())
def test_random_pro_frames(body: bytes, buffered: bool) -> None:
    frame = (b"-" if buffered else b"+") + b"\x00\x00\x00" + body
    frame = frame[:2] + (len(frame) + 2).to_bytes(2, "big") + frame[4:]
    survives(ServerSession, [seal_pro(frame)])


# --- device encode -> server decode ------------------------------------------------------------

times = st.integers(946_684_800, 4_102_444_799).map(float)  # 2000 .. 2099
tenths = lambda lo, hi: st.integers(lo * 10, hi * 10).map(lambda n: n / 10)  # noqa: E731


@st.composite
def records(draw: st.DrawFn) -> Record:
    fixed = draw(st.booleans())
    valid = draw(st.booleans()) if fixed else False
    event = draw(st.one_of(st.none(), st.sampled_from(sorted(EVENT_TYPES))))
    ignition = draw(st.one_of(st.none(), st.booleans()))
    if event in ("ignition_on", "ignition_off"):
        ignition = event == "ignition_on"
    mcc, mnc = draw(st.integers(200, 799)), draw(st.integers(0, 99))
    has_cell = draw(st.booleans())
    attributes: dict[str, object] = {}
    if has_cell:
        lac, cid = draw(st.integers(1, 0xFFFF)), draw(st.integers(1, 0xFFFFFFF))
        attributes.update(mcc=mcc, mnc=mnc, lac=lac, cell_id=cid)
    motion = draw(st.one_of(st.none(), st.booleans()))
    if (ignition is not None or motion is not None) and draw(st.booleans()):
        attributes["battery_pct"] = draw(st.integers(0, 100))  # found next to the device status
    return Record(
        imei=IMEI,
        protocol="gl200",
        fix_time=draw(times) if fixed else None,
        valid=valid,
        lat=round(draw(st.floats(-89.9, 89.9)), 6) if fixed else None,
        lon=round(draw(st.floats(-179.9, 179.9)), 6) if fixed else None,
        altitude_m=draw(tenths(-400, 9000)) if fixed else None,
        speed_kmh=draw(tenths(0, 999)) if fixed else None,
        course_deg=float(draw(st.integers(0, 359))) if fixed else None,
        hdop=draw(tenths(1, 50)) if valid else None,
        ignition=ignition,
        motion=motion,
        ext_voltage_v=draw(st.one_of(st.none(), st.integers(0, 32000).map(lambda mv: mv / 1000))),
        operator=operator_code(mcc, mnc) if has_cell else None,
        odometer_m=draw(st.one_of(st.none(), st.integers(0, 42_949_670).map(lambda hm: hm * 100.0))),
        event=event,
        attributes=attributes,
    )


def assert_round_trip(got: Record, sent: Record) -> None:
    assert got.imei == IMEI and got.protocol == "gl200"
    assert got.event == sent.event
    assert got.fix_time == sent.fix_time
    assert got.valid is sent.valid
    assert (got.lat, got.lon) == (sent.lat, sent.lon)
    assert (got.speed_kmh, got.course_deg, got.altitude_m, got.hdop) == (
        sent.speed_kmh, sent.course_deg, sent.altitude_m, sent.hdop)
    assert got.operator == sent.operator
    for key in ("mcc", "mnc", "lac", "cell_id"):
        assert got.attributes.get(key) == sent.attributes.get(key)
    assert got.odometer_m == sent.odometer_m
    if sent.event in ("ignition_on", "ignition_off"):
        assert got.ignition is sent.ignition  # GTIGN/GTIGF carry no power, battery or status
        return
    assert got.ext_voltage_v == sent.ext_voltage_v
    assert got.attributes.get("battery_pct") == sent.attributes.get("battery_pct")
    assert got.ignition is sent.ignition
    if sent.ignition is None and sent.motion is None:
        assert got.motion is None
    else:  # the status byte has no "unknown motion": sent as standing still
        assert got.motion is bool(sent.motion)


@FAST
@given(batch=st.lists(records(), min_size=1, max_size=5), cuts=cut_points(5))
def test_device_round_trip(batch: list[Record], cuts: list[int]) -> None:
    codec = DeviceCodec(IMEI)
    assert codec.login() == b"" and codec.acks_positions
    wire = codec.encode(batch)
    messages, errors = feed_all(ServerSession(), split(wire, cuts))
    assert not errors
    assert isinstance(messages[0], Login) and messages[0].imei == IMEI
    reports = [m for m in messages if isinstance(m, Report)]
    assert len(reports) == len(batch)
    for report, sent in zip(reports, batch, strict=True):
        (got,) = report.records
        assert_round_trip(got, sent)
    answers = b"".join(r.ack for r in reports)
    complete_at = len(answers)  # the batch is one packet: acknowledged with its last SACK
    answers += b"+SACK:GTHBD,060100,0000$"
    acked = seen = 0
    for piece in split(answers, cuts):
        seen += len(piece)
        acked += codec.acks(piece)
        assert acked == (1 if seen >= complete_at else 0)


def test_packets_are_acknowledged_in_order() -> None:
    codec = DeviceCodec(IMEI)
    rec = Record(imei=None, protocol="gl200", fix_time=1_700_000_000.0, valid=True, lat=1.0, lon=2.0)
    session = ServerSession()
    messages = session.feed(codec.encode([rec, rec]) + codec.encode([rec]))
    answers = [m.ack for m in messages if isinstance(m, Report)]
    assert answers == [b"+SACK:0000$", b"+SACK:0001$", b"+SACK:0002$"]
    assert codec.acks(answers[0]) == 0
    assert codec.acks(answers[1] + answers[2]) == 2
    assert codec.acks(b"+SACK:0003$") == 0  # nothing left to acknowledge


def test_device_rejects_unknown_events_and_bad_imei() -> None:
    with pytest.raises(ValueError):
        DeviceCodec("12345")
    with pytest.raises(ValueError):
        DeviceCodec(IMEI).encode([Record(imei=None, protocol="gl200", fix_time=None, event="teleport")])


def test_count_numbers_wrap() -> None:
    codec = DeviceCodec(IMEI)
    codec.count = 0xFFFF
    rec = Record(imei=None, protocol="gl200", fix_time=1_700_000_000.0, valid=True, lat=1.0, lon=2.0)
    assert codec.encode([rec]).endswith(b",FFFF$") and codec.encode([rec]).endswith(b",0000$")
    heartbeat = codec.heartbeat(1_700_000_000.0)
    (_, beat) = ServerSession().feed(heartbeat)
    assert beat.ack == b"+SACK:GTHBD,060100,0001$" and codec.acks(beat.ack) == 0
