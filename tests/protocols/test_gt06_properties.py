"""Property tests: no input breaks the GT06 codec; device encoders and server decoder are inverses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import Login, ProtocolError, Report
from protocols.gt06 import (
    ALARMS,
    Ack,
    DeviceReceiver,
    ServerSession,
    build_frame,
    encode_alarm,
    encode_location,
    encode_login,
    encode_status,
)
from protocols.gt06.fields import COORD_SCALE
from protocols.record import Record, operator_code
from tests.protocols.codec_properties import (
    arbitrary_bytes_test,
    assert_position_near,
    cut_points,
    edit_lists,
    examples,
    mutate,
    positions,
    split,
    survives,
)
from tests.protocols.test_gt06_official import samples  # noqa: F401  (fixture)

IMEI = "868120145233604"
FAST = examples(60)


test_arbitrary_bytes = arbitrary_bytes_test(ServerSession, max_size=400, budget=FAST)


@FAST
@given(
    type_id=st.integers(0, 255),
    content=st.binary(max_size=120),
    serial=st.integers(0, 0xFFFF),
    extended=st.booleans(),
    cuts=cut_points(4),
)
def test_well_framed_random_content(type_id: int, content: bytes, serial: int, extended: bool, cuts: list[int]) -> None:
    """Valid frames of any type with random content: a message or a ProtocolError, never a crash."""
    frame = build_frame(type_id, content, serial, extended)
    survives(lambda: ServerSession(model=None), split(encode_login(IMEI, 1) + frame, cuts))


@FAST
@given(
    which=st.sampled_from(["gt06_login", "gt06_location_CF", "gt06_traccar_status", "gt06_alarm", "gt06_traccar_loc"]),
    edits=edit_lists(4),
    cuts=cut_points(5),
)
def test_mutated_official_frames(samples: dict[str, bytes], which: str,  # noqa: F811
                                 edits: list[tuple[str, int, int]], cuts: list[int]) -> None:
    survives(ServerSession, split(mutate(samples[which] + samples["gt06_alarm"], edits), cuts))


@FAST
@given(model=st.sampled_from(["R11", "LW4G-4B", "SEEWORLD", "NT20", "XT40", "VL103", "G18", "QH302R"]),
       type_id=st.sampled_from([0x12, 0x13, 0x16, 0x22, 0x25, 0x36, 0x95, 0xA2]),
       content=st.binary(max_size=80))
def test_model_overrides_survive(model: str, type_id: int, content: bytes) -> None:
    survives(lambda: ServerSession(model=model), [build_frame(type_id, content, 7)])


# --- round trips ---------------------------------------------------------------------------

coords = positions(off_zero=1e-5)  # (0, 0) raw means "no fix ever" and decodes to None
cells = st.tuples(st.integers(1, 999), st.integers(0, 99), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFF))


@st.composite
def records(draw: st.DrawFn, ignition_known: bool = False) -> Record:
    lat, lon = draw(coords)
    mcc, mnc, lac, cid = draw(cells)
    ignition = draw(st.booleans() if ignition_known else st.one_of(st.none(), st.booleans()))
    return Record(
        imei=IMEI,
        protocol="gt06",
        fix_time=float(draw(st.integers(946_684_800, 4_102_444_799))),  # 2000 .. 2099
        valid=draw(st.booleans()),
        lat=lat,
        lon=lon,
        speed_kmh=float(draw(st.integers(0, 255))),
        course_deg=float(draw(st.integers(0, 359))),
        satellites=draw(st.integers(0, 15)),
        ignition=ignition,
        gsm_signal_pct=draw(st.one_of(st.none(), st.sampled_from([0, 25, 50, 75, 100]))),
        operator=operator_code(mcc, mnc),
        odometer_m=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1).map(float))),
        attributes={"mcc": mcc, "mnc": mnc, "lac": lac, "cell_id": cid,
                    "voltage_level": draw(st.integers(0, 6))},
    )


def decode_one(frame: bytes) -> Record:
    session = ServerSession()
    session.feed(encode_login(IMEI, 1))
    (message,) = session.feed(frame)
    assert isinstance(message, Report)
    assert message.ack == build_frame(frame[3], b"", int.from_bytes(frame[-6:-4], "big"))
    (rec,) = message.records
    return rec


def assert_position(got: Record, sent: Record) -> None:
    assert got.imei == IMEI and got.protocol == "gt06"
    assert got.fix_time == sent.fix_time
    assert got.valid is sent.valid
    assert_position_near(got, sent, 0.5 / COORD_SCALE + 1e-12)
    assert (got.speed_kmh, got.course_deg, got.satellites) == (sent.speed_kmh, sent.course_deg, sent.satellites)
    assert got.operator == sent.operator
    for key in ("mcc", "mnc", "lac", "cell_id"):
        assert got.attributes[key] == sent.attributes[key]


@FAST
@given(rec=records(), type_id=st.sampled_from([0x12, 0x22]), serial=st.integers(0, 0xFFFF))
def test_location_round_trip(rec: Record, type_id: int, serial: int) -> None:
    got = decode_one(encode_location(rec, serial, type_id))
    assert_position(got, rec)
    if type_id == 0x22 and rec.ignition is None and rec.odometer_m is not None:
        assert got.ignition is False  # 0x22 has no "unknown" ACC once its tail is present
    else:
        assert got.ignition is rec.ignition
    assert got.odometer_m == rec.odometer_m


@FAST
@given(rec=records(ignition_known=True), serial=st.integers(0, 0xFFFF),
       event=st.one_of(st.none(), st.sampled_from(sorted(set(ALARMS.values())))))
def test_status_round_trip(rec: Record, serial: int, event: str | None) -> None:
    rec = Record(**{f: getattr(rec, f) for f in rec.__dataclass_fields__} | {"event": event})
    got = decode_one(encode_status(rec, serial))
    assert got.lat is None and got.fix_time is None and got.valid is None
    assert got.ignition is rec.ignition
    assert got.gsm_signal_pct == rec.gsm_signal_pct
    assert got.attributes["voltage_level"] == rec.attributes["voltage_level"]
    assert got.event == event


@FAST
@given(rec=records(ignition_known=True), serial=st.integers(0, 0xFFFF), type_id=st.sampled_from([0x16, 0x26]),
       alarm=st.sampled_from(sorted(set(ALARMS.values()))))
def test_alarm_round_trip(rec: Record, serial: int, type_id: int, alarm: str) -> None:
    got = decode_one(encode_alarm(rec, serial, alarm, type_id))
    assert_position(got, rec)
    assert got.event == alarm
    assert got.ignition is rec.ignition
    assert got.gsm_signal_pct == rec.gsm_signal_pct


@FAST
@given(frames=st.lists(st.tuples(st.sampled_from([0x01, 0x12, 0x13, 0x16, 0x22, 0x26]), st.integers(0, 0xFFFF)),
                       min_size=1, max_size=6),
       cuts=cut_points(8))
def test_device_receiver_parses_server_acks(frames: list[tuple[int, int]], cuts: list[int]) -> None:
    """Every ACK the server produces is parsed back by the device side, however it is cut."""
    session = ServerSession()
    rec = Record(imei=None, protocol="gt06", fix_time=1_700_000_000.0, valid=True, lat=1.0, lon=2.0,
                 ignition=True, attributes={"mcc": 262, "mnc": 1, "lac": 1, "cell_id": 2})
    wire = b""
    expected = []
    for type_id, serial in frames:
        if type_id == 0x01:
            frame = encode_login(IMEI, serial)
        elif type_id == 0x13:
            frame = encode_status(rec, serial)
        elif type_id in (0x16, 0x26):
            frame = encode_alarm(rec, serial, "sos", type_id)
        else:
            frame = encode_location(rec, serial, type_id)
        (message,) = session.feed(frame)
        reply = message.accept if isinstance(message, Login) else message.ack
        assert reply is not None
        wire += reply
        expected.append(Ack(type_id, serial))
    receiver = DeviceReceiver()
    got = []
    for piece in split(wire, cuts):
        got.extend(receiver.feed(piece))
    assert got == expected


def test_device_receiver_keeps_partial_and_rejects_garbage() -> None:
    receiver = DeviceReceiver()
    ack = build_frame(0x12, b"", 3)
    assert receiver.feed(ack[:4]) == []
    assert receiver.feed(ack[4:] + ack[:1]) == [Ack(0x12, 3)]
    assert receiver.feed(ack[1:]) == [Ack(0x12, 3)]
    with pytest.raises(ProtocolError):
        receiver.feed(b"hello")


def test_time_request_needs_a_clock() -> None:
    request = build_frame(0x8A, b"", 9)
    (plain,) = ServerSession().feed(request)
    assert isinstance(plain, Report) and plain.records == () and plain.ack is None
    (timed,) = ServerSession(now=lambda: 1_700_000_000.0).feed(request)
    # 2023-11-14 22:13:20 UTC, serial 0 as Traccar answers
    assert timed.ack == build_frame(0x8A, bytes((23, 11, 14, 22, 13, 20)), 0)


def test_login_time_zone_is_applied() -> None:
    session = ServerSession()
    # terminal id, type code 0x1234, time zone word: +08:00 (800 << 4), east
    body = bytes.fromhex("0" + IMEI) + b"\x12\x34" + (800 << 4).to_bytes(2, "big")
    (login,) = session.feed(build_frame(0x01, body, 1))
    assert login.imei == IMEI and session.tz_offset_s == 8 * 3600
    rec = Record(imei=None, protocol="gt06", fix_time=1_700_000_000.0, valid=True, lat=1.0, lon=2.0,
                 attributes={"mcc": 460, "mnc": 0, "lac": 1, "cell_id": 1})
    (report,) = session.feed(encode_location(rec, 2, 0x12))
    assert report.records[0].fix_time == 1_700_000_000.0 - 8 * 3600
    assert report.records[0].attributes["device_tz_offset_s"] == 8 * 3600
