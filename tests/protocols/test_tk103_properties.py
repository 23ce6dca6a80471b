"""Property tests: no input breaks the TK103 codec; framing is independent of how bytes arrive;
device encoder and server decoder are inverses within the protocol's resolution."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import Login, Message, Report
from protocols.record import Record
from protocols.tk103 import DeviceCodec, ServerSession, encode_position
from protocols.tk103.fields import BO01_ALARMS
from tests.protocols.codec_properties import (
    arbitrary_bytes_test,
    arrival_test,
    bytewise,
    cut_points,
    decode_clean,
    examples,
    mutated_frames_test,
    partial_frame_waits,
    split,
    survives,
    two_pieces,
)

DEVICE = "088047365460"
FAST = examples(80)

STREAM = (
    b"(088047365460BP00088047365460HSO)"
    b"(088047365460BP05354188047365460150929A3258.1754S02755.4323E009.4193927301.9000000000L00000000)\r\n"
    b"(088047365460BR00151024A2555.3531S02855.3329E004.7055148276.1701000000L00009AA3)"
    b"(088047365460BO012110925A1234.5678N01234.5678W000.0025948118.7200000000L000024DE)"
    b"(088047365460BZ00,740,000,3bf7,0425,3bf7,0bf5)"
    b"(088047365460BQ86,0,05550c21b10d1d0f431008bd114c0ea5078400010007a100423932,161117005322,01000001)"
    b"(088047365460,ZC03,191117,234207,$Notice: (1) Device version: 1.0$)\n"
)


@pytest.fixture(scope="module")
def whole() -> list[Message]:
    messages = decode_clean(ServerSession(), [STREAM])
    kinds = [m.kind if isinstance(m, Report) else type(m).__name__ for m in messages]
    assert kinds == ["Login", "position", "position", "position", "cells",
                     "unsupported_BQ86", "CommandResponse"]
    return messages


test_byte_by_byte = arrival_test(ServerSession, STREAM, bytewise)
test_split_at_every_offset = arrival_test(ServerSession, STREAM, two_pieces)


def test_trailing_bytes_are_kept(whole: list[Message]) -> None:
    extra = b"(088047365460BR00151024A2555.3531S02855.3329E004.7055148276.1701000000L00009AA3)"
    first, (report,) = partial_frame_waits(ServerSession(), STREAM, extra, 30)
    assert first == whole
    assert isinstance(report, Report) and len(report.records) == 1


test_arbitrary_bytes = arbitrary_bytes_test(lambda: ServerSession(max_frame=256), max_size=300, budget=FAST)


@FAST
@given(text=st.text(alphabet="(),$0123456789ABNSEWLVZCDBPRO.:{}\r\n ", max_size=200), cuts=cut_points(4))
def test_frame_like_text(text: str, cuts: list[int]) -> None:
    survives(lambda: ServerSession(max_frame=128), split(text.encode(), cuts))


test_mutated_stream = mutated_frames_test(ServerSession, [STREAM], max_edits=6, max_cuts=4, budget=FAST)


# --- round trips ---------------------------------------------------------------------------

coords = st.tuples(st.floats(-89.99, 89.99), st.floats(-179.99, 179.99)).filter(lambda p: min(map(abs, p)) > 1e-3)


@st.composite
def records(draw: st.DrawFn) -> Record:
    lat, lon = draw(coords)
    with_status = draw(st.booleans())
    return Record(
        imei=DEVICE,
        protocol="tk103",
        fix_time=float(draw(st.integers(946_684_800, 4_102_444_799))),
        valid=draw(st.booleans()),
        lat=lat,
        lon=lon,
        speed_kmh=draw(st.integers(0, 9999)) / 10,
        course_deg=draw(st.integers(0, 35999)) / 100,
        ignition=draw(st.booleans()) if with_status else None,
        odometer_m=float(draw(st.integers(0, 2**32 - 1))) if with_status else None,
        event=draw(st.one_of(st.none(), st.sampled_from(sorted(BO01_ALARMS.values())))),
    )


def decode(data: bytes) -> list[Message]:
    messages = decode_clean(ServerSession(), [DeviceCodec(DEVICE).login() + data])
    assert messages[0] == Login(DEVICE, accept=b"(088047365460AP05)", reject=None)
    return messages[1:]


@FAST
@given(rec=records())
def test_position_round_trip(rec: Record) -> None:
    (message,) = decode(DeviceCodec(DEVICE).encode([rec]))
    assert isinstance(message, Report)
    (got,) = message.records
    assert got.imei == DEVICE and got.protocol == "tk103"
    assert got.fix_time == rec.fix_time
    assert got.valid is rec.valid
    assert got.lat == pytest.approx(rec.lat, abs=1e-6) and got.lon == pytest.approx(rec.lon, abs=1e-6)
    assert got.speed_kmh == pytest.approx(rec.speed_kmh) and got.course_deg == pytest.approx(rec.course_deg)
    assert got.ignition is rec.ignition
    assert got.odometer_m == rec.odometer_m
    assert got.event == rec.event
    if rec.event is None:
        assert message.ack is None
    else:
        digit = {v: k for k, v in BO01_ALARMS.items()}[rec.event]
        assert message.ack == f"(088047365460AS01{digit})".encode()


def test_encode_position_is_the_documented_layout() -> None:
    rec = Record(imei=DEVICE, protocol="tk103", fix_time=1445665908.0, valid=True, lat=-25.922551666666667,
                 lon=28.922215, speed_kmh=4.7, course_deg=276.17, ignition=True, odometer_m=39587.0)
    assert encode_position(DEVICE, rec) == (
        b"(088047365460BR00151024A2555.3531S02855.3329E004.7055148276.1701000000L00009AA3)"
    )
