"""Teltonika codec against the payloads of Traccar's test suite (traccar_vectors.jsonl).

Traccar's decoder does not check the CRC, the data length or N2, and seven of its "positions"
payloads are damaged (bad CRC, data length 0, truncated after the records). Two rates are measured:

* live path (``ServerSession`` / ``decode_datagram``), strict: every well-formed payload must decode
  and every damaged one must be refused (ProtocolError) or left waiting for the rest of the frame;
* Traccar-equivalent (``decode_captured``: the same decoder, reading a damaged frame as Traccar does),
  which must reach 95 %.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from protocols.core import Login, ProtocolError, crc16_ibm
from protocols.record import parse_iso_utc
from protocols.teltonika import ServerSession, decode_captured, decode_datagram
from tests.conftest import report_rate
from tests.protocols import traccar_vectors as traccar

IMEI = "123456789012345"

entries = traccar.vectors("teltonika")


def payload(entry: traccar.Entry) -> bytes:
    assert entry["payload_kind"] == "hex"
    return bytes.fromhex(entry["payload"])


def is_udp(entry: traccar.Entry) -> bool:
    return bool(entry["decoder_args"] == ["true"])


def well_formed(data: bytes) -> bool:
    """A TCP frame whose data length and CRC agree with its bytes (checked independently here)."""
    if len(data) < 12 or data[:4] != b"\x00\x00\x00\x00":
        return True  # handshake / keep-alive: nothing to check
    (length,) = struct.unpack_from(">I", data, 4)
    if length + 12 != len(data):
        return False
    (crc,) = struct.unpack_from(">I", data, 8 + length)
    return bool(crc == crc16_ibm(data[8 : 8 + length]))


def decode_live(entry: traccar.Entry) -> tuple[list[Any], ProtocolError | None, int]:
    """Messages, error and bytes left waiting, decoding as the running server would."""
    data = payload(entry)
    try:
        if is_udp(entry):
            return decode_datagram(data), None, 0
        handshake_done = data[:2] == b"\x00\x00"
        session = ServerSession(imei=IMEI if handshake_done else None)
        return session.feed(data), None, session.buffered
    except ProtocolError as error:
        return [], error, 0


def records_of(messages: list[Any]) -> list[Any]:
    return [record for message in messages for record in getattr(message, "records", ())]


def check_expectations(entry: traccar.Entry, records: list[Any]) -> None:
    """Asserted time/lat/lon, location sanity and attributes with an equivalent here."""
    expect = entry["expect"]
    first = records[0]
    if "time" in expect:
        assert first.fix_time == pytest.approx(parse_iso_utc(expect["time"]), abs=0.001)
    if "lat" in expect:
        assert first.lat == pytest.approx(expect["lat"], abs=1e-5)
    if "lon" in expect:
        assert first.lon == pytest.approx(expect["lon"], abs=1e-5)
    if expect.get("check_location") and expect.get("location_sanity"):
        for record in records:
            if record.lat is not None:
                assert -90 <= record.lat <= 90 and -180 <= record.lon <= 180
            assert record.fix_time is not None and record.fix_time > 946684800  # after 2000
    attribute = expect.get("attribute")
    if attribute is not None:
        check_attribute(attribute, expect["value"], first.attributes)


def check_attribute(name: str, value: Any, attributes: dict[str, Any]) -> None:
    """Traccar's own attribute names mapped to what this codec keeps."""
    if name == "driverUniqueId":
        assert attributes["driver_id"] == value  # codec 13 "GTSL|...|<driver>|..."
    elif name == "eyeTemp1":  # Teltonika EYE sensor temperature, IO 10800, signed 0.01 degC
        raw = attributes["io10800"]
        assert (raw - 0x10000 if raw >= 0x8000 else raw) / 100 == value
    elif name == "tag1Voltage":  # BLE tag list, NX element 548: kept raw as hex
        assert isinstance(attributes["io548"], str)
    elif name == "tag1Battery":  # BLE sensor list, NX element 10831; parameter 14 = battery
        assert f"0e02{value:04x}" in attributes["io10831"]
    else:
        pytest.fail(f"no mapping for Traccar attribute {name}")


def test_positions_live_path(entries: list[traccar.Entry]) -> None:
    """Strict path: all well-formed payloads decode; damaged ones are refused, never half-read."""
    chosen = traccar.with_result(entries, *traccar.POSITION)
    ok = 0
    for entry in chosen:
        messages, error, waiting = decode_live(entry)
        records = records_of(messages)
        if records:
            ok += 1
            check_expectations(entry, records)
        elif is_udp(entry) or well_formed(payload(entry)):
            pytest.fail(f"line {entry['line']}: well-formed payload gave no record ({error!r})")
        else:
            assert error is not None or waiting > 0, entry["line"]
    total = len(chosen)
    report_rate(f"teltonika live path (strict CRC/length): {ok}/{total} = {ok / total:.1%}")
    assert ok == sum(1 for e in chosen if is_udp(e) or well_formed(payload(e)))


def test_positions_traccar_equivalent(entries: list[traccar.Entry]) -> None:
    """Read as Traccar reads them (damaged frames salvaged): at least 95 % give a record."""
    chosen = traccar.with_result(entries, *traccar.POSITION)
    ok = 0
    for entry in chosen:
        data = payload(entry)
        try:
            messages = decode_datagram(data) if is_udp(entry) else decode_captured(data, IMEI)
        except ProtocolError:
            continue
        records = records_of(messages)
        if records:
            ok += 1
            check_expectations(entry, records)
    total = len(chosen)
    report_rate(f"teltonika: {ok}/{total} = {ok / total:.1%}")
    assert ok / total >= 0.95


def test_null_results_give_no_records(entries: list[traccar.Entry]) -> None:
    chosen = traccar.with_result(entries, "null")
    assert chosen
    for entry in chosen:
        messages, _error, _waiting = decode_live(entry)
        assert records_of(messages) == [], entry["line"]
        try:
            assert records_of(decode_captured(payload(entry), IMEI)) == [], entry["line"]
        except ProtocolError:
            pass


def test_frames(entries: list[traccar.Entry]) -> None:
    """verifyFrame: a leading 0xFF is a frame of its own (keep-alive), then the handshake frame."""
    chosen = traccar.with_result(entries, "frame")
    assert chosen
    for entry in chosen:
        data = payload(entry)
        frame = bytes.fromhex(entry["expect"]["frame"])
        session = ServerSession()
        assert session.feed(frame) == ([] if frame == b"\xff" else [Login(IMEI, b"\x01", b"\x00")])
        rest = session.feed(data[len(frame) :])
        assert session.buffered == 0
        assert all(isinstance(m, Login) for m in rest)
