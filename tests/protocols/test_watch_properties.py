"""Property tests: no input breaks the watch codec; framing is independent of how bytes arrive;
the device encoder and the server decoder are inverses within the protocol's resolution."""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import Login, Report
from protocols.record import Record
from protocols.watch import DEFAULT_PORT, DeviceCodec, ServerSession, frame
from protocols.watch.device import EVENT_BITS
from tests.protocols import codec_properties
from tests.protocols.codec_properties import (
    arbitrary_bytes_test,
    assert_position_near,
    cut_points,
    decoded_however_split,
    examples,
    mutated_frames_test,
    partial_frame_waits,
    positions,
    split,
)

FAST = examples(80)
ID = "8800000015"

LK = b"[SG*8800000015*0002*LK]"
LK_VALUES = b"[SG*8800000015*000B*LK,0,10,100]"
UD = (
    b"[SG*8800000015*0087*UD,220414,134652,A,22.571707,N,113.8613968,E,0.1,0.0,100,7,60,90,1000,50,0000,"
    b"4,1,460,0,9360,4082,131,9360,4092,148,9360,4091,143,9360,4153,141]"
)
UD_EXACT = frame(ID, UD[20:-1], "SG")
AL_INDEXED = (
    b"[ZJ*8800000015*0075*0064*AL,040418,052156,A,22.536207,N,113.938673,E,0,0,0,5,100,82,1000,50,00100000,"
    b"1,255,460,0,9340,3663,35]"
)
VOICE = frame(ID, b"TK,#!AMR" + bytes(range(0x70, 0x80)) + b"[],*\xff", "SG")
WIFI_NAME = frame(
    ID,
    b"UD,120623,140020,A,48.949273,N,4.3783060,E,18.56,43.8,0.0,12,100,76,0,0,00000000,0,2,"
    b"[LG A/C],66:a1:ed:e1:e7:25,-82,x,66:a1:ed:e1:e7:26,-80,15.0",
    "3G",
)

STREAMS = {
    "exact": LK + UD_EXACT + VOICE + b"\r\n" + AL_INDEXED + LK_VALUES,
    "length_short": UD + LK_VALUES + UD + LK,  # 0x87 says 135, the content is 143
    "length_long": UD.replace(b"*0087*", b"*0099*") + LK + UD_EXACT,
    "brackets_in_content": WIFI_NAME + UD_EXACT + WIFI_NAME.replace(b"*00", b"*01", 1),
}


def alarm_answer(reply: bytes | None) -> bool:
    """Only a damaged alarm is answered (so the watch stops repeating it)."""
    return reply is None or reply.endswith(b"*AL]")


feed_all = partial(codec_properties.feed_all, replies=alarm_answer)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_whole_bytewise_and_every_split_agree(name: str) -> None:
    reports = [m for m in decoded_however_split(ServerSession, STREAMS[name]) if isinstance(m, Report)]
    assert len(reports) >= 3 and sum(len(m.records) for m in reports) >= 2


def test_binary_content_is_skipped_by_length() -> None:
    messages, errors = feed_all(ServerSession(), [VOICE + LK])
    assert not errors
    voice, link = [m for m in messages if isinstance(m, Report)]
    assert voice.kind == "tk" and voice.records[0].attributes["audio_bytes"] == len(b"#!AMR") + 16 + 5
    assert link.ack == b"[SG*8800000015*0002*LK]"


def test_voice_in_parts() -> None:
    parts = [frame(ID, b"JXTK,0,v1,%d,3," % i + b"]" * 10, "3G") for i in (1, 2, 3)]
    session = ServerSession()
    reports = [m for m in session.feed(b"".join(parts)) if isinstance(m, Report)]
    assert [len(r.records) for r in reports] == [0, 0, 1]
    assert reports[-1].records[0].attributes["audio_bytes"] == 30
    assert {r.ack for r in reports} == {b"[3G*8800000015*0007*JXTKR,1]"}


def test_trailing_partial_frame_is_kept() -> None:
    messages, (report,) = partial_frame_waits(ServerSession(), LK, UD_EXACT, 40)
    assert [type(m) for m in messages] == [Login, Report]
    assert report.kind == "ud" and report.records[0].lat == pytest.approx(22.571707)


def test_garbage_between_frames() -> None:
    messages, errors = feed_all(ServerSession(), [LK + b"noise" + LK_VALUES])
    assert [m.kind for m in messages if isinstance(m, Report)] == ["lk", "lk"]
    assert len(errors) == 1 and errors[0].excerpt == b"noise" and not errors[0].close


def test_oversized_frame_is_refused() -> None:
    session = ServerSession(max_frame=1024)
    messages, errors = feed_all(session, [b"[3G*8800000015*FFFF*TK," + b"x" * 100 + LK])
    assert errors and [m.kind for m in messages if isinstance(m, Report)] == ["lk"]


def test_text_frame_that_never_closes_is_dropped() -> None:
    """Wrong length and an unmatched '[': the fallback gives up after the text limit."""
    messages, errors = feed_all(ServerSession(), [b"[3G*8800000015*0005*UD,[" + b"x" * 5000 + LK])
    assert errors and not any(e.close for e in errors)
    assert [m.kind for m in messages if isinstance(m, Report)] == ["lk"]


def test_bad_escape_in_binary_content() -> None:
    messages, errors = feed_all(ServerSession(), [b"[3G*8800000015*0005*TK,}\x09x]" + LK])
    assert errors and [m.kind for m in messages if isinstance(m, Report)] == ["lk"]


# --- robustness ---------------------------------------------------------------------------


test_arbitrary_bytes = arbitrary_bytes_test(lambda: ServerSession(max_frame=512), max_size=400, budget=FAST,
                                            replies=alarm_answer)
test_mutated_frames = mutated_frames_test(ServerSession, [LK, LK_VALUES, UD, UD_EXACT, AL_INDEXED, VOICE, WIFI_NAME],
                                          then=LK, max_edits=4, max_cuts=5, budget=FAST, replies=alarm_answer)


@FAST
@given(
    kind=st.sampled_from(
        ["UD", "UD2", "AL", "WT", "LK", "heart", "bphrt", "oxygen", "btemp2", "TEMP", "JXTK", "img", "TK"]
    ),
    values=st.lists(st.text(alphabet="0123456789ABCDEFNSEWAV.-:", max_size=10), max_size=24),
)
def test_random_content(kind: str, values: list[str]) -> None:
    messages, _ = feed_all(ServerSession(), [frame(ID, ",".join([kind, *values]))])
    assert all(isinstance(m, (Login, Report)) for m in messages)


# --- round trips --------------------------------------------------------------------------

coords = positions(off_zero=1e-5)
maybe = st.one_of


@st.composite
def records(draw: st.DrawFn) -> Record:
    lat, lon = draw(coords)
    cells = st.tuples(st.integers(200, 799), st.integers(0, 99), st.integers(1, 65535), st.integers(1, 2**28))
    cell = draw(maybe(st.none(), cells))
    attributes: dict[str, object] = {}
    if cell:
        attributes.update(mcc=cell[0], mnc=cell[1], lac=cell[2], cell_id=cell[3])
    battery = draw(maybe(st.none(), st.integers(0, 100)))
    if battery is not None:
        attributes["battery_pct"] = battery
    return Record(
        imei=ID,
        protocol="watch",
        fix_time=float(draw(st.integers(946_684_800, 4_102_444_799))),
        valid=draw(st.booleans()),
        lat=lat,
        lon=lon,
        altitude_m=draw(maybe(st.none(), st.integers(-400, 9000).map(float))),
        speed_kmh=draw(maybe(st.none(), st.integers(0, 30000).map(lambda v: v / 100))),
        course_deg=draw(maybe(st.none(), st.integers(0, 3599).map(lambda v: v / 10))),
        satellites=draw(maybe(st.none(), st.integers(0, 40))),
        gsm_signal_pct=draw(maybe(st.none(), st.integers(0, 100))),
        motion=draw(st.sampled_from([None, True])),
        event=draw(st.sampled_from([None, *sorted(EVENT_BITS)])),
        attributes=attributes,
    )


@FAST
@given(recs=st.lists(records(), min_size=1, max_size=4), cuts=cut_points(4))
def test_device_codec_round_trip(recs: list[Record], cuts: list[int]) -> None:
    codec = DeviceCodec(ID)
    assert codec.acks_positions is False and DEFAULT_PORT == 5093
    session = ServerSession()
    messages, errors = feed_all(session, split(codec.login() + codec.encode(recs), cuts))
    assert not errors
    assert messages[0] == Login(ID, None, None)
    link, *reports = messages[1:]
    assert link.ack == b"[3G*8800000015*0002*LK]" and codec.acks(link.ack) == 0
    got = [r for m in reports for r in m.records]
    assert len(got) == len(recs)
    for sent, rec, report in zip(recs, got, reports, strict=True):
        assert report.ack == (b"[3G*8800000015*0002*AL]" if sent.event else None)
        assert rec.fix_time == sent.fix_time and rec.valid is sent.valid
        assert_position_near(rec, sent, 5e-7)
        assert rec.speed_kmh == sent.speed_kmh and rec.course_deg == sent.course_deg
        assert rec.altitude_m == sent.altitude_m and rec.satellites == sent.satellites
        assert rec.gsm_signal_pct == sent.gsm_signal_pct and rec.motion is sent.motion
        assert rec.event == sent.event
        assert rec.attributes.get("battery_pct") == sent.attributes.get("battery_pct")
        for key in ("mcc", "mnc", "lac", "cell_id"):
            assert rec.attributes.get(key) == sent.attributes.get(key)
