"""TK103 against the payloads of Traccar's ``Tk103ProtocolDecoderTest`` and ``Tk103FrameDecoderTest``.

Decoder payloads are whole frames fed to a fresh session (the frame identifies the device, as
on a real connection). Frame payloads go to the frame scanner alone; two of them share one
buffer (Traccar's ``shared_buffer``): the second expects the frame after the first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocols.core import Buffer, CommandResponse, Login, Message, ProtocolError, Report
from protocols.record import Record, parse_iso_utc
from protocols.tk103 import ServerSession
from protocols.tk103.framing import FrameScanner
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

MAPPING: dict[str, Callable[[Record], Any]] = {
    "alarm": lambda r: r.event,
    "vin": lambda r: r.attributes.get("vin"),
    "fuel": lambda r: r.attributes.get("fuel"),
    "batteryTemp2": lambda r: r.attributes.get("battery_temp2_c"),
}


def decode(entry: dict[str, Any]) -> tuple[list[Message], list[ProtocolError]]:
    session = ServerSession()
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (entry["payload"].encode("latin-1"), b""):
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
    found = list(traccar_vectors(vectors_dir, "tk103"))
    assert len(found) == 79, len(found)
    return found


def decoder_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["payload_kind"] == "text"]


def test_position_rate(entries: list[dict[str, Any]]) -> None:
    total = decoded = checked = 0
    failures, problems = [], []
    for entry in decoder_entries(entries):
        exp = entry["expect"]
        if exp["result"] != "position":
            continue
        total += 1
        messages, errors = decode(entry)
        recs = records(messages)
        if not recs:
            failures.append(f"{entry['line']}: {[str(e) for e in errors]}")
            continue
        decoded += 1
        rec = recs[0]
        assert isinstance(messages[0], Login) and messages[0].imei == rec.imei
        if rec.lat is not None:
            assert -90 <= rec.lat <= 90 and -180 <= rec.lon <= 180, entry["line"]
        if "lat" in exp:
            checked += 1
            tol = exp.get("tolerance_deg", 1e-5)
            if rec.lat is None or abs(rec.lat - exp["lat"]) > tol or abs(rec.lon - exp["lon"]) > tol:
                problems.append(f"{entry['line']}: {rec.lat},{rec.lon} != {exp['lat']},{exp['lon']}")
        if "time" in exp and rec.fix_time != parse_iso_utc(exp["time"].replace(" ", "T")):
            problems.append(f"{entry['line']}: time {rec.fix_time} != {exp['time']}")
        if "valid" in exp and rec.valid is not exp["valid"]:
            problems.append(f"{entry['line']}: valid {rec.valid}")
    report_rate(f"tk103: {decoded}/{total} = {decoded / total:.1%} of the payloads Traccar decodes to positions")
    print("tk103 not decoded:", "; ".join(failures) or "none", f"(exact time/lat/lon checked on {checked})")
    assert not problems, problems
    assert checked == 2
    assert decoded / total >= 0.90


def test_attributes(entries: list[dict[str, Any]]) -> None:
    checked = 0
    for entry in decoder_entries(entries):
        exp = entry["expect"]
        if entry["method"] == "verifyAttributes":
            (rec,) = records(decode(entry)[0])
            assert rec.attributes, entry["line"]
            checked += 1
        elif entry["method"] == "verifyAttribute":
            (rec,) = records(decode(entry)[0])
            assert MAPPING[exp["attribute"]](rec) == exp["value"], entry["line"]
            checked += 1
    assert checked == 12


def test_null_and_not_null(entries: list[dict[str, Any]]) -> None:
    not_null = 0
    for entry in decoder_entries(entries):
        result = entry["expect"]["result"]
        if result == "null":
            messages, errors = decode(entry)
            assert_no_position(messages, entry["line"])
            assert not errors, entry["line"]
        elif result == "not_null":
            not_null += bool(records(decode(entry)[0]))
    report_rate(f"tk103 not_null: {not_null}/8 decoded to a record")
    assert not_null == 8


def test_handshakes_are_answered(entries: list[dict[str, Any]]) -> None:
    answers = {}
    for entry in decoder_entries(entries):
        messages, _ = decode(entry)
        if messages and isinstance(messages[0], Login) and messages[0].accept:
            answers[entry["line"]] = messages[0].accept
    assert answers[59] == b"(027044702512AP01HSO)"
    assert answers[84] == b"(087073005534AP01HSO)"
    assert answers[99] == b"(088046338039AP05)"
    assert answers[24] == b"(027045009305AP05)"


def _scan_frame(scanner: FrameScanner) -> bytes | None:
    while True:
        scan = scanner.next()
        if scan is None or isinstance(scan, bytes):
            return scan  # junk runs (ProtocolError) are skipped as Traccar's decoder skips them


def test_frames(entries: list[dict[str, Any]]) -> None:
    scanners: dict[str, FrameScanner] = {}
    framed = nulls = 0
    for entry in entries:
        if entry["payload_kind"] != "hex":
            continue
        shared = entry.get("shared_buffer")
        if shared and shared in scanners:
            scanner = scanners[shared]
        else:
            buf = Buffer()
            buf.feed(bytes.fromhex(entry["payload"]))
            scanner = FrameScanner(buf, 1 << 16)
            if shared:
                scanners[shared] = scanner
        frame = _scan_frame(scanner)
        if entry["expect"]["result"] == "null":
            assert frame is None, entry["line"]
            nulls += 1
        else:
            assert frame == bytes.fromhex(entry["expect"]["frame"]), entry["line"]
            framed += 1
    report_rate(f"tk103 frames: {framed}/5 exactly as Traccar, {nulls}/3 null as Traccar")
    assert (framed, nulls) == (5, 3)
