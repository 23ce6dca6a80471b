"""31 February 2023 in every protocol that carries calendar dates: never 3 March.

``calendar.timegm`` turns 2023-02-31 into 2023-03-03, a plausible time that hides a broken clock or a
corrupt frame. Every codec builds its times through ``protocols.dates`` instead, so the record is
kept with ``fix_time`` None, ``valid`` False, the date as sent in ``raw_fix_time`` and the reason in
``invalid_reason``: what the plausibility layer counts as clock evidence. Each frame is written by
the protocol's own device encoder (the simulators' side) with 28 February, then the day is changed
to 31 in the bytes as the protocol writes it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable

import pytest

from protocols import registry
from protocols.core import CommandResponse, Login, Message, ProtocolError, Report
from protocols.record import INVALID_REASON, RAW_FIX_TIME, Record

IMEI = "356307040000019"
FEB_28 = float(calendar.timegm((2023, 2, 28, 12, 0, 0)))
"""2023-02-28 12:00:00 UTC, the date every encoder writes before the day becomes 31."""
MARCH_3 = float(calendar.timegm((2023, 2, 31, 12, 0, 0)))
"""What a normalising date helper (``calendar.timegm``) makes of 2023-02-31 12:00:00."""

EPOCH_ONLY = {"teltonika": "AVL timestamps are milliseconds since 1970",
              "ruptela": "records carry seconds since 1970"}
"""Protocols whose frames carry a count of seconds, never calendar parts: every value is a time."""

Frames = tuple[str, tuple[bytes, ...], str]
"""Protocol name, the chunks one connection sends, and ``raw_fix_time`` as the device sent it."""


def fix() -> Record:
    return Record(imei=IMEI, protocol="x", fix_time=FEB_28, valid=True, lat=52.2297, lon=21.0122,
                  speed_kmh=42.0, course_deg=90.0, satellites=9)


def replaced(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, (old, data)
    return data.replace(old, new, 1)


def gt06(day: int) -> Frames:
    from protocols.gt06.device import encode_location, encode_login
    from protocols.gt06.framing import build_frame

    content = bytearray(encode_location(fix(), serial=2)[4:-6])
    assert content[:6] == bytes((23, 2, 28, 12, 0, 0))  # YY MM DD hh mm ss, binary
    content[2] = day
    return "gt06", (encode_login(IMEI, 1), build_frame(0x22, bytes(content), 2)), sent(day)


def h02_text(day: int) -> Frames:
    from protocols.h02 import encode_v1

    return "h02", (replaced(encode_v1(IMEI, fix()), b",280223,", b",%d0223," % day),), sent(day)  # ddmmyy


def h02_binary(day: int) -> Frames:
    from protocols.h02 import encode_binary

    frame = bytearray(encode_binary("4106000826", fix()))
    assert frame[9:12] == bytes.fromhex("280223")  # BCD ddmmyy
    frame[9] = int(str(day), 16)
    return "h02", (bytes(frame),), sent(day)


def gps103(day: int) -> Frames:
    from protocols.gps103 import DeviceCodec

    codec = DeviceCodec(IMEI)
    sentence = replaced(codec.encode([fix()]), b",2302281200,", b",2302%d1200," % day)  # yymmddhhmm
    return "gps103", (codec.login(), sentence), sent(day)


def tk103(day: int) -> Frames:
    from protocols.tk103 import DeviceCodec

    codec = DeviceCodec(IMEI)
    frame = replaced(codec.encode([fix()]), b"BR00230228A", b"BR002302%dA" % day)  # yymmdd
    return "tk103", (codec.login(), frame), sent(day)


def jt808(day: int) -> Frames:
    from protocols.jt808.device import Terminal, location_body

    body = bytearray(location_body(fix()))
    assert body[22:28] == bytes.fromhex("230228200000")  # BCD YYMMDDhhmmss, Beijing time
    body[24] = int(str(day), 16)
    return "jt808", (Terminal.for_id(IMEI).frame(0x0200, 1, bytes(body)),), sent(day, "20:00:00")


def meitrack(day: int) -> Frames:
    from protocols.meitrack.device import _packet, encode_aaa

    packet = encode_aaa(IMEI, fix())
    data = replaced(packet[packet.index(b",AAA,") + 5 : packet.rindex(b"*")], b",230228120000,",
                    b",2302%d120000," % day)  # yymmddhhmmss
    return "meitrack", (_packet("A", IMEI, "AAA", data),), sent(day)


def watch(day: int) -> Frames:
    from protocols.watch.device import frame, position_text

    text = position_text(fix())
    assert text.startswith("280223,120000,")  # ddmmyy,hhmmss
    return "watch", (frame(IMEI, "UD," + text.replace("28", str(day), 1)),), sent(day)


def gl200(day: int) -> Frames:
    from protocols.gl200 import DeviceCodec

    sentence = DeviceCodec(IMEI).encode([fix()])
    assert sentence.count(b",20230228120000,") == 2  # the fix time, then the send time
    return "gl200", (replaced(sentence, b",20230228120000,", b",202302%d120000," % day),), sent(day)


def osmand_query(day: int) -> Frames:
    request = (f"GET /?id={IMEI}&timestamp=2023-02-{day}%2012:00:00&lat=52.2297&lon=21.0122 HTTP/1.1\r\n"
               "Host: x\r\n\r\n")
    return "osmand", (request.encode(),), sent(day)


def osmand_json(day: int) -> Frames:
    from protocols.osmand.device import encode_request

    request = replaced(encode_request(IMEI, fix(), style="json"), b'"2023-02-28T12:00:00.000Z"',
                       b'"2023-02-%dT12:00:00.000Z"' % day)
    return "osmand", (request,), f"2023-02-{day}T12:00:00.000Z"


def sent(day: int, clock: str = "12:00:00") -> str:
    """The date as ``raw_fix_time`` keeps it: as sent, in the form ``protocols.dates`` writes."""
    return f"2023-02-{day:02d} {clock}"


FRAMES: dict[str, Callable[[int], Frames]] = {
    "gt06": gt06,
    "h02 text": h02_text,
    "h02 binary": h02_binary,
    "gps103": gps103,
    "tk103": tk103,
    "jt808": jt808,
    "meitrack": meitrack,
    "watch": watch,
    "gl200": gl200,
    "osmand query": osmand_query,
    "osmand json": osmand_json,
}


def run(protocol: str, chunks: tuple[bytes, ...]) -> tuple[list[Message], list[ProtocolError]]:
    """Feed the chunks as the TCP adapter does: each chunk, then ``feed(b"")`` while work is left."""
    session = registry.get(protocol).new_session()
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (*chunks, b"", b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as error:
            errors.append(error)
    return messages, errors


def records(messages: list[Message]) -> list[Record]:
    return [r for m in messages if isinstance(m, (Report, CommandResponse)) for r in m.records]


def test_every_protocol_that_carries_dates_is_tested() -> None:
    dated = {build(28)[0] for build in FRAMES.values()}
    assert dated | set(EPOCH_ONLY) == set(registry.names())
    assert not dated & set(EPOCH_ONLY)


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_28_february_decodes_to_the_time_sent(name: str) -> None:
    """The control: the same frame with the day it was written with."""
    protocol, chunks, _ = FRAMES[name](28)
    messages, errors = run(protocol, chunks)
    assert not errors, errors
    (rec,) = records(messages)
    assert rec.fix_time == FEB_28 and RAW_FIX_TIME not in rec.attributes


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_31_february_is_kept_raw_and_never_becomes_3_march(name: str) -> None:
    protocol, chunks, raw = FRAMES[name](31)
    messages, errors = run(protocol, chunks)
    assert not errors, errors
    assert [m.imei for m in messages if isinstance(m, Login)] in ([IMEI], ["4106000826"])
    (rec,) = records(messages)
    assert rec.fix_time is None  # never MARCH_3, what calendar.timegm makes of it
    assert rec.valid is False
    assert rec.attributes[RAW_FIX_TIME] == raw
    assert rec.attributes[INVALID_REASON] == f"fix time {raw} is not a date"
    assert rec.lat == pytest.approx(52.2297, abs=1e-3)  # the rest of the record is kept
    assert rec.lon == pytest.approx(21.0122, abs=1e-3)


def test_gps103_utc_clock_goes_through_the_same_date_rule() -> None:
    """GPS103 writes the local date and minute, then the UTC time: hour 24 there names no moment either."""
    protocol, (login, sentence), _ = gps103(28)
    messages, errors = run(protocol, (login, replaced(sentence, b",F,120000.000,", b",F,240000.000,")))
    assert not errors, errors
    (rec,) = records(messages)
    assert (rec.fix_time, rec.valid) == (None, False)
    assert rec.attributes[RAW_FIX_TIME] == "2023-02-28 24:00:00"
