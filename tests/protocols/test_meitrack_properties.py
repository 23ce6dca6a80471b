"""Property tests: no input breaks the Meitrack codec; framing is independent of how bytes arrive;
device encoders and the server decoder are inverses within the protocol's resolution."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import Login, Report
from protocols.meitrack import DEFAULT_PORT, DeviceCodec, ServerSession, ccc_ack, encode_aaa, encode_ccc
from protocols.meitrack.fields import EVENT_CODES, checksum
from protocols.record import Record, operator_code
from tests.protocols.codec_properties import (
    acks_in_pieces,
    arbitrary_bytes_test,
    assert_position_near,
    cut_points,
    decoded_however_split,
    examples,
    feed_all,
    mutated_frames_test,
    partial_frame_waits,
    positions,
    split,
    survives,
)

FAST = examples(80)
IMEI = "013227004985762"


def sealed(text: bytes) -> bytes:
    """A text frame with a correct length and checksum."""
    flag, rest = text[:3], text[text.index(b",") :]
    body = b"%s%d%s*" % (flag, len(rest) + 5, rest)
    return body + checksum(body) + b"\r\n"


AAA = sealed(
    b"$$K,013227004985762,AAA,35,28.618005,-81.246783,131101213828,A,9,22,0,209,1.1,23,80974,1187923,"
    b"310|260|2A13|634E,0000,0000|0000|0000|09DA|0B34,,"
)
AAA_BAD_SUM = AAA[:-4] + (b"00" if AAA[-4:-2] != b"00" else b"11") + b"\r\n"
AAA_BAD_LENGTH = AAA.replace(b"$$K1", b"$$K9", 1)
D82 = sealed(b"$$u,013227004985762,D82,0")
AAC = sealed(b"$$z,013227004985762,AAC,1")
CCC = bytes.fromhex(
    "24245838362c3336393830303031343039303032312c4343432c020134000100000023381f91ffe354b806c5e3121b0009130000"
    "000000000000d33801007cbf0200fe0101000435feeb02000500a3010000000000002a62650d0a"
).replace(b"369800014090021", IMEI.encode())
CCC = CCC[:-4] + checksum(CCC[:-4]) + b"\r\n"
CCE = sealed(
    b"$$A,013227004985762,CCE,"
    + bytes.fromhex(
        "000000000100500013000601250500060007111b00470206080000093e000ae7030b0000199e011a850306028d7a57010"
        "3f35acc0604f9d06c2b0cb92e00000d3fa40c00250ca2b900010e0ccc010000b627631300000000"
    )
)

STREAMS = {
    "text": AAA + D82 + AAA_BAD_SUM + AAC + AAA,
    "binary": CCC + CCE + AAA + CCC,
    "wrong_length": AAA_BAD_LENGTH + AAA + AAA_BAD_LENGTH,
}


def test_sample_frames_are_sound() -> None:
    (login, report), errors = feed_all(ServerSession(), [AAA])
    assert not errors and login == Login(IMEI, None, None) and report.ack is None
    assert report.records[0].lat == 28.618005 and "checksum_ok" not in report.records[0].attributes
    (_, bad), _ = feed_all(ServerSession(), [AAA_BAD_SUM])
    assert bad.records[0].attributes["checksum_ok"] is False
    (_, ccc), _ = feed_all(ServerSession(), [CCC])
    assert ccc.ack == ccc_ack("X", IMEI, 1) and ccc.records[0].fix_time == 1_400_907_589.0
    (_, cce), _ = feed_all(ServerSession(), [CCE])
    assert cce.ack is None and len(cce.records) == 1 and cce.records[0].attributes["lock"] is True


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_whole_bytewise_and_every_split_agree(name: str) -> None:
    whole = decoded_however_split(ServerSession, STREAMS[name])
    assert sum(len(m.records) for m in whole if isinstance(m, Report)) >= 3


def test_trailing_partial_frame_is_kept() -> None:
    messages, (report,) = partial_frame_waits(ServerSession(), AAA, CCC, 30)
    assert [type(m) for m in messages] == [Login, Report]
    assert report.kind == "ccc"


def test_garbage_and_cut_frames() -> None:
    messages, errors = feed_all(ServerSession(), [b"noise" + AAA + AAA[:50] + AAA])
    assert [m.kind for m in messages if isinstance(m, Report)] == ["aaa", "aaa"]
    assert len(errors) == 2 and errors[0].excerpt == b"noise" and not any(e.close for e in errors)


def test_binary_frame_with_wrong_length_is_dropped() -> None:
    broken = CCC.replace(b"$$X86", b"$$X84", 1)
    messages, errors = feed_all(ServerSession(), [broken + AAA])
    assert errors and [m.kind for m in messages if isinstance(m, Report)] == ["aaa"]


def test_oversized_frames_are_refused() -> None:
    messages, errors = feed_all(ServerSession(max_frame=512), [b"$$A9999,013227004985762,CCE," + b"\x00" * 600 + AAA])
    assert errors and [m.kind for m in messages if isinstance(m, Report)] == ["aaa"]
    session = ServerSession(max_frame=512)
    _, errors = feed_all(session, [b"$$A99,013227004985762,AAA," + b"1," * 400])
    assert errors and session.buffered < 512


# --- robustness ---------------------------------------------------------------------------


test_arbitrary_bytes = arbitrary_bytes_test(lambda: ServerSession(max_frame=512), max_size=400, budget=FAST)
test_mutated_frames = mutated_frames_test(ServerSession, [AAA, AAA_BAD_SUM, D82, AAC, CCC, CCE], then=AAA,
                                          max_edits=4, max_cuts=5, budget=FAST)


@FAST
@given(kind=st.sampled_from([b"CCC", b"CCE"]), body=st.binary(max_size=300))
def test_well_framed_random_binary(kind: bytes, body: bytes) -> None:
    """Valid frames with random binary content: a message or a ProtocolError, never a crash."""
    rest = b",%s,%s,%s*" % (IMEI.encode(), kind, body)
    head = b"$$Q%d" % (len(rest) + 4) + rest
    survives(ServerSession, [head + checksum(head) + b"\r\n"])


# --- round trips --------------------------------------------------------------------------

coords = positions(off_zero=1e-5)


@st.composite
def records(draw: st.DrawFn) -> Record:
    lat, lon = draw(coords)
    mcc, mnc = draw(st.integers(200, 799)), draw(st.integers(0, 99))
    return Record(
        imei=IMEI,
        protocol="meitrack",
        fix_time=float(draw(st.integers(946_684_800, 4_102_444_799))),
        valid=draw(st.booleans()),
        lat=lat,
        lon=lon,
        altitude_m=float(draw(st.integers(0, 9000))),
        speed_kmh=float(draw(st.integers(0, 400))),
        course_deg=float(draw(st.integers(0, 359))),
        satellites=draw(st.integers(0, 40)),
        hdop=draw(st.integers(0, 999)) / 10,
        gsm_signal_pct=draw(st.one_of(st.none(), st.integers(0, 100))),
        odometer_m=float(draw(st.integers(0, 2**32 - 1))),
        battery_voltage_v=draw(st.integers(0, 500)) / 100,
        ext_voltage_v=draw(st.integers(0, 3600)) / 100,
        operator=operator_code(mcc, mnc),
        event=draw(st.sampled_from([None, *sorted(EVENT_CODES)])),
        attributes={"mcc": mcc, "mnc": mnc, "lac": draw(st.integers(0, 65535)), "cell_id": draw(st.integers(0, 65535))},
    )


def pct_after_csq(pct: int | None) -> int | None:
    return None if pct is None else round(round(pct * 31 / 100) * 100 / 31)


def assert_same(rec: Record, sent: Record) -> None:
    assert rec.imei == IMEI and rec.fix_time == sent.fix_time and rec.valid is sent.valid
    assert_position_near(rec, sent, 5e-7)
    assert (rec.speed_kmh, rec.course_deg, rec.altitude_m, rec.satellites) == (
        sent.speed_kmh, sent.course_deg, sent.altitude_m, sent.satellites)
    assert rec.hdop == pytest.approx(sent.hdop) and rec.odometer_m == sent.odometer_m
    assert rec.gsm_signal_pct == pct_after_csq(sent.gsm_signal_pct)
    assert rec.battery_voltage_v == pytest.approx(sent.battery_voltage_v)
    assert rec.ext_voltage_v == pytest.approx(sent.ext_voltage_v)
    assert rec.event == sent.event and rec.operator == sent.operator
    for key in ("mcc", "mnc", "lac", "cell_id"):
        assert rec.attributes[key] == sent.attributes[key]


@FAST
@given(batches=st.lists(st.lists(records(), min_size=1, max_size=5), min_size=1, max_size=3),
       cuts=cut_points(6))
def test_ccc_round_trip_and_acks(batches: list[list[Record]], cuts: list[int]) -> None:
    codec = DeviceCodec(IMEI)
    assert codec.login() == b"" and codec.acks_positions is True and DEFAULT_PORT == 5020
    session = ServerSession()
    wire = b"".join(codec.encode(batch) for batch in batches)
    messages, errors = feed_all(session, split(wire, cuts))
    assert not errors and messages[0] == Login(IMEI, None, None)
    reports = messages[1:]
    assert [len(r.records) for r in reports] == [len(b) for b in batches]
    for batch, report in zip(batches, reports, strict=True):
        for sent, rec in zip(batch, report.records, strict=True):
            assert_same(rec, sent)
    answers = b"".join(r.ack for r in reports)
    assert acks_in_pieces(codec, answers, cuts) == len(batches)


@FAST
@given(rec=records())
def test_aaa_round_trip(rec: Record) -> None:
    codec = DeviceCodec(IMEI, binary=False)
    assert codec.acks_positions is False
    (_, report) = ServerSession().feed(codec.encode([rec]))
    assert report.ack is None
    assert_same(report.records[0], rec)
    assert encode_aaa(IMEI, rec, "B")[:3] == b"$$B"


def test_acks_ignore_other_answers() -> None:
    codec = DeviceCodec(IMEI)
    aac = b"@@z27,013227004985762,AAC,1*0B\r\n"
    assert codec.acks(b"junk" + aac + ccc_ack("A", IMEI, 3)[:10]) == 0
    assert codec.acks(ccc_ack("A", IMEI, 3)[10:]) == 1
    assert encode_ccc(IMEI, [])[-5:-4] == b"*"
