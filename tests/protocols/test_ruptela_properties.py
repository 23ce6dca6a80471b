"""Property tests: no input breaks the Ruptela codec; the device encoders and the server are inverses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import CommandResponse, Login, Message, ProtocolError, Report
from protocols.record import Record
from protocols.ruptela import (
    DEFAULT_PORT,
    RECORDS_ACK,
    DeviceCodec,
    DeviceReceiver,
    ServerSession,
    build_answer,
    build_packet,
    encode_records,
)
from tests.protocols.codec_properties import (
    acks_in_pieces,
    arbitrary_bytes_test,
    assert_position_near,
    assert_same_fields,
    cut_points,
    decoded_however_split,
    examples,
    feed_all,
    partial_frame_waits,
    positions,
    split,
    survives,
)

IMEI = "863071016796572"
FAST = examples(60)


def record(**changes: object) -> Record:
    base = dict(
        imei=IMEI, protocol="ruptela", fix_time=1_700_000_000.0, valid=True, lat=54.6305118, lon=25.2712755,
        altitude_m=197.1, speed_kmh=16.0, course_deg=69.99, satellites=10, hdop=0.9, ignition=True,
        ext_voltage_v=13.198, battery_voltage_v=4.1, gsm_signal_pct=84, odometer_m=21741933.0,
    )
    base.update(changes)
    return Record(**base)  # type: ignore[arg-type]


def stream() -> bytes:
    """Heartbeat, two record packets, a command answer: a typical connection."""
    return (
        build_packet(IMEI, 16, b"")
        + encode_records(IMEI, [record()])
        + encode_records(IMEI, [record(lat=None, lon=None, valid=False), record(fix_time=1_700_000_060.0)])
        + build_packet(IMEI, 7, b"SETIO configuration data ok")
    )


def summary(messages: list[Message]) -> list[tuple[str, int, bytes | None]]:
    out = []
    for m in messages:
        if isinstance(m, Login):
            out.append(("login", 0, m.accept))
        else:
            out.append((type(m).__name__, len(m.records), m.ack))
    return out


def test_default_port() -> None:
    assert DEFAULT_PORT == 5046


def test_whole_stream() -> None:
    messages, errors = feed_all(ServerSession(), [stream()])
    assert not errors
    assert summary(messages) == [
        ("login", 0, None),
        ("Report", 0, build_answer(116, b"\x01")),
        ("Report", 1, RECORDS_ACK),
        ("Report", 2, RECORDS_ACK),
        ("CommandResponse", 1, None),
    ]
    assert isinstance(messages[0], Login) and messages[0].imei == IMEI
    assert isinstance(messages[4], CommandResponse) and messages[4].text == "SETIO configuration data ok"


def test_byte_by_byte_and_every_split() -> None:
    decoded_however_split(ServerSession, stream())


def test_trailing_bytes_wait() -> None:
    packet = encode_records(IMEI, [record()])
    messages, (report,) = partial_frame_waits(ServerSession(), packet, packet, 7)
    assert [type(m) for m in messages] == [Login, Report]
    assert isinstance(report, Report) and len(report.records) == 1


def test_bad_crc_costs_the_packet_not_the_connection() -> None:
    good = encode_records(IMEI, [record()])
    bad = good[:-1] + bytes((good[-1] ^ 0xFF,))
    session = ServerSession()
    with pytest.raises(ProtocolError) as caught:
        session.feed(bad + good)
    assert "CRC" in str(caught.value) and not caught.value.close and caught.value.reply is None
    messages = session.feed(b"")
    assert [type(m) for m in messages] == [Login, Report]


def test_good_packets_before_a_bad_one_come_first() -> None:
    good = encode_records(IMEI, [record()])
    session = ServerSession()
    messages = session.feed(good + good[:-1] + b"\x00")
    assert [type(m) for m in messages] == [Login, Report] and session.pending
    with pytest.raises(ProtocolError):
        session.feed(b"")


def test_impossible_length_and_oversize_close() -> None:
    with pytest.raises(ProtocolError) as caught:
        ServerSession().feed(b"\x00\x03abcdefg")
    assert caught.value.close
    with pytest.raises(ProtocolError) as caught:
        ServerSession(max_frame=64).feed(encode_records(IMEI, [record()] * 3))
    assert caught.value.close


def test_another_imei_on_the_connection_closes() -> None:
    session = ServerSession()
    session.feed(encode_records(IMEI, [record()]))
    with pytest.raises(ProtocolError) as caught:
        session.feed(encode_records("359633100000001", [record()]))
    assert caught.value.close


def test_extended_records_round_trip() -> None:
    packet = encode_records(IMEI, [record(), record(ignition=False)], extended=True)
    (_login, report) = ServerSession().feed(packet)
    assert [r.ignition for r in report.records] == [True, False]  # type: ignore[union-attr]
    assert report.ack == RECORDS_ACK  # type: ignore[union-attr]


def test_ignition_falls_back_to_din4() -> None:
    rec = record(ignition=None, attributes={"io5": 1})
    (_login, report) = ServerSession().feed(encode_records(IMEI, [rec]))
    got = report.records[0]  # type: ignore[union-attr]
    assert got.ignition is True and got.attributes["io5"] == 1


test_arbitrary_bytes = arbitrary_bytes_test(ServerSession, max_size=400, budget=FAST)


@FAST
@given(
    command=st.sampled_from([1, 2, 3, 4, 7, 9, 15, 16, 17, 37, 68, 200]),
    data=st.binary(max_size=300),
    cuts=cut_points(4),
)
def test_well_framed_random_data(command: int, data: bytes, cuts: list[int]) -> None:
    """Valid packets of any command with random data: messages or a ProtocolError, never a crash."""
    survives(ServerSession, split(build_packet(IMEI, command, data), cuts))


coords = positions()


@st.composite
def records(draw: st.DrawFn) -> Record:
    lat, lon = draw(coords)
    maybe = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731
    known = lat is not None
    return Record(
        imei=IMEI,
        protocol="ruptela",
        fix_time=float(draw(st.integers(0, 2**32 - 1))),
        valid=known,
        lat=lat,
        lon=lon,
        altitude_m=draw(st.integers(0, 65535)) / 10.0 if known else None,
        speed_kmh=float(draw(st.integers(0, 400))) if known else None,
        course_deg=draw(st.integers(0, 35999)) / 100.0 if known else None,
        satellites=draw(st.integers(0, 40)) if known else None,
        hdop=draw(st.integers(0, 255)) / 10.0 if known else None,
        ignition=maybe(st.booleans()),
        motion=maybe(st.booleans()),
        ext_voltage_v=maybe(st.integers(0, 65535).map(lambda v: v / 1000.0)),
        battery_voltage_v=maybe(st.integers(0, 65535).map(lambda v: v / 1000.0)),
        gsm_signal_pct=maybe(st.integers(0, 31).map(lambda v: round(v * 100 / 31))),
        odometer_m=maybe(st.integers(0, 2**32 - 1).map(float)),
    )


FIELDS = ("fix_time", "valid", "altitude_m", "speed_kmh", "course_deg", "satellites", "hdop", "ignition", "motion",
          "ext_voltage_v", "battery_voltage_v", "gsm_signal_pct", "odometer_m")


@FAST
@given(batch=st.lists(records(), min_size=1, max_size=40), cuts=cut_points(5))
def test_device_codec_round_trip(batch: list[Record], cuts: list[int]) -> None:
    """DeviceCodec packets decode to the records sent; the server's ACK acknowledges them."""
    codec = DeviceCodec(IMEI)
    assert codec.login() == b""
    session = ServerSession()
    messages, errors = feed_all(session, split(codec.encode(batch), cuts))
    assert not errors
    assert isinstance(messages[0], Login) and messages[0].imei == IMEI
    got = [r for m in messages[1:] for r in m.records]  # type: ignore[union-attr]
    assert len(got) == len(batch)
    for g, s in zip(got, batch, strict=True):
        assert g.imei == IMEI and g.protocol == "ruptela"
        assert_same_fields(g, s, FIELDS)
        assert_position_near(g, s, 0.5e-7 + 1e-12)
    answers = b"".join(m.ack for m in messages[1:])  # type: ignore[union-attr, misc]
    assert acks_in_pieces(codec, answers, cuts) == 1
    assert codec.acks(b"") == 0


def test_device_receiver_keeps_partial_and_rejects_garbage() -> None:
    receiver = DeviceReceiver()
    assert receiver.feed(RECORDS_ACK[:3]) == []
    (answer,) = receiver.feed(RECORDS_ACK[3:])
    assert answer.records_ack
    with pytest.raises(ProtocolError):
        receiver.feed(b"\x00\x02\x64\x01\x00\x00")
