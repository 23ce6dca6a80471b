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

import pytest

from protocols.core import Login, Report
from protocols.record import iso_utc
from protocols.ruptela import RECORDS_ACK, ServerSession, crc16_kermit
from tests.protocols import traccar_vectors as traccar

entries = traccar.vectors("ruptela", count=16)


def reseal(raw: bytes) -> bytes:
    """The payload with the length field and CRC its bytes call for."""
    body = raw[2:-2]
    return len(body).to_bytes(2, "big") + body + crc16_kermit(body).to_bytes(2, "big")


def decode(raw: bytes) -> traccar.Fed:
    return traccar.feed(ServerSession(), raw)


def decoded(entry: traccar.Entry) -> traccar.Fed:
    """As captured (strict), or with length and CRC re-sealed if they failed."""
    return traccar.strict_or_resealed(entry, traccar.payload(entry), decode, reseal, "CRC")


def _located(entry: traccar.Entry, fed: traccar.Fed) -> list[str]:
    """The device said who it is first (no answer wanted); Traccar's ``checkLocation`` and
    ``verifyAttributes`` where the vector asks for them."""
    where = f"line {entry['line']}"
    first = fed.messages[0]
    problems = [] if isinstance(first, Login) and first.accept is None else [f"{where}: {first} first"]
    if entry["expect"].get("check_location"):
        for rec in fed.decoded:
            if rec.lat is None or rec.lon is None or not (-90 <= rec.lat <= 90 and -180 <= rec.lon <= 180):
                problems.append(f"{where}: bad position {rec.lat}, {rec.lon}")
            if rec.fix_time is None:
                problems.append(f"{where}: no time")
    if entry["expect"].get("attributes_nonempty") and not any(r.attributes for r in fed.decoded):
        problems.append(f"{where}: no attributes")
    return problems


def test_position_rate(entries: list[traccar.Entry]) -> None:
    rate = traccar.measure_positions(
        "ruptela", entries, decoded, also=_located,
        what=traccar.OF_TRACCAR_POSITIONS + " (content; length and CRC re-sealed where they were wrong)",
        strict_what=" (bytes as captured, CRC enforced)")
    rate.require(0.90, strict_at_least=0.80)


# Worked out by hand from the record layout: 1e-7 degrees, Unix time, 0.1 m, 0.01 degree.
ANCHORS: dict[int, tuple[str, float, float, float | None, float | None, int, float]] = {
    57: ("2011-10-17T10:28:57.000Z", 54.6305118, 25.2712755, 197.1, 69.99, 10, 16.0),
    48: ("2015-10-06T14:21:33.000Z", 5.6292216, -0.067495, 48.7, 0.0, 9, 0.0),
    60: ("2014-01-19T05:04:02.000Z", 44.972635, 41.0749733, None, None, 10, 0.0),
}


def test_exact_time_and_position(entries: list[traccar.Entry]) -> None:
    lines = traccar.by_line(entries)
    for line, (when, lat, lon, alt, course, sats, speed) in ANCHORS.items():
        fed = decoded(lines[line])
        assert fed.strict, line
        rec = fed.decoded[0]
        assert iso_utc(rec.fix_time) == when, line
        assert rec.lat == pytest.approx(lat, abs=1e-9) and rec.lon == pytest.approx(lon, abs=1e-9), line
        assert rec.valid is True and rec.satellites == sats and rec.speed_kmh == speed, line
        if alt is not None:
            assert rec.altitude_m == pytest.approx(alt) and rec.course_deg == pytest.approx(course), line
        assert rec.imei is not None and len(rec.imei) == 15 and rec.protocol == "ruptela"


def test_records_are_acknowledged_and_merged(entries: list[traccar.Entry]) -> None:
    lines = traccar.by_line(entries)
    counts = {}
    for line in (21, 24, 42, 45, 48, 54, 57, 60, 14):
        fed = decoded(lines[line])
        assert not fed.errors, line
        (report,) = [m for m in fed.messages if isinstance(m, Report)]
        assert report.ack == RECORDS_ACK == bytes.fromhex("0002640113bc")
        counts[line] = len(report.records)
    # command 68 records split over 4 parts (record extension 0x30..0x33) are one position
    assert counts[42] == 1 and counts[45] == 2
    assert counts[21] == 29 and counts[60] == 5


def test_attributes(entries: list[traccar.Entry]) -> None:
    for entry in entries:
        exp = entry["expect"]
        if "attribute" in exp:
            assert exp["attribute"] == "driverUniqueId"
            assert decoded(entry).decoded[0].attributes["driver_id"] == exp["value"], entry["line"]


def test_no_records_where_traccar_has_none(entries: list[traccar.Entry]) -> None:
    for entry, fed in traccar.no_positions(entries, lambda e: decode(traccar.payload(e)), errors=False):
        assert isinstance(fed.messages[0], Login), entry["line"]


def test_identification_is_answered(entries: list[traccar.Entry]) -> None:
    (_login, report) = decode(traccar.payload(traccar.by_line(entries)[18])).messages
    assert isinstance(report, Report) and report.kind == "identification"
    assert report.ack is not None and report.ack[:4] == bytes.fromhex("00027301")
