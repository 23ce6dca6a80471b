"""Property tests: no input breaks the JT808 codec; the terminal encoders and the server are inverses."""

from __future__ import annotations

import struct
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import CommandResponse, Login, ProtocolError, Report
from protocols.jt808 import DEFAULT_PORT, DeviceCodec, DeviceReceiver, ServerSession, build_frame
from protocols.jt808.device import (
    Terminal,
    encode_auth,
    encode_batch,
    encode_heartbeat,
    encode_location,
    encode_registration,
)
from protocols.jt808.framing import bcc, escape, unescape
from protocols.record import Record
from tests.protocols import codec_properties
from tests.protocols.codec_properties import (
    acks_in_pieces,
    arbitrary_bytes_test,
    assert_position_near,
    assert_same_fields,
    cut_points,
    decoded_however_split,
    examples,
    partial_frame_waits,
    positions,
    split,
    survives,
)

PHONE_ID = "13912345678"
"""An 11-digit SIM number: a 2013 header (6 BCD bytes ``013912345678``)."""
IMEI = "868120145233604"
FAST = examples(60)
TERMINAL = Terminal.for_id(PHONE_ID)


def flagged(reply: bytes | None) -> bool:
    """Errors are answered with a general response frame (``7e ... 7e``) or not at all."""
    return reply is None or reply[:1] == b"\x7e"


feed_all = partial(codec_properties.feed_all, replies=flagged)


def location(**changes: object) -> Record:
    base = dict(
        imei=PHONE_ID, protocol="jt808", fix_time=1_700_000_000.0, valid=True, lat=22.514880, lon=113.916508,
        altitude_m=35.0, speed_kmh=42.5, course_deg=271.0, satellites=9, ignition=True, gsm_signal_pct=100,
        odometer_m=123400.0,
    )
    base.update(changes)
    return Record(**base)  # type: ignore[arg-type]


def stream() -> bytes:
    """Registration, auth, heartbeat, two locations and a batch: a typical connection."""
    return (
        encode_registration(TERMINAL, 0)
        + encode_auth(TERMINAL, 1, PHONE_ID.encode())
        + encode_heartbeat(TERMINAL, 2)
        + encode_location(location(), TERMINAL, 3)
        + encode_location(location(lat=-33.9, lon=-70.6, ignition=False), TERMINAL, 4)
        + encode_batch([location(), location(fix_time=1_700_000_060.0)], TERMINAL, 5)
    )


def test_default_port() -> None:
    assert DEFAULT_PORT == 5015


def test_whole_stream() -> None:
    messages, errors = feed_all(ServerSession(), [stream()])
    assert not errors
    kinds = [(type(m).__name__, getattr(m, "kind", None)) for m in messages]
    assert kinds == [
        ("Login", None), ("Login", None), ("Report", "heartbeat"), ("Report", "location"),
        ("Report", "location"), ("Report", "batch"),
    ]
    assert all(isinstance(m, Login) and m.imei == PHONE_ID for m in messages[:2])
    assert [len(m.records) for m in messages[2:]] == [0, 1, 1, 2]  # type: ignore[union-attr]


def test_byte_by_byte_and_every_split() -> None:
    decoded_however_split(ServerSession, stream())


def test_trailing_bytes_wait_and_partial_frames_are_kept() -> None:
    data = encode_location(location(), TERMINAL, 7)
    messages, (report,) = partial_frame_waits(ServerSession(), data, data, 9)
    assert [type(m) for m in messages] == [Login, Report]
    assert isinstance(report, Report) and len(report.records) == 1


def test_garbage_before_and_between_frames_costs_no_frame() -> None:
    frame = encode_location(location(), TERMINAL, 1)
    messages, errors = feed_all(ServerSession(), [b"GET / HTTP/1.1\r\n" + frame + b"\x00\x01" + frame])
    assert sum(isinstance(m, Report) for m in messages) == 2
    assert len(errors) == 2 and not any(e.close for e in errors)
    assert errors[0].excerpt.startswith(b"GET")


def test_bad_bcc_is_answered_with_message_error_and_the_next_frame_decodes() -> None:
    session = ServerSession()
    session.feed(encode_auth(TERMINAL, 1, b"x"))
    good = encode_location(location(), TERMINAL, 9)
    content = bytearray(unescape(good[1:-1]))
    content[-1] ^= 0x55
    bad = b"\x7e" + escape(bytes(content)) + b"\x7e"
    with pytest.raises(ProtocolError) as caught:
        session.feed(bad + good)
    error = caught.value
    assert "BCC" in str(error) and not error.close
    (answer,) = DeviceReceiver().feed(error.reply or b"")
    assert (answer.msg_id, answer.reply_serial, answer.reply_id, answer.result) == (0x8001, 9, 0x0200, 2)
    (report,) = session.feed(b"")
    assert isinstance(report, Report) and len(report.records) == 1


def test_oversized_frame_closes() -> None:
    session = ServerSession(max_frame=64)
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"\x7e" + b"\x01" * 100)
    assert caught.value.close
    session = ServerSession(max_frame=64)
    with pytest.raises(ProtocolError) as caught:
        session.feed(encode_batch([location()] * 3, TERMINAL, 1))
    assert caught.value.close


def test_other_terminal_on_the_connection_closes() -> None:
    session = ServerSession()
    session.feed(encode_location(location(), TERMINAL, 1))
    with pytest.raises(ProtocolError) as caught:
        session.feed(encode_location(location(), Terminal.for_id("13900000000"), 2))
    assert caught.value.close


def test_device_id_drops_leading_zeros_as_traccar_does() -> None:
    (login, _report) = ServerSession().feed(encode_location(location(), Terminal.for_id("0012345"), 1))
    assert isinstance(login, Login) and login.imei == "12345" and login.accept is None


def test_registration_answer_and_reject() -> None:
    session = ServerSession()
    (login,) = session.feed(encode_registration(TERMINAL, 77))
    assert isinstance(login, Login) and login.imei == PHONE_ID
    body = unescape(login.accept[1:-1])[12:-1]  # type: ignore[index]
    assert body == struct.pack(">HB", 77, 0) + b"0" + PHONE_ID.encode()
    reject = unescape(login.reject[1:-1])[12:-1]  # type: ignore[index]
    assert reject == struct.pack(">HB", 77, 4)


def test_time_sync_needs_a_clock() -> None:
    request = TERMINAL.frame(0x0109, 3, b"")
    assert ServerSession().feed(request)[1].ack is None  # type: ignore[union-attr]
    (_login, report) = ServerSession(now=lambda: 1_700_000_000.0).feed(request)
    (answer,) = DeviceReceiver().feed(report.ack)  # type: ignore[union-attr, arg-type]
    assert answer.msg_id == 0x8109
    assert answer.body == struct.pack(">HBBBBBB", 2023, 11, 14, 22, 13, 20, 0)


def test_sub_packages_are_joined() -> None:
    body = encode_batch([location(), location(fix_time=1_700_000_030.0)], TERMINAL, 0)
    payload = unescape(body[1:-1])[12:-1]
    parts = [payload[:20], payload[20:50], payload[50:]]
    session = ServerSession()
    messages = []
    for index, part in enumerate(parts, start=1):
        head = (struct.pack(">HH", 0x0704, 0x2000 | len(part)) + TERMINAL.phone
                + struct.pack(">HHH", 10 + index, 3, index))
        content = head + part
        messages += session.feed(b"\x7e" + escape(content + bytes((bcc(content),))) + b"\x7e")
    reports = [m for m in messages if isinstance(m, Report)]
    assert [len(r.records) for r in reports] == [0, 0, 2]
    assert all(r.ack for r in reports)


def test_rsa_encrypted_body_is_refused_with_not_supported() -> None:
    content = struct.pack(">HH", 0x0200, 0x0400 | 4) + TERMINAL.phone + b"\x00\x01" + b"\x00" * 4
    frame = b"\x7e" + escape(content + bytes((bcc(content),))) + b"\x7e"
    session = ServerSession()
    (login,) = session.feed(frame)  # the terminal is identified before its body is refused
    assert isinstance(login, Login) and session.pending
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"")
    error = caught.value
    assert not error.close and error.reply is not None
    (answer,) = DeviceReceiver().feed(error.reply)
    assert answer.result == 3


test_arbitrary_bytes = arbitrary_bytes_test(ServerSession, max_size=400, budget=FAST, replies=flagged)


@FAST
@given(data=st.binary(max_size=300).map(lambda b: b"\x7e" + b + b"\x7e"), cuts=cut_points(4))
def test_arbitrary_flagged_bytes(data: bytes, cuts: list[int]) -> None:
    survives(ServerSession, split(data, cuts), replies=flagged)


@FAST
@given(
    msg_id=st.sampled_from([0x0002, 0x0100, 0x0102, 0x0104, 0x0107, 0x0200, 0x0201, 0x0210, 0x0701, 0x0702,
                            0x0704, 0x0900, 0x1300, 0x2070, 0x5501, 0x5502, 0x6006, 0x0109, 0xABCD]),
    body=st.binary(max_size=200),
    serial=st.integers(0, 0xFFFF),
    version=st.sampled_from([None, 1]),
    model=st.sampled_from([None, "MV710G", "AL300", "GL100", "JC371", "C5L", "G-360P", "DT800"]),
    cuts=cut_points(4),
)
def test_well_framed_random_bodies(msg_id: int, body: bytes, serial: int, version: int | None, model: str | None,
                                   cuts: list[int]) -> None:
    """Valid frames of any type with random bodies: messages or a ProtocolError, never a crash."""
    phone = Terminal.for_id(IMEI if version else PHONE_ID).phone
    frame = build_frame(msg_id, phone, serial, body, version=version, short_serial=msg_id in (0x5501, 0x5502))
    survives(lambda: ServerSession(model=model), split(frame, cuts), replies=flagged)


@FAST
@given(
    base=st.sampled_from(["0200", "0704"]),
    items=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=30)), max_size=8),
    model=st.sampled_from([None, "AL300", "JC371", "C5L", "MV710G"]),
)
def test_random_additional_items(base: str, items: list[tuple[int, bytes]], model: str | None) -> None:
    """Whatever items follow a good location, the position itself survives."""
    body = unescape(encode_location(location(), TERMINAL, 1)[1:-1])[12:-1]
    body = body[:28] + b"".join(bytes((i, len(v))) + v for i, v in items)
    frame = TERMINAL.frame(0x0200, 5, body)
    messages, errors = feed_all(ServerSession(model=model), [frame])
    assert not errors
    (rec,) = messages[1].records  # type: ignore[union-attr]
    assert rec.lat == 22.51488 and rec.fix_time == 1_700_000_000.0


# --- round trips ---------------------------------------------------------------------------

coords = positions(off_zero=1e-5)


@st.composite
def records(draw: st.DrawFn) -> Record:
    lat, lon = draw(coords)
    maybe = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731
    return Record(
        imei=IMEI,
        protocol="jt808",
        fix_time=float(draw(st.integers(946_684_800 + 8 * 3600, 4_102_444_799 - 8 * 3600))),
        valid=draw(st.booleans()),
        lat=lat,
        lon=lon,
        altitude_m=float(draw(st.integers(-500, 9000))),
        speed_kmh=draw(st.integers(0, 3000)) / 10.0,
        course_deg=float(draw(st.integers(0, 359))),
        satellites=maybe(st.integers(0, 40)),
        hdop=maybe(st.integers(0, 500).map(lambda v: v / 10.0)),
        ignition=draw(st.booleans()),
        motion=maybe(st.booleans()),
        ext_voltage_v=maybe(st.integers(0, 60000).map(lambda v: v / 1000.0)),
        battery_voltage_v=maybe(st.integers(0, 5000).map(lambda v: v / 1000.0)),
        gsm_signal_pct=maybe(st.integers(0, 31).map(lambda v: round(v * 100 / 31))),
        odometer_m=maybe(st.integers(0, 2**32 - 1).map(lambda v: v * 100.0)),
        event=maybe(st.sampled_from(["sos", "overspeed", "low_battery", "power_off", "vibration", "tamper"])),
    )


FIELDS = ("fix_time", "valid", "altitude_m", "speed_kmh", "course_deg", "satellites", "hdop", "ignition", "motion",
          "ext_voltage_v", "battery_voltage_v", "gsm_signal_pct", "odometer_m", "event")


def assert_same(got: Record, sent: Record) -> None:
    assert got.imei == IMEI and got.protocol == "jt808"
    assert_same_fields(got, sent, FIELDS)
    assert_position_near(got, sent, 0.5e-6 + 1e-12)


@FAST
@given(batch=st.lists(records(), min_size=1, max_size=30), cuts=cut_points(5))
def test_device_codec_round_trip(batch: list[Record], cuts: list[int]) -> None:
    """DeviceCodec packets decode to the records sent; the server's answers acknowledge them."""
    codec = DeviceCodec(IMEI)
    session = ServerSession()
    login_messages = session.feed(codec.login())
    assert [type(m) for m in login_messages] == [Login, Login]
    assert all(m.imei == IMEI for m in login_messages)  # type: ignore[union-attr]
    packet = codec.encode(batch)
    messages, errors = feed_all(session, split(packet, cuts))
    assert not errors
    got = [r for m in messages for r in m.records]  # type: ignore[union-attr]
    assert len(got) == len(batch)
    for g, s in zip(got, batch, strict=True):
        assert_same(g, s)
    answers = b"".join(m.accept for m in login_messages) + b"".join(m.ack for m in messages)  # type: ignore[union-attr, misc]
    assert acks_in_pieces(codec, answers, cuts) == 1
    assert codec.acks(answers) == 0  # the same answers again acknowledge nothing more


def test_device_codec_with_a_short_id_uses_the_2013_header() -> None:
    codec = DeviceCodec(PHONE_ID)
    assert codec.terminal.version is None and len(codec.terminal.phone) == 6
    session = ServerSession()
    session.feed(codec.login())
    (report,) = session.feed(codec.encode([location()]))
    assert report.records[0].imei == PHONE_ID  # type: ignore[union-attr]
    assert codec.acks(report.ack[:5]) == 0  # type: ignore[index]
    assert codec.acks(report.ack[5:]) == 1  # type: ignore[index]


def test_unknown_values_stay_unknown() -> None:
    rec = location(satellites=None, gsm_signal_pct=None, odometer_m=None, lat=None, lon=None, valid=False)
    session = ServerSession()
    (_login, report) = session.feed(encode_location(rec, TERMINAL, 1))
    got = report.records[0]  # type: ignore[union-attr]
    assert (got.satellites, got.gsm_signal_pct, got.odometer_m, got.lat, got.lon, got.hdop) == (None,) * 6
    assert got.ext_voltage_v is None and got.battery_voltage_v is None


def test_text_frames() -> None:
    session = ServerSession()
    messages = session.feed(b"(740190311185,1,001,ELOCK,3,529439)")
    assert isinstance(messages[0], Login) and messages[0].imei == "740190311185"
    assert isinstance(messages[1], CommandResponse) and messages[1].text.startswith("(7401")
    (report,) = ServerSession(now=lambda: 1_700_000_000.0).feed(b"(794104004140,1,001,BASE,2,TIME)")[1:]
    assert report.ack == b"(794104004140,1,001,BASE,2,20231114221320)"
