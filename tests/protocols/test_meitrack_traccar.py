"""Meitrack against the payloads of Traccar's ``MeitrackProtocolDecoderTest`` and frame decoder test.

Each payload is fed to a fresh session, then drained with ``feed(b"")``. Traccar's text payloads
mostly lack the ``\\r\\n`` every Meitrack frame ends with (its decoder test skips the frame
decoder). Where their checksum verifies, the session ends the frame on it; four payloads also
carry a wrong checksum and wait for the terminator. Two rates are measured: the payloads as
captured, and with the terminator restored (what a device sends).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocols.core import Buffer, CommandResponse, Login, Message, ProtocolError, Report
from protocols.meitrack import ServerSession
from protocols.meitrack.framing import Frame, Framer
from protocols.record import Record, parse_iso_utc
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

POSITION = ("position", "positions")


def payload(entry: dict[str, Any], terminated: bool = False) -> bytes:
    data = bytes.fromhex(entry["payload"]) if entry["payload_kind"] == "hex" else entry["payload"].encode("latin-1")
    if terminated and not data.endswith(b"\r\n"):
        data += b"\r\n"
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
    return [r for m in messages if isinstance(m, (Report, CommandResponse)) for r in m.records
            if "raw_message" not in r.attributes]


@pytest.fixture(scope="module")
def entries(vectors_dir: Path) -> list[dict[str, Any]]:
    found = list(traccar_vectors(vectors_dir, "meitrack"))
    assert len(found) == 52, len(found)
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
    rates = {}
    for terminated in (False, True):
        total = decoded = checked = 0
        failures: list[str] = []
        problems: list[str] = []
        for entry in entries:
            if entry["expect"]["result"] not in POSITION:
                continue
            total += 1
            messages, errors = decode(payload(entry, terminated))
            recs = records(messages)
            if recs:
                decoded += 1
                problems += check_position(entry, recs[0])
                problems += [f"{entry['line']}: out of range" for r in recs if r.lat is not None and abs(r.lat) > 90]
                checked += "lat" in entry["expect"]
            else:
                failures.append(f"{entry['line']}: {[str(e) for e in errors] or 'waiting for the terminator'}")
        assert not problems, problems
        rates[terminated] = decoded / total
        if terminated:
            report_rate(f"meitrack (CRLF restored): {decoded}/{total} = {decoded / total:.1%}")
        else:
            rate = f"{decoded}/{total} = {decoded / total:.1%}"
            report_rate(f"meitrack: {rate} of the payloads Traccar decodes to positions")
        print("meitrack not decoded:", "; ".join(failures) or "none", f"(exact time/lat/lon checked on {checked})")
        assert checked == (2 if terminated else 1)  # line 121 waits for its terminator as captured
    assert rates[False] >= 0.90
    assert rates[True] == 1.0


MAPPING: dict[str, Callable[[Record], Any]] = {
    # Traccar prefixes the media file with its date folder; the codec keeps the device's name
    "image": lambda r: f"{r.attributes['image'][:4]}-{r.attributes['image'][4:6]}-{r.attributes['image'][6:8]}/"
    + r.attributes["image"],
    "tagTemp": lambda r: r.attributes.get("tag_temp_c"),
    "tagName": lambda r: r.attributes.get("tag_name"),
    "hours": lambda r: r.attributes.get("engine_hours_s", 0) * 1000,
    "battery2Level": lambda r: r.attributes.get("battery2_pct"),
    "batteryLevel": lambda r: r.attributes.get("battery_pct"),
    "lock": lambda r: r.attributes.get("lock"),
    "result": lambda r: r.attributes.get("result"),
    "power": lambda r: r.ext_voltage_v,
    "input": lambda r: r.attributes.get("input"),
}


def test_attributes(entries: list[dict[str, Any]]) -> None:
    checked = 0
    for entry in entries:
        exp = entry["expect"]
        if entry["method"] != "verifyAttribute":
            continue
        recs = records(decode(payload(entry, terminated=True))[0])
        assert recs, entry["line"]
        assert MAPPING[exp["attribute"]](recs[0]) == pytest.approx(exp["value"]), entry["line"]
        checked += 1
    print(f"meitrack attributes checked: {checked}")
    assert checked == 10


def test_no_records_where_traccar_has_none(entries: list[dict[str, Any]]) -> None:
    nulls = 0
    for entry in entries:
        if entry["expect"]["result"] == "null":
            nulls += 1
            assert_no_position(decode(payload(entry))[0], entry["line"])
    assert nulls == 3


def test_not_null(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if entry["expect"]["result"] == "not_null":
            assert records(decode(payload(entry))[0]), entry["line"]


def test_answers(entries: list[dict[str, Any]]) -> None:
    """CCC packets and clock requests are answered as Traccar answers them; AAA and CCE are not."""
    by_line = {e["line"]: e for e in entries}
    answers = {}
    for line in (173, 177, 180, 18, 72):
        messages, _ = decode(payload(by_line[line]))
        assert isinstance(messages[0], Login) and messages[0].accept is None
        answers[line] = [m.ack for m in messages if isinstance(m, Report)]
    assert answers == {
        173: [b"@@X27,369800014090021,CCC,1*E4\r\n"],
        177: [b"@@G28,369800013460674,CCC,18*1A\r\n"],
        180: [b"@@z27,861451040910625,AAC,1*0B\r\n"],
        18: [None],
        72: [None],
    }


def test_frames(entries: list[dict[str, Any]]) -> None:
    framed = 0
    for entry in entries:
        if entry["method"] != "assertEquals":
            continue
        buf = Buffer()
        buf.feed(payload(entry))
        found = Framer(1 << 16).next(buf)
        assert isinstance(found, Frame) and found.checksum_ok, entry["line"]
        assert found.raw == bytes.fromhex(entry["expect"]["frame"]), entry["line"]
        framed += 1
    assert framed == 1
