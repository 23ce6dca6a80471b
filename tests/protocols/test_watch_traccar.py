"""Watch against the payloads of Traccar's ``WatchProtocolDecoderTest`` and ``WatchFrameDecoderTest``.

Each payload is fed to a fresh session, then drained with ``feed(b"")``. The one decoder payload
built by concatenation (voice ``TK`` with reserved bytes) is the frame after Traccar's frame
decoder has unescaped it; it is fed escaped, as a watch sends it. Many payloads carry a wrong
length field (hand-edited captures); the framing's text fallback copes with them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocols.core import Buffer, Login, Message, ProtocolError, Report
from protocols.record import Record, parse_iso_utc
from protocols.watch import ServerSession, frame
from protocols.watch.framing import Frame, Framer, Header, parse_header
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

POSITION = ("position", "positions")


def payload(entry: dict[str, Any]) -> bytes:
    if entry["payload_kind"] in ("hex", "concat"):
        data = bytes.fromhex(entry["payload"])
    else:
        data = entry["payload"].encode("latin-1")
    if entry["payload_kind"] == "concat" and entry["method"] != "verifyFrame":
        header = parse_header(data)
        assert isinstance(header, Header)
        data = frame(header.ident, data[header.start : -1], header.maker, header.index)
    return data


def decode(data: bytes) -> tuple[list[Message], list[ProtocolError]]:
    session = ServerSession()
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (data, b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as exc:
            errors.append(exc)
    return messages, errors


def records(messages: list[Message]) -> list[Record]:
    """Decoded records; one kept raw (a layout not decoded) does not count as decoding the payload."""
    return [r for m in messages if isinstance(m, Report) for r in m.records
            if "raw_message" not in r.attributes]


@pytest.fixture(scope="module")
def entries(vectors_dir: Path) -> list[dict[str, Any]]:
    found = list(traccar_vectors(vectors_dir, "watch"))
    assert len(found) == 57, len(found)
    return found


def check_position(entry: dict[str, Any], rec: Record) -> list[str]:
    exp = entry["expect"]
    problems = []
    if rec.lat is not None and not (-90 <= rec.lat <= 90 and -180 <= rec.lon <= 180):
        problems.append(f"line {entry['line']}: coordinates out of range {rec.lat}, {rec.lon}")
    if "lat" in exp:
        tol = exp.get("tolerance_deg", 1e-5)
        if rec.lat is None or abs(rec.lat - exp["lat"]) > tol or abs(rec.lon - exp["lon"]) > tol:
            problems.append(f"line {entry['line']}: lat/lon {rec.lat}, {rec.lon} != {exp['lat']}, {exp['lon']}")
    if "time" in exp and rec.fix_time != parse_iso_utc(exp["time"].replace(" ", "T")):
        problems.append(f"line {entry['line']}: time {rec.fix_time} != {exp['time']}")
    if "valid" in exp and rec.valid is not exp["valid"]:
        problems.append(f"line {entry['line']}: valid {rec.valid} != {exp['valid']}")
    return problems


def test_position_rate(entries: list[dict[str, Any]]) -> None:
    total = decoded = checked = 0
    failures: list[str] = []
    problems: list[str] = []
    for entry in entries:
        if entry["expect"]["result"] not in POSITION:
            continue
        total += 1
        messages, errors = decode(payload(entry))
        recs = records(messages)
        if recs:
            decoded += 1
            problems += check_position(entry, recs[0])
            checked += "lat" in entry["expect"]
        else:
            failures.append(f"{entry['line']}: {[str(e) for e in errors] or 'no record'}")
    report_rate(f"watch: {decoded}/{total} = {decoded / total:.1%} of the payloads Traccar decodes to positions")
    print("watch not decoded:", "; ".join(failures) or "none", f"(exact time/lat/lon checked on {checked})")
    assert not problems, problems
    assert checked == 2
    assert decoded / total >= 0.90


MAPPING: dict[str, Callable[[Record], Any]] = {
    "alarm": lambda r: r.event,
    "bloodOxygen": lambda r: r.attributes.get("blood_oxygen_pct"),
    "temp1": lambda r: r.attributes.get("temperature_c"),
    # Traccar stores the voice file through its media manager; the codec keeps its size
    "audio": lambda r: "mock.amr" if r.attributes.get("audio_bytes", 0) > 1 else None,
}


def test_attributes(entries: list[dict[str, Any]]) -> None:
    checked = 0
    for entry in entries:
        exp = entry["expect"]
        if entry["method"] not in ("verifyAttribute", "verifyAttributes"):
            continue
        recs = records(decode(payload(entry))[0])
        assert recs, entry["line"]
        if entry["method"] == "verifyAttribute":
            assert MAPPING[exp["attribute"]](recs[0]) == exp["value"], entry["line"]
        else:
            assert recs[0].attributes, entry["line"]
        checked += 1
    print(f"watch attributes checked: {checked}")
    assert checked == 12


def test_no_records_where_traccar_has_none(entries: list[dict[str, Any]]) -> None:
    nulls = 0
    for entry in entries:
        if entry["expect"]["result"] == "null":
            nulls += 1
            assert_no_position(decode(payload(entry))[0], entry["line"])
    assert nulls == 4


def test_answers(entries: list[dict[str, Any]]) -> None:
    """Link frames and alarms are answered in the frame's maker (and index); positions are not."""
    by_line = {e["line"]: e for e in entries}
    answers = {}
    for line in (134, 137, 128, 31, 41, 58):
        messages, _ = decode(payload(by_line[line]))
        assert isinstance(messages[0], Login)
        answers[line] = [m.ack for m in messages if isinstance(m, Report)]
    assert answers == {
        134: [b"[SG*8800000015*0002*LK]"],
        137: [b"[3G*4700186508*0002*LK]"],
        128: [b"[3G*8800000015*0003*TKQ]"],
        31: [b"[SG*9059011020*0002*AL]"],
        41: [b"[ZJ*689466020014198*0003*0002*AL]"],
        58: [None],
    }


def test_frames(entries: list[dict[str, Any]]) -> None:
    """The frame decoder test: the first frame cut from the bytes, unescaped as Traccar gives it."""
    framed = 0
    for entry in entries:
        if entry["method"] != "verifyFrame":
            continue
        buf = Buffer()
        buf.feed(payload(entry))
        found = Framer(1 << 16).next(buf)
        assert isinstance(found, Frame), (entry["line"], found)
        assert found.unescaped == bytes.fromhex(entry["expect"]["frame"]), entry["line"]
        framed += 1
    print(f"watch frames: {framed} exactly as Traccar")
    assert framed == 7
