"""Property tests: no input breaks the GPS103 codec; framing is independent of how bytes arrive;
device encoder and server decoder are inverses within the protocol's resolution."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import Login, Message, Report
from protocols.gps103 import ALARMS, DeviceCodec, ServerSession, encode_sentence
from protocols.gps103.fields import KNOT_KMH
from protocols.record import Record
from tests.protocols.codec_properties import (
    arbitrary_bytes_test,
    arrival_test,
    bytewise,
    decode_clean,
    examples,
    mutated_frames_test,
    partial_frame_waits,
    two_pieces,
)

IMEI = "359710049092324"
FAST = examples(80)

STREAM = (
    b"##,imei:359710049092324,A;"
    b"imei:359710049092324,tracker,151027025958,,F,235957.000,A,2429.5156,N,04424.5828,E,0.01,27.91,,0,0,,,;\r\n"
    b"359710049092324;"
    b"imei:359710049092324,help me,151027030000,13554900601,F,000000.000,A,2429.5156,N,04424.5828,E,0.00,;"
    b"imei:359710049092324,ac alarm,1510270301,,L,,,296a,,51f7,,,;\n"
    b"imei:359710049092324,OBD,151027030200,195874,,370.8,808,066,30.0%,+87,13.0%,02444,14.3,,,,;"
    b"imei:359710049092324,Equipo 1,---,------,----,214734,241018,26,1,-33.42317,-70.61930,067,229,0674,1.00,08,0,1,"
    b"---,*"
)


@pytest.fixture(scope="module")
def whole() -> list[Message]:
    messages = decode_clean(ServerSession(), [STREAM])
    kinds = [m.kind if isinstance(m, Report) else "login" for m in messages]
    assert kinds == ["login", "position", "heartbeat", "position", "cell", "obd", "position"]
    return messages


test_byte_by_byte = arrival_test(ServerSession, STREAM, bytewise)
test_split_at_every_offset = arrival_test(ServerSession, STREAM, two_pieces)


def test_trailing_bytes_are_kept(whole: list[Message]) -> None:
    extra = b"imei:359710049092324,tracker,151027025958,,F,235957.000,A,2429.5156,N,04424.5828,E,0.01,27.91;"
    first, (report,) = partial_frame_waits(ServerSession(), STREAM, extra, 40)
    assert first == whole
    assert isinstance(report, Report) and len(report.records) == 1


test_arbitrary_bytes = arbitrary_bytes_test(lambda: ServerSession(max_frame=256), max_size=300, budget=FAST)
test_mutated_stream = mutated_frames_test(ServerSession, [STREAM], max_edits=6, max_cuts=4, budget=FAST)


# --- round trips ---------------------------------------------------------------------------

coords = st.tuples(st.floats(-89.99, 89.99), st.floats(-179.99, 179.99)).filter(lambda p: min(map(abs, p)) > 1e-4)
EVENTS = sorted(set(ALARMS.values()) - {"ignition_on", "ignition_off"})


@st.composite
def records(draw: st.DrawFn) -> Record:
    lat, lon = draw(coords)
    event = draw(st.one_of(st.none(), st.sampled_from(EVENTS + ["ignition_on", "ignition_off"])))
    ignition = draw(st.one_of(st.none(), st.booleans()))
    if event in ("ignition_on", "ignition_off"):
        ignition = event == "ignition_on"
    attributes = {}
    if draw(st.booleans()):
        attributes["door"] = draw(st.booleans())
        attributes["fuel1_pct"] = draw(st.integers(0, 10000)) / 100
        attributes["temperature_c"] = draw(st.integers(-40, 99))
    return Record(
        imei=IMEI,
        protocol="gps103",
        fix_time=draw(st.integers(946_684_800_000, 4_102_444_799_000)) / 1000,
        valid=draw(st.booleans()),
        lat=lat,
        lon=lon,
        speed_kmh=draw(st.one_of(st.none(), st.floats(0, 400))),
        course_deg=draw(st.one_of(st.none(), st.integers(0, 35999).map(lambda c: c / 100))),
        altitude_m=draw(st.one_of(st.none(), st.integers(-4000, 90000).map(lambda a: a / 10))),
        ignition=ignition,
        event=event,
        attributes=attributes,
    )


def decode(data: bytes) -> list[Record]:
    messages = decode_clean(ServerSession(), [DeviceCodec(IMEI).login() + data])
    assert messages[0] == Login(IMEI, accept=b"LOAD", reject=None)
    return [r for m in messages[1:] for r in m.records]


@FAST
@given(rec=records())
def test_position_round_trip(rec: Record) -> None:
    (got,) = decode(DeviceCodec(IMEI).encode([rec]))
    assert got.imei == IMEI and got.protocol == "gps103"
    assert got.fix_time == pytest.approx(rec.fix_time, abs=5e-4)
    assert got.valid is rec.valid
    assert got.lat == pytest.approx(rec.lat, abs=1e-7) and got.lon == pytest.approx(rec.lon, abs=1e-7)
    if rec.speed_kmh is None:
        assert got.speed_kmh is None
    else:
        assert got.speed_kmh == pytest.approx(rec.speed_kmh, abs=0.0006 * KNOT_KMH)
    assert got.course_deg == rec.course_deg
    assert got.altitude_m == rec.altitude_m
    assert got.ignition is rec.ignition
    assert got.event == rec.event
    for key in ("door", "fuel1_pct", "temperature_c"):
        assert got.attributes.get(key) == rec.attributes.get(key)


@FAST
@given(lac=st.integers(1, 0xFFFF), cid=st.integers(1, 0xFFFFFFF), minute=st.integers(0, 10**7))
def test_cell_only_round_trip(lac: int, cid: int, minute: int) -> None:
    fix = 1_500_000_000.0 + minute * 60
    anchor = Record(imei=IMEI, protocol="gps103", fix_time=fix - 60, valid=True, lat=1.5, lon=2.5)
    cell = Record(imei=IMEI, protocol="gps103", fix_time=fix, event="sos", attributes={"lac": lac, "cell_id": cid})
    first, got = decode(DeviceCodec(IMEI).encode([anchor, cell]))
    assert first.lat == pytest.approx(1.5)
    assert got.lat is None and got.lon is None and got.valid is False
    assert (got.attributes["lac"], got.attributes["cell_id"], got.event) == (lac, cid, "sos")
    assert got.fix_time == fix  # local minute placed with the offset (0) learnt from the GPS sentence


def test_encode_sentence_is_the_documented_layout() -> None:
    rec = Record(imei=IMEI, protocol="gps103", fix_time=1445903997.0, valid=True, lat=24.49193, lon=44.40971,
                 speed_kmh=1.852, course_deg=27.91, ignition=False)
    assert encode_sentence(IMEI, rec) == (
        b"imei:359710049092324,tracker,1510262359,,F,235957.000,A,2429.51580,N,04424.58260,E,1.000,27.91,,0;"
    )
