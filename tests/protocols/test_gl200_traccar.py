"""Queclink (gl200) against the payloads of Traccar's ``Gl200TextProtocolDecoderTest``,
``Gl200BinaryProtocolDecoderTest`` and ``Gl200FrameDecoderTest``.

Traccar's decoder tests run with an identified device and hand each sentence to the decoder
without its framer, so here every payload goes to a fresh session after a heartbeat that names a
device (binary reports may carry a device name instead of an IMEI), and a text payload captured
without its ``$`` gets one, which is what Traccar's framer would have cut off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocols.core import Buffer, CommandResponse, Message, ProtocolError, Report
from protocols.gl200 import Frame, ServerSession, next_frame
from protocols.record import Record, parse_iso_utc
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

IDENTIFY = b"+ACK:GTHBD,060100,135790246811220,,20100214093254,11F0$"
POSITION = ("position", "positions")

ALARMS = {
    "sos": "sos",
    "hardCornering": "hard_cornering",
    "hardBraking": "hard_braking",
    "powerOff": "power_off",
    "powerOn": "power_on",
}

MAPPING: dict[str, Callable[[Record], Any]] = {
    "alarm": lambda r: r.event,
    "ignition": lambda r: r.ignition,
    "batteryLevel": lambda r: r.attributes.get("battery_pct"),
    "power": lambda r: r.ext_voltage_v,
    "power2": lambda r: r.attributes.get("backup_power_v"),
    "fuel": lambda r: r.attributes.get("fuel"),
    "temp1": lambda r: r.attributes.get("temp1_c"),
    "in1": lambda r: r.attributes.get("in1"),
    "accessoryVoltage": lambda r: r.attributes.get("accessory_voltage_v"),
    "adBlueLevel": lambda r: r.attributes.get("adblue_level"),
    "data": lambda r: r.attributes.get("data"),
    "warningType": lambda r: r.attributes.get("warning_type"),
    "adc3": lambda r: r.attributes.get("adc3"),
}
"""Traccar attribute -> where the normalised record keeps it."""

KNOWN_VALUES = {
    # HEX +RSP FRI (mask 00FC1FBF): lon FF75A151, lat 025C6A81, UTC 07E1 08 01 08 1A 2A
    25: ("2017-08-01T08:26:42Z", 39.611009, -9.068207),
    # HEX +EVT 45 (7-byte insert): lon FF75A1F0, lat 025C6B1A, UTC 07E1 08 01 08 24 1A
    16: ("2017-08-01T08:36:26Z", 39.611162, -9.068048),
    # HEX +EVT 12: lon FF75A11A, lat 025C6A78, UTC 07E1 07 0A 14 04 12
    31: ("2017-07-10T20:04:18Z", 39.611000, -9.068262),
    # Protocol Pro data id 0x52: lon FA8B28F4, lat 02AC1A8E, UTC 6A3ED6F1
    13: ("2026-06-26T19:45:53Z", 44.833422, -91.543308),
    # HEX +RSP LBC: lon 073C4D41, lat 01DB86BD, UTC 07E1 06 13 0B 2B 0F
    22: ("2017-06-19T11:43:15Z", 31.164093, 121.392449),
}
"""Fixes read by hand from the frames' bytes (Traccar asserts only plausibility for these)."""


def payload(entry: dict[str, Any]) -> bytes:
    if entry["payload_kind"] == "hex":
        return bytes.fromhex(entry["payload"])
    data = entry["payload"].encode("latin-1")
    return data if data.endswith((b"$", b"\0")) else data + b"$"


def decode(entry: dict[str, Any]) -> tuple[list[Message], list[ProtocolError], ServerSession]:
    """An identified session, then the payload, then a drain call; every error is collected."""
    session = ServerSession()
    session.feed(IDENTIFY)
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (payload(entry), b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as exc:
            errors.append(exc)
    return messages, errors, session


def records(messages: list[Message]) -> list[Record]:
    """Decoded records; one kept raw (a layout not decoded) does not count as decoding the payload."""
    return [r for m in messages if isinstance(m, (Report, CommandResponse)) for r in m.records
            if "raw_message" not in r.attributes]


@pytest.fixture(scope="module")
def entries(vectors_dir: Path) -> list[dict[str, Any]]:
    found = list(traccar_vectors(vectors_dir, "gl200"))
    assert len(found) >= 200, "gl200 entries missing from traccar_vectors.jsonl"
    return found


def _plausible(entry: dict[str, Any], rec: Record) -> list[str]:
    """Traccar's ``checkLocation``: a time after 2000 and not in the future, coordinates in range."""
    where = f"line {entry['line']}"
    problems = []
    if rec.lat is not None and not (-90 <= rec.lat <= 90 and -180 <= rec.lon <= 180):
        problems.append(f"{where}: coordinates out of range {rec.lat}, {rec.lon}")
    if rec.fix_time is not None and not 946_684_800 <= rec.fix_time <= time.time() + 2 * 86400:
        problems.append(f"{where}: implausible fix time {rec.fix_time}")
    if rec.speed_kmh is not None and rec.speed_kmh < 0:
        problems.append(f"{where}: negative speed")
    if rec.course_deg is not None and not 0 <= rec.course_deg <= 360:
        problems.append(f"{where}: course {rec.course_deg}")
    return problems


def _exact(entry: dict[str, Any], rec: Record, exp: dict[str, Any]) -> list[str]:
    """Time to the second and coordinates to 1e-5, where an expectation gives them."""
    problems = []
    if "time" in exp and rec.fix_time != parse_iso_utc(str(exp["time"]).replace(" ", "T")):
        problems.append(f"line {entry['line']}: time {rec.fix_time} != {exp['time']}")
    for key in ("lat", "lon"):
        if key in exp and (getattr(rec, key) is None or abs(getattr(rec, key) - exp[key]) > 1e-5):
            problems.append(f"line {entry['line']}: {key} {getattr(rec, key)} != {exp[key]}")
    return problems


def test_position_rate(entries: list[dict[str, Any]]) -> None:
    total = ok = with_fix = exact_checked = 0
    failures: list[str] = []
    problems: list[str] = []
    for entry in entries:
        if entry["method"] == "assertEquals" or entry["expect"]["result"] not in POSITION:
            continue
        total += 1
        messages, errors, session = decode(entry)
        recs = records(messages)
        if not recs:
            failures.append(f"{entry['line']}: {[str(e) for e in errors] or 'no record'}")
            continue
        ok += 1
        with_fix += any(r.lat is not None for r in recs)
        assert session.buffered == 0, entry["line"]
        if entry["expect"].get("check_location") or entry["expect"].get("location_sanity"):
            for rec in recs:
                problems += _plausible(entry, rec)
        if {"time", "lat", "lon"} & set(entry["expect"]):
            exact_checked += 1
            problems += _exact(entry, recs[0], entry["expect"])
    report_rate(f"gl200: {ok}/{total} = {ok / total:.1%} of the payloads Traccar decodes to positions")
    print(f"gl200: {with_fix} of them with coordinates; {exact_checked} with asserted time/lat/lon")
    print("gl200 not decoded:", "; ".join(failures) or "none")
    assert not problems, problems
    assert ok / total >= 0.90


def test_known_fixes(entries: list[dict[str, Any]]) -> None:
    """Exact values for the binary frames, read by hand from their bytes."""
    by_line = {e["line"]: e for e in entries if e["decoder_class"] == "Gl200BinaryProtocolDecoder"}
    for line, (when, lat, lon) in KNOWN_VALUES.items():
        recs = records(decode(by_line[line])[0])
        assert recs, line
        exp = {"time": when, "lat": lat, "lon": lon}
        assert not _exact(by_line[line], recs[0], exp), (line, recs[0])


def _matches(got: Any, want: Any) -> bool:
    if isinstance(want, float) or isinstance(got, float):
        return got is not None and want is not None and abs(float(got) - float(want)) < 1e-6
    return got == want


def test_attributes(entries: list[dict[str, Any]]) -> None:
    """Every asserted Traccar attribute that the record contract has a place for."""
    checked = 0
    mismatches = []
    for entry in entries:
        exp = entry["expect"]
        if entry["method"] != "verifyAttribute" or exp["attribute"] not in MAPPING:
            continue
        recs = records(decode(entry)[0])
        assert recs, entry["line"]
        want = ALARMS.get(exp["value"], exp["value"]) if exp["attribute"] == "alarm" else exp["value"]
        got = MAPPING[exp["attribute"]](recs[-1])
        checked += 1
        if not _matches(got, want):
            mismatches.append((entry["line"], exp["attribute"], want, got))
    print(f"gl200 attributes checked: {checked}")
    assert checked >= 30
    assert not mismatches, mismatches


def test_attributes_nonempty(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if entry["expect"].get("attributes_nonempty"):
            recs = records(decode(entry)[0])
            assert recs and recs[-1].attributes, entry["line"]


def test_no_records_where_traccar_has_none(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if entry["expect"]["result"] == "null":
            messages, errors, _ = decode(entry)
            assert_no_position(messages, entry["line"])
            assert not errors, entry["line"]


def test_not_null_payloads_decode(entries: list[dict[str, Any]]) -> None:
    not_null = [e for e in entries if e["expect"]["result"] == "not_null"]
    decoded = sum(bool(records(decode(e)[0])) for e in not_null)
    print(f"gl200 not_null: {decoded}/{len(not_null)}")
    assert decoded == len(not_null)


def test_frames(entries: list[dict[str, Any]]) -> None:
    """The framer cuts what Traccar's ``Gl200FrameDecoder`` cuts (text without its ``$``)."""
    framed = 0
    for entry in entries:
        if entry["method"] != "assertEquals":
            continue
        buf = Buffer()
        buf.feed(bytes.fromhex(entry["payload"]))
        scan = next_frame(buf, 1 << 16)
        assert isinstance(scan, Frame), (entry["line"], scan)
        assert scan.body == bytes.fromhex(entry["expect"]["frame"]), entry["line"]
        framed += 1
    assert framed == 4
