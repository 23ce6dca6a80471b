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
from typing import Any

from protocols.core import Buffer
from protocols.gl200 import Frame, ServerSession, next_frame
from protocols.record import Record
from tests.protocols import traccar_vectors as traccar

IDENTIFY = b"+ACK:GTHBD,060100,135790246811220,,20100214093254,11F0$"

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

entries = traccar.vectors("gl200", at_least=200)


def payload(entry: traccar.Entry) -> bytes:
    if entry["payload_kind"] == "hex":
        return bytes.fromhex(entry["payload"])
    data = str(entry["payload"]).encode("latin-1")
    return data if data.endswith((b"$", b"\0")) else data + b"$"


def decode(entry: traccar.Entry) -> traccar.Fed:
    """An identified session, then the payload, then a drain call; every error is collected."""
    session = ServerSession()
    session.feed(IDENTIFY)
    return traccar.feed(session, payload(entry))


def _plausible(entry: traccar.Entry, fed: traccar.Fed) -> list[str]:
    """Traccar's ``checkLocation`` where the vector asks for it: a time after 2000 and not in the
    future, coordinates in range; and the whole payload read (nothing left in the session)."""
    where = f"line {entry['line']}"
    problems = [f"{where}: {fed.left} bytes left unread"] if fed.left else []
    if not (entry["expect"].get("check_location") or entry["expect"].get("location_sanity")):
        return problems
    for rec in fed.decoded:
        problems += traccar.in_range(entry, rec)
        if rec.fix_time is not None and not 946_684_800 <= rec.fix_time <= time.time() + 2 * 86400:
            problems.append(f"{where}: implausible fix time {rec.fix_time}")
        if rec.speed_kmh is not None and rec.speed_kmh < 0:
            problems.append(f"{where}: negative speed")
        if rec.course_deg is not None and not 0 <= rec.course_deg <= 360:
            problems.append(f"{where}: course {rec.course_deg}")
    return problems


def test_position_rate(entries: list[traccar.Entry]) -> None:
    traccar.measure_positions("gl200", entries, decode, also=_plausible).require(0.90)


def test_known_fixes(entries: list[traccar.Entry]) -> None:
    """Exact values for the binary frames, read by hand from their bytes."""
    lines = traccar.by_line(e for e in entries if e["decoder_class"] == "Gl200BinaryProtocolDecoder")
    for line, (when, lat, lon) in KNOWN_VALUES.items():
        recs = decode(lines[line]).decoded
        assert recs, line
        exp = {"time": when, "lat": lat, "lon": lon}
        assert not traccar.check_position(lines[line], recs[0], exp), (line, recs[0])


def test_attributes(entries: list[traccar.Entry]) -> None:
    """Every asserted Traccar attribute that the record contract has a place for."""
    traccar.compare_attributes("gl200", entries, decode, MAPPING, want=traccar.alarms_as(ALARMS), match=traccar.close,
                               pick=-1, skip_unmapped=True).require(at_least=30)


def test_attributes_nonempty(entries: list[traccar.Entry]) -> None:
    for entry in entries:
        if entry["expect"].get("attributes_nonempty"):
            recs = decode(entry).decoded
            assert recs and recs[-1].attributes, entry["line"]


def test_no_records_where_traccar_has_none(entries: list[traccar.Entry]) -> None:
    traccar.no_positions(entries, decode, errors=False)


def test_not_null_payloads_decode(entries: list[traccar.Entry]) -> None:
    not_null = traccar.with_result(entries, "not_null")
    decoded = sum(bool(decode(e).decoded) for e in not_null)
    print(f"gl200 not_null: {decoded}/{len(not_null)}")
    assert decoded == len(not_null)


def _first_frame(buf: Buffer) -> object:
    scan = next_frame(buf, 1 << 16)
    return scan.body if isinstance(scan, Frame) else scan


def test_frames(entries: list[traccar.Entry]) -> None:
    """The framer cuts what Traccar's ``Gl200FrameDecoder`` cuts (text without its ``$``)."""
    assert traccar.cut_frames(entries, _first_frame) == 4
