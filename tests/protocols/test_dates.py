"""One date helper for every codec: impossible dates are refused, and a record that carries one is kept
with ``fix_time`` None, ``valid`` False, the date as sent in ``raw_fix_time`` and a reason."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import CommandResponse, Message, ProtocolError, Report
from protocols.dates import ImpossibleDate, utc_seconds, written
from protocols.record import INVALID_REASON, RAW_FIX_TIME, Record, RecordFields

T = 1767268800.0  # 2026-01-01 12:00:00 UTC
IMEI = "356307040000019"


def fix(**values: object) -> Record:
    base: dict[str, object] = dict(imei=IMEI, protocol="x", fix_time=T, valid=True, lat=52.2297, lon=21.0122,
                                   speed_kmh=42.0, course_deg=90.0, satellites=9)
    base.update(values)
    return Record(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("parts, why", [
    ((2026, 13, 1, 12, 0, 0), "month 13"),
    ((2026, 0, 1, 12, 0, 0), "month 0"),
    ((2026, 1, 32, 12, 0, 0), "day 32 of month 1"),
    ((2026, 1, 0, 12, 0, 0), "day 0"),
    ((2026, 2, 30, 12, 0, 0), "day 30 of month 2"),
    ((2026, 2, 29, 12, 0, 0), "day 29 of month 2"),
    ((1900, 2, 29, 12, 0, 0), "day 29 of month 2"),
    ((2026, 4, 31, 12, 0, 0), "day 31 of month 4"),
    ((2026, 1, 1, 24, 0, 0), "hour 24"),
    ((2026, 1, 1, -1, 0, 0), "hour -1"),
    ((2026, 1, 1, 12, 60, 0), "minute 60"),
    ((2026, 1, 1, 12, 0, 61), "second 61"),
    ((2026, 1, 1, 12, 0, -1), "second -1"),
    ((0, 1, 1, 0, 0, 0), "year 0"),
    ((10000, 1, 1, 0, 0, 0), "year 10000"),
])
def test_impossible_dates_are_refused(parts: tuple[int, ...], why: str) -> None:
    with pytest.raises(ImpossibleDate) as caught:
        utc_seconds(*parts)
    assert caught.value.why == why
    assert caught.value.raw == written(*parts)
    assert isinstance(caught.value, ValueError)


def test_impossible_parts_are_written_as_sent_not_normalised() -> None:
    # what calendar.timegm does with them: 31 April is 1 May, hour 24 the next day
    assert calendar.timegm((2026, 4, 31, 12, 0, 0, 0, 0, 0)) == calendar.timegm((2026, 5, 1, 12, 0, 0, 0, 0, 0))
    assert calendar.timegm((2026, 1, 1, 24, 0, 0, 0, 0, 0)) == calendar.timegm((2026, 1, 2, 0, 0, 0, 0, 0, 0))
    with pytest.raises(ImpossibleDate, match=r"2026-04-31 12:00:00 is not a date \(day 31 of month 4\)"):
        utc_seconds(2026, 4, 31, 12, 0, 0)
    with pytest.raises(ImpossibleDate, match=r"2026-13-01 12:00:00 is not a date \(month 13\)"):
        utc_seconds(2026, 13, 1, 12, 0, 0)


@pytest.mark.parametrize("year", [2000, 2024, 2028, 2400])
def test_leap_days_are_dates(year: int) -> None:
    assert utc_seconds(year, 2, 29) == datetime(year, 2, 29, tzinfo=UTC).timestamp()


def test_a_leap_second_is_the_next_minute_and_fractions_are_kept() -> None:
    assert utc_seconds(2016, 12, 31, 23, 59, 60) == utc_seconds(2017, 1, 1)
    assert utc_seconds(2026, 1, 1, 12, 0, 1.25) == T + 1.25
    assert written(2026, 1, 1, 12, 0, 1.25) == "2026-01-01 12:00:01.250"


@given(st.integers(1, 9999), st.integers(-1, 14), st.integers(-1, 33), st.integers(-1, 25), st.integers(-1, 61),
       st.integers(-1, 61))
def test_every_date_is_exactly_what_datetime_says_or_refused(y: int, mo: int, d: int, h: int, mi: int, s: int) -> None:
    try:
        expected: float | None = datetime(y, mo, d, h, mi, min(s, 59), tzinfo=UTC).timestamp() + max(s - 59, 0)
    except ValueError:
        expected = None
    if s == 60 and expected is not None:  # the leap second: datetime has none, POSIX counts it on
        assert utc_seconds(y, mo, d, h, mi, s) == expected
        return
    if expected is None or s > 59:
        with pytest.raises(ImpossibleDate):
            utc_seconds(y, mo, d, h, mi, s)
    else:
        assert utc_seconds(y, mo, d, h, mi, s) == expected


class _Fields(RecordFields):
    __slots__ = ()
    protocol = "test"


def test_record_fields_keep_an_impossible_time_raw_and_the_fix_invalid() -> None:
    rec = _Fields()
    rec.a[INVALID_REASON] = "already odd"
    assert rec.set_time_parts(2026, 13, 1, 12, 0, 0, offset_s=3600) is None
    rec.f["valid"] = True  # a decoder reading the validity flag afterwards cannot undo it
    built = rec.build(IMEI)
    assert (built.fix_time, built.valid) == (None, False)
    assert built.attributes[RAW_FIX_TIME] == "2026-13-01 12:00:00"
    assert built.attributes[INVALID_REASON] == "already odd; fix time 2026-13-01 12:00:00 is not a date"


def test_record_fields_time_parts_offset_zero_date_and_device_time() -> None:
    rec = _Fields()
    assert rec.set_time_parts(2026, 1, 1, 20, 0, 0, offset_s=8 * 3600) == T
    assert rec.build(IMEI).fix_time == T
    zero = _Fields()
    zero.f["valid"] = False
    assert zero.set_time_parts(2000, 0, 0, 0, 0, 0) is None  # a device without a clock yet: unknown
    assert zero.build(IMEI).attributes == {} and zero.build(IMEI).fix_time is None
    cells = _Fields()
    cells.set_time_parts(2026, 2, 30, key="device_time")
    built = cells.build(IMEI)
    assert built.valid is None and built.attributes == {
        "raw_device_time": "2026-02-30 00:00:00", INVALID_REASON: "device time 2026-02-30 00:00:00 is not a date"}


# --- every codec, an impossible date in a hand-built frame ------------------------------------------------


def run(session: object, *chunks: bytes) -> tuple[list[Message], list[ProtocolError]]:
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (*chunks, b"", b""):
        try:
            messages.extend(session.feed(chunk))  # type: ignore[attr-defined]
        except ProtocolError as error:
            errors.append(error)
    return messages, errors


def gt06() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.gt06 import ServerSession
    from protocols.gt06.device import encode_location, encode_login
    from protocols.gt06.framing import build_frame

    content = bytearray(encode_location(fix(), serial=2)[4:-6])
    content[1] = 13  # YY MM DD...: month 13
    return run(ServerSession(), encode_login(IMEI, 1), build_frame(0x22, bytes(content), 2))


def h02_text() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.h02 import ServerSession, encode_v1

    sentence = encode_v1(IMEI, fix())
    assert b",010126," in sentence
    return run(ServerSession(), sentence.replace(b",010126,", b",320126,"))  # 32 January


def h02_binary() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.h02 import ServerSession, encode_binary

    frame = bytearray(encode_binary("4106000826", fix()))
    assert frame[9:12] == bytes.fromhex("010126")
    frame[10] = 0x13  # ddmmyy: month 13
    return run(ServerSession(), bytes(frame))


def gps103() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.gps103 import DeviceCodec, ServerSession

    codec = DeviceCodec(IMEI)
    sentence = codec.encode([fix()])
    assert b",2601011200," in sentence
    return run(ServerSession(), codec.login(), sentence.replace(b",2601011200,", b",2602301200,"))  # 30 February


def tk103() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.tk103 import DeviceCodec, ServerSession

    codec = DeviceCodec(IMEI)
    frame = codec.encode([fix()])
    assert b"BR00260101A" in frame
    return run(ServerSession(), codec.login(), frame.replace(b"BR00260101A", b"BR00261301A"))


def jt808() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.jt808 import ServerSession
    from protocols.jt808.device import Terminal, location_body

    body = bytearray(location_body(fix()))
    assert body[22:28] == bytes.fromhex("260101200000")  # Beijing time
    body[23] = 0x13
    return run(ServerSession(), Terminal.for_id(IMEI).frame(0x0200, 1, bytes(body)))


def meitrack() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.meitrack import ServerSession
    from protocols.meitrack.device import _packet, encode_aaa

    packet = encode_aaa(IMEI, fix())
    data = packet[packet.index(b",AAA,") + 5 : packet.rindex(b"*")]
    assert b",260101120000," in data
    hour_24 = data.replace(b",260101120000,", b",260101240000,")
    return run(ServerSession(), _packet("A", IMEI, "AAA", hour_24))


def watch() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.watch import ServerSession
    from protocols.watch.device import frame, position_text

    text = position_text(fix())
    assert text.startswith("010126,120000,")
    return run(ServerSession(), frame(IMEI, "UD," + text.replace("010126,120000,", "010126,126000,", 1)))  # minute 60


def gl200() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.gl200 import DeviceCodec, ServerSession

    sentence = DeviceCodec(IMEI).encode([fix()])
    assert sentence.count(b",20260101120000,") == 2  # the fix time, then the send time
    return run(ServerSession(), sentence.replace(b",20260101120000,", b",20260431120000,", 1))  # 31 April


def osmand() -> tuple[list[Message], list[ProtocolError]]:
    from protocols.osmand import ServerSession

    request = f"GET /?id={IMEI}&timestamp=2026-13-01%2012:00:00&lat=52.2&lon=21.0 HTTP/1.1\r\nHost: x\r\n\r\n"
    return run(ServerSession(), request.encode())


CODECS: dict[str, tuple[Callable[[], tuple[list[Message], list[ProtocolError]]], str]] = {
    "gt06": (gt06, "2026-13-01 12:00:00"),
    "h02 text": (h02_text, "2026-01-32 12:00:00"),
    "h02 binary": (h02_binary, "2026-13-01 12:00:00"),
    "gps103": (gps103, "2026-02-30 12:00:00"),
    "tk103": (tk103, "2026-13-01 12:00:00"),
    "jt808": (jt808, "2026-13-01 20:00:00"),
    "meitrack": (meitrack, "2026-01-01 24:00:00"),
    "watch": (watch, "2026-01-01 12:60:00"),
    "gl200": (gl200, "2026-04-31 12:00:00"),
    "osmand": (osmand, "2026-13-01 12:00:00"),
}


@pytest.mark.parametrize("name", sorted(CODECS))
def test_each_codec_keeps_a_record_with_an_impossible_date_raw(name: str) -> None:
    decode, raw = CODECS[name]
    messages, errors = decode()
    assert not errors, errors
    (rec,) = [r for m in messages if isinstance(m, (Report, CommandResponse)) for r in m.records]
    assert (rec.fix_time, rec.valid) == (None, False)
    assert rec.attributes[RAW_FIX_TIME] == raw
    assert rec.attributes[INVALID_REASON] == f"fix time {raw} is not a date"
    assert rec.lat == pytest.approx(52.2297, abs=1e-3) or name == "osmand"  # the rest of the record is kept


def test_ruptela_sends_epoch_seconds_so_every_time_is_a_date() -> None:
    """Ruptela carries a u32 second count, never calendar parts: even 0xFFFFFFFF (2106) is a time the
    pipeline can judge. Its simulator helper refuses impossible dates like every codec."""
    from protocols.ruptela import ServerSession
    from protocols.ruptela.device import DeviceCodec
    from protocols.ruptela.records import utc_seconds as ruptela_utc_seconds

    codec = DeviceCodec(IMEI)
    packet = bytearray(codec.encode([fix()]))
    messages, errors = run(ServerSession(), bytes(packet))
    assert not errors and [r.fix_time for m in messages if isinstance(m, Report) for r in m.records] == [T]
    with pytest.raises(ImpossibleDate):
        ruptela_utc_seconds(2026, 13, 1)
