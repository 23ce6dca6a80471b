"""H02 against the payloads of Traccar's ``H02ProtocolDecoderTest`` and ``H02FrameDecoderTest``.

Each payload is fed to a fresh session that has first seen a heartbeat of a known device
(Traccar's decoder tests run with a device already identified, which the id-less
``*HQ,,V1,...`` sentence relies on), then drained with ``feed(b"")``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocols.core import Buffer, Message, ProtocolError, Report
from protocols.h02 import ServerSession
from protocols.h02.framing import Frame, Framer
from protocols.record import Record, parse_iso_utc
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

KNOWN_DEVICE = b"*HQ,1111111111,V0#"
POSITION = ("position", "positions")


def decode(data: bytes) -> tuple[list[Message], list[ProtocolError]]:
    """Heartbeat of a known device, the payload, a drain call; every error collected."""
    session = ServerSession()
    session.feed(KNOWN_DEVICE)
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (data, b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as exc:
            errors.append(exc)
    return messages, errors


def payload(entry: dict[str, Any]) -> bytes:
    if entry["payload_kind"] == "hex":
        return bytes.fromhex(entry["payload"])
    return entry["payload"].encode("latin-1")


def records(messages: list[Message]) -> list[Record]:
    """Decoded records; one kept raw (a layout not decoded) does not count as decoding the payload."""
    return [r for m in messages if isinstance(m, Report) for r in m.records
            if "raw_message" not in r.attributes]


@pytest.fixture(scope="module")
def entries(vectors_dir: Path) -> list[dict[str, Any]]:
    found = list(traccar_vectors(vectors_dir, "h02"))
    assert len(found) == 99, len(found)
    return found


def check_position(entry: dict[str, Any], rec: Record) -> list[str]:
    """Asserted time/lat/lon exactly (lat/lon to the vector's stated rounding), and sanity."""
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
    report_rate(f"h02: {decoded}/{total} = {decoded / total:.1%} of the payloads Traccar decodes to positions")
    print("h02 not decoded:", "; ".join(failures) or "none", f"(exact time/lat/lon checked on {checked})")
    assert not problems, problems
    assert checked == 5
    assert decoded / total >= 0.90


def _one(get: Callable[[Record], Any]) -> Callable[[Record], Any]:
    return get


MAPPING: dict[str, Callable[[Record], Any]] = {
    "batteryLevel": _one(lambda r: r.attributes.get("battery_pct")),
    "status": _one(lambda r: r.attributes.get("status")),
    "result": _one(lambda r: r.attributes.get("result")),
}


def test_attributes(entries: list[dict[str, Any]]) -> None:
    checked = 0
    for entry in entries:
        exp = entry["expect"]
        if entry["method"] == "verifyAttribute":
            recs = records(decode(payload(entry))[0])
            assert recs, entry["line"]
            assert MAPPING[exp["attribute"]](recs[0]) == exp["value"], entry["line"]
            checked += 1
        elif entry["method"] == "verifyAttributes":
            recs = records(decode(payload(entry))[0])
            assert recs and recs[0].attributes, entry["line"]
            checked += 1
    print(f"h02 attributes checked: {checked}")
    assert checked == 20


def test_no_position_where_traccar_has_none(entries: list[dict[str, Any]]) -> None:
    """Traccar returns null; here such a sentence is a ProtocolError, a record without a fix (a ``V1``
    with empty coordinates), or a vendor type kept raw, never a position and never nothing."""
    nulls = 0
    for entry in entries:
        if entry["expect"]["result"] == "null":
            nulls += 1
            messages, errors = decode(payload(entry))
            kept = [r for m in messages if isinstance(m, Report) for r in m.records]
            assert kept or errors or any(isinstance(m, Report) and m.ack for m in messages), entry["line"]
            assert_no_position(messages, entry["line"])
    assert nulls == 7


def test_not_null_payloads_give_a_message(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if entry["expect"]["result"] == "not_null":
            messages, errors = decode(payload(entry))
            assert [m for m in messages if isinstance(m, Report)] and not errors, entry["line"]


def test_frames(entries: list[dict[str, Any]]) -> None:
    """The frame decoder test (message length 0: detect it): the first frame cut from the bytes."""
    framed = 0
    for entry in entries:
        if entry["method"] != "assertEquals":
            continue
        assert entry["decoder_args"] == ["0"]
        buf = Buffer()
        buf.feed(payload(entry))
        frame = Framer(1 << 16).next(buf)
        assert isinstance(frame, Frame), (entry["line"], frame)
        assert frame.raw == bytes.fromhex(entry["expect"]["frame"]), entry["line"]
        framed += 1
    print(f"h02 frames: {framed} exactly as Traccar")
    assert framed == 10
