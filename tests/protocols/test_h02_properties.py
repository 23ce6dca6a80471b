"""Property tests: no input breaks the H02 codec; framing is independent of how bytes arrive;
device encoders and the server decoder are inverses within the protocol's resolution."""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import Login, ProtocolError, Report
from protocols.h02 import DEFAULT_PORT, DeviceCodec, ServerSession, encode_binary, encode_v1
from protocols.h02.fields import KNOTS_TO_KMH
from protocols.record import Record
from tests.protocols.codec_properties import (
    arbitrary_bytes_test,
    assert_position_near,
    decoded_however_split,
    examples,
    feed_all,
    mutated_frames_test,
    partial_frame_waits,
    positions,
)

FAST = examples(80)
IMEI = "353505220903211"

TEXT_V1 = b"*HQ,353505220903211,V1,140817,A,5239.3538,N,01003.5292,E,21.03,312,221013,FFFBFFFF,106,14, 203,1cd#"
NBR = (
    b"*HQ,353505220903211,NBR,210249,260,6,0,7,1014,50675,37,1014,50633,27,1014,17933,18,1014,17231,15,"
    b"1014,50632,12,1014,13211,11,1014,17031,10,281216,FFFFFBFF,2#"
)
SMS = b"*HQ,353505220903211,SMS,ID:1\nAPN:internet\nGSM:26#"
BIN32 = bytes.fromhex("2441060116601245431311165035313006004318210e000000fffffbffff0024")
BIN32_B = bytes.fromhex("2441060116601246431311165035313006004318210e000000fffffbffff0025")
BIN45 = bytes.fromhex("24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f")
BIN45_B = bytes.fromhex("24410600082621532231081504419390060740418306000000fffffbfdff0015060000002c02dc0c0000000020")
LONG_ID = bytes.fromhex("2435248308419329301047591808172627335900074412294E024138FEFFFFFFFF01120064BA73005ECC")
HEARTBEAT = b"*HQ,4106011660,V0#"

STREAM = TEXT_V1 + b"\r\n" + NBR + SMS + TEXT_V1
BINARY_STREAM = HEARTBEAT + BIN32 + BIN32_B + TEXT_V1.replace(b"353505220903211", b"4106011660") + BIN32


@pytest.mark.parametrize(
    ("stream", "kwargs"),
    [(STREAM, {}), (BINARY_STREAM, {}), (BIN45 + BIN45_B + BIN45, {"binary_length": 45}), (LONG_ID * 3, {})],
    ids=["text", "binary32", "binary45", "long_id"],
)
def test_whole_bytewise_and_every_split_agree(stream: bytes, kwargs: dict[str, int]) -> None:
    whole = decoded_however_split(partial(ServerSession, **kwargs), stream)
    assert sum(len(m.records) for m in whole if isinstance(m, Report)) >= 3


def test_trailing_partial_frame_is_kept() -> None:
    messages, (report,) = partial_frame_waits(ServerSession(), TEXT_V1, NBR, 20)
    assert [type(m) for m in messages] == [Login, Report]
    assert report.kind == "nbr" and report.records[0].operator == 26006


def test_binary_length_learnt_from_lookahead_then_bytewise() -> None:
    """Two 45-byte frames in one read teach the length; later frames may then arrive in bytes."""
    session = ServerSession()
    first, _ = feed_all(session, [BIN45 + BIN45_B])
    assert [len(m.records) for m in first if isinstance(m, Report)] == [1, 1]
    later, errors = feed_all(session, [bytes((b,)) for b in BIN45 + TEXT_V1.replace(b"353505220903211", b"4106000826")])
    assert not errors
    assert [m.kind for m in later if isinstance(m, Report)] == ["binary", "v1"]


def test_x_frames_are_kept_raw_for_the_known_device() -> None:
    x_frame = bytes.fromhex("5800009814991024031101175540227006012321670c000095fffffbffff0033")
    messages, errors = feed_all(ServerSession(), [x_frame + HEARTBEAT + x_frame])
    assert len(errors) == 1 and not errors[0].close  # before any device id: whose would it be?
    assert [type(m) for m in messages] == [Login, Report, Report]
    (rec,) = messages[2].records
    assert rec.attributes == {"message_type": "x", "raw_message": x_frame.hex()} and rec.lat is None


def test_frame_and_trailing_garbage() -> None:
    session = ServerSession()
    messages, errors = feed_all(session, [TEXT_V1 + b"garbage!" + TEXT_V1])
    assert [m.kind for m in messages if isinstance(m, Report)] == ["v1", "v1"]
    assert len(errors) == 1 and not errors[0].close and errors[0].excerpt == b"garbage!"


def test_lost_terminator_costs_one_sentence() -> None:
    messages, errors = feed_all(ServerSession(), [TEXT_V1[:-1] + TEXT_V1])
    assert [m.kind for m in messages if isinstance(m, Report)] == ["v1"] and len(errors) == 1


def test_text_without_terminator_is_limited() -> None:
    session = ServerSession(max_frame=256)
    _, errors = feed_all(session, [b"*HQ," + b"1" * 300])
    assert errors and all(not e.close for e in errors)
    assert session.buffered < 256


def test_answers() -> None:
    session = ServerSession(now=lambda: 1_700_000_000.0, ack=True)
    login, beat = session.feed(HEARTBEAT)
    assert login == Login("4106011660", accept=None, reject=None)
    assert beat.ack == b"*HQ,4106011660,V0#" and beat.records == ()
    (v1,) = session.feed(TEXT_V1.replace(b"353505220903211", b"4106011660"))
    assert v1.ack == b"*HQ,4106011660,V4,V1,20231114221320#"
    (binary,) = session.feed(BIN32 + BIN32_B)[:1]
    assert binary.ack == b"*HQ,4106011660,R12,221320#"
    plain = ServerSession()
    assert [m.ack for m in plain.feed(TEXT_V1) if isinstance(m, Report)] == [None]


def test_frame_without_id_needs_an_identified_device() -> None:
    anonymous = b"*HQ,,V1,173212,A,2225.78879,S,02829.19021,E,0.00,0,290418,FFFFFBFF#"
    with pytest.raises(ProtocolError):
        ServerSession().feed(anonymous)
    session = ServerSession()
    session.feed(HEARTBEAT)
    (report,) = session.feed(anonymous)
    assert report.records[0].imei == "4106011660"


def test_new_id_logs_in_again() -> None:
    session = ServerSession()
    session.feed(HEARTBEAT)
    messages = session.feed(TEXT_V1)
    assert messages[0] == Login(IMEI, None, None) and session.imei == IMEI


# --- robustness ---------------------------------------------------------------------------


test_arbitrary_bytes = arbitrary_bytes_test(lambda: ServerSession(max_frame=512), max_size=400, budget=FAST)
test_mutated_frames = mutated_frames_test(ServerSession, [TEXT_V1, NBR, SMS, BIN32, BIN45, LONG_ID, HEARTBEAT],
                                          then=TEXT_V1, max_edits=4, max_cuts=5, budget=FAST)


@FAST
@given(
    fields=st.lists(st.text(alphabet="0123456789ABCDEFNSEWV.-, ", max_size=12), max_size=16),
    kind=st.sampled_from(["V1", "V4", "NBR", "LINK", "V3", "VP1", "HTBT", "V0", "SMS", "XT"]),
)
def test_random_sentences(fields: list[str], kind: str) -> None:
    sentence = f"*HQ,{IMEI},{kind}," + ",".join(fields) + "#"
    messages, _ = feed_all(ServerSession(), [sentence.encode()])
    assert all(isinstance(m, (Login, Report)) for m in messages)


# --- round trips --------------------------------------------------------------------------

coords = positions(off_zero=1e-4)


@st.composite
def records(draw: st.DrawFn) -> Record:
    lat, lon = draw(coords)
    event = draw(st.sampled_from([None, "vibration", "sos", "overspeed", "power_cut"]))
    return Record(
        imei=IMEI,
        protocol="h02",
        fix_time=draw(st.one_of(st.none(), st.integers(946_684_800, 4_102_444_799).map(float))),
        valid=draw(st.booleans()),
        lat=lat,
        lon=lon,
        speed_kmh=draw(st.floats(0, 400)),
        course_deg=draw(st.one_of(st.none(), st.integers(0, 359).map(float))),
        ignition=draw(st.booleans()),
        event=event,
    )


MINUTE = 1 / 600000  # 1/10000 minute of arc


@FAST
@given(recs=st.lists(records(), min_size=1, max_size=4))
def test_device_codec_round_trip(recs: list[Record]) -> None:
    codec = DeviceCodec(IMEI)
    assert codec.login() == b"" and codec.acks_positions is False and DEFAULT_PORT == 5013
    session = ServerSession()
    messages = session.feed(codec.encode(recs))
    assert messages[0] == Login(IMEI, None, None)
    got = [r for m in messages[1:] for r in m.records]
    assert len(got) == len(recs)
    for sent, rec in zip(recs, got, strict=True):
        assert rec.imei == IMEI and rec.protocol == "h02"
        assert rec.fix_time == sent.fix_time and rec.valid is sent.valid
        assert_position_near(rec, sent, MINUTE)
        assert rec.speed_kmh == pytest.approx(sent.speed_kmh, abs=0.005 * KNOTS_TO_KMH + 1e-9)
        assert rec.course_deg == sent.course_deg
        assert rec.ignition is sent.ignition and rec.event == sent.event
    assert codec.acks(b"*HQ,353505220903211,V4,V1,20231114221320#") == 0


@FAST
@given(rec=records(), ident=st.integers(0, 9_999_999_999).map(lambda n: f"{n:010d}"))
def test_binary_round_trip(rec: Record, ident: str) -> None:
    if rec.fix_time is None:
        rec = Record(**{**{f: getattr(rec, f) for f in rec.__dataclass_fields__}, "fix_time": 1_700_000_000.0})
    frame = encode_binary(ident, rec)
    assert len(frame) == 32
    messages = ServerSession().feed(frame)
    (got,) = messages[1].records
    assert messages[0].imei == ident and got.fix_time == rec.fix_time and got.valid is rec.valid
    assert_position_near(got, rec, MINUTE)
    assert got.speed_kmh == pytest.approx(min(round(rec.speed_kmh / KNOTS_TO_KMH), 999) * KNOTS_TO_KMH)
    assert got.event == rec.event and got.ignition is rec.ignition
    assert got.attributes["battery_pct"] == 100


def test_v1_encoding_matches_the_layout() -> None:
    rec = Record(imei=IMEI, protocol="h02", fix_time=1_382_450_897.0, valid=True, lat=52.65589666, lon=10.05882,
                 speed_kmh=21.03 * KNOTS_TO_KMH, course_deg=312.0, ignition=True)
    assert encode_v1(IMEI, rec) == (
        b"*HQ,353505220903211,V1,140817,A,5239.3538,N,01003.5292,E,21.03,312,221013,FFFFFFFF#"
    )
