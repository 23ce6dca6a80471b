"""Ruptela against the payloads of Traccar's ``RuptelaProtocolDecoderTest``.

Traccar's unit tests feed the decoder without its frame decoder and never check the CRC, and two
of its payloads are hand-made: their length field does not match the bytes (so neither can their
CRC). Two rates are measured over the payloads Traccar decodes to positions:

* **strict**: the bytes as captured, length and CRC enforced; a payload that fails must fail with
  a ProtocolError about its CRC, nothing else.
* **content** (asserted >= 90 %): the same, but a payload that failed so is re-sealed first (the
  length field set to the bytes there are, the CRC recomputed). This measures decoding Traccar's
  message layouts apart from the framing checks its tests skip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from protocols.core import CommandResponse, Login, Message, ProtocolError, Report
from protocols.record import Record, iso_utc
from protocols.ruptela import RECORDS_ACK, ServerSession, crc16_kermit
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

POSITION = ("position", "positions")


def reseal(raw: bytes) -> bytes:
    """The payload with the length field and CRC its bytes call for."""
    body = raw[2:-2]
    return len(body).to_bytes(2, "big") + body + crc16_kermit(body).to_bytes(2, "big")


def decode(raw: bytes) -> tuple[list[Message], list[ProtocolError]]:
    session = ServerSession()
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (raw, b""):
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
    found = list(traccar_vectors(vectors_dir, "ruptela"))
    assert len(found) == 16, f"expected the 16 ruptela entries, found {len(found)}"
    return found


def decoded(entry: dict[str, Any]) -> tuple[list[Message], list[ProtocolError], bool]:
    raw = bytes.fromhex(entry["payload"])
    messages, errors = decode(raw)
    if records(messages):
        return messages, errors, True
    if errors:
        assert "CRC" in str(errors[0]) and not errors[0].close, (entry["line"], errors)
        messages, errors = decode(reseal(raw))
    return messages, errors, False


def test_position_rate(entries: list[dict[str, Any]]) -> None:
    total = ok_strict = ok_content = 0
    failures: list[str] = []
    problems: list[str] = []
    for entry in entries:
        if entry["expect"]["result"] not in POSITION:
            continue
        total += 1
        messages, errors, strict = decoded(entry)
        recs = records(messages)
        if not recs:
            failures.append(f"{entry['line']}: {[str(e) for e in errors] or 'no record'}")
            continue
        ok_content += 1
        ok_strict += strict
        assert isinstance(messages[0], Login) and messages[0].accept is None
        if entry["expect"].get("check_location"):
            for rec in recs:
                if rec.lat is None or not (-90 <= rec.lat <= 90 and -180 <= rec.lon <= 180):
                    problems.append(f"line {entry['line']}: bad position {rec.lat}, {rec.lon}")
                if rec.fix_time is None:
                    problems.append(f"line {entry['line']}: no time")
        if entry["expect"].get("attributes_nonempty") and not any(r.attributes for r in recs):
            problems.append(f"line {entry['line']}: no attributes")
    report_rate(
        f"ruptela: {ok_content}/{total} = {ok_content / total:.1%} of the payloads Traccar decodes to positions"
        " (content; length and CRC re-sealed where they were wrong)"
    )
    report_rate(f"ruptela strict: {ok_strict}/{total} = {ok_strict / total:.1%} (bytes as captured, CRC enforced)")
    print("ruptela not decoded:", "; ".join(failures) or "none")
    assert not problems, problems
    assert ok_content / total >= 0.90
    assert ok_strict / total >= 0.80


# Worked out by hand from the record layout: 1e-7 degrees, Unix time, 0.1 m, 0.01 degree.
ANCHORS: dict[int, tuple[str, float, float, float, float, int, float]] = {
    57: ("2011-10-17T10:28:57.000Z", 54.6305118, 25.2712755, 197.1, 69.99, 10, 16.0),
    48: ("2015-10-06T14:21:33.000Z", 5.6292216, -0.067495, 48.7, 0.0, 9, 0.0),
    60: ("2014-01-19T05:04:02.000Z", 44.972635, 41.0749733, None, None, 10, 0.0),  # type: ignore[dict-item]
}


def test_exact_time_and_position(entries: list[dict[str, Any]]) -> None:
    by_line = {e["line"]: e for e in entries}
    for line, (when, lat, lon, alt, course, sats, speed) in ANCHORS.items():
        messages, _errors, strict = decoded(by_line[line])
        assert strict, line
        rec = records(messages)[0]
        assert iso_utc(rec.fix_time) == when, line
        assert rec.lat == pytest.approx(lat, abs=1e-9) and rec.lon == pytest.approx(lon, abs=1e-9), line
        assert rec.valid is True and rec.satellites == sats and rec.speed_kmh == speed, line
        if alt is not None:
            assert rec.altitude_m == pytest.approx(alt) and rec.course_deg == pytest.approx(course), line
        assert rec.imei is not None and len(rec.imei) == 15 and rec.protocol == "ruptela"


def test_records_are_acknowledged_and_merged(entries: list[dict[str, Any]]) -> None:
    by_line = {e["line"]: e for e in entries}
    counts = {}
    for line in (21, 24, 42, 45, 48, 54, 57, 60, 14):
        messages, errors, _ = decoded(by_line[line])
        assert not errors
        (report,) = [m for m in messages if isinstance(m, Report)]
        assert report.ack == RECORDS_ACK == bytes.fromhex("0002640113bc")
        counts[line] = len(report.records)
    # command 68 records split over 4 parts (record extension 0x30..0x33) are one position
    assert counts[42] == 1 and counts[45] == 2
    assert counts[21] == 29 and counts[60] == 5


def test_attributes(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        exp = entry["expect"]
        if "attribute" in exp:
            assert exp["attribute"] == "driverUniqueId"
            messages, _errors, _ = decoded(entry)
            assert records(messages)[0].attributes["driver_id"] == exp["value"]


def test_no_records_where_traccar_has_none(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if entry["expect"]["result"] == "null":
            messages, errors = decode(bytes.fromhex(entry["payload"]))
            assert_no_position(messages, entry["line"])
            assert not errors, entry["line"]
            assert isinstance(messages[0], Login)


def test_identification_is_answered(entries: list[dict[str, Any]]) -> None:
    by_line = {e["line"]: e for e in entries}
    (_login, report) = decode(bytes.fromhex(by_line[18]["payload"]))[0]
    assert isinstance(report, Report) and report.kind == "identification"
    assert report.ack is not None and report.ack[:4] == bytes.fromhex("00027301")
