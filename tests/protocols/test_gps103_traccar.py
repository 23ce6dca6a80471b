"""GPS103 against the payloads of Traccar's ``Gps103ProtocolDecoderTest``.

Traccar's unit tests hand each sentence to the decoder without the frame decoder, so most lack
the ``;`` the frame decoder cuts on; the terminator is added here (a ``*``-terminated sentence
already has one). Each payload goes to a fresh session: the device is identified by the payload
itself, as it is on a real connection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocols.core import CommandResponse, Login, Message, ProtocolError, Report
from protocols.gps103 import ServerSession
from protocols.record import Record, parse_iso_utc
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

ALARMS = {"vibration": "vibration", "sos": "sos", "powerCut": "power_cut", "lowBattery": "low_battery"}

MAPPING: dict[str, Callable[[Record], Any]] = {
    "alarm": lambda r: r.event,
    "course": lambda r: r.course_deg,
    "temp1": lambda r: r.attributes.get("temperature_c"),
    "fuel1": lambda r: r.attributes.get("fuel1_pct"),
}


def payload(entry: dict[str, Any]) -> bytes:
    data = entry["payload"].encode("latin-1")
    return data if data.endswith((b";", b"*")) else data + b";"


def decode(entry: dict[str, Any]) -> tuple[list[Message], list[ProtocolError]]:
    session = ServerSession()
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (payload(entry), b""):
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
    found = list(traccar_vectors(vectors_dir, "gps103"))
    assert len(found) == 81, len(found)
    return found


def test_position_rate(entries: list[dict[str, Any]]) -> None:
    total = decoded = checked = 0
    failures, problems = [], []
    for entry in entries:
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
    report_rate(f"gps103: {decoded}/{total} = {decoded / total:.1%} of the payloads Traccar decodes to positions")
    print("gps103 not decoded:", "; ".join(failures) or "none", f"(exact time/lat/lon checked on {checked})")
    assert not problems, problems
    assert checked == 3
    assert decoded / total >= 0.90


def test_attributes(entries: list[dict[str, Any]]) -> None:
    checked = 0
    for entry in entries:
        exp = entry["expect"]
        if entry["method"] == "verifyAttributes":
            (rec,) = records(decode(entry)[0])
            assert rec.attributes or rec.event, entry["line"]
            checked += 1
        elif entry["method"] == "verifyAttribute":
            (rec,) = records(decode(entry)[0])
            want = ALARMS.get(exp["value"], exp["value"]) if exp["attribute"] == "alarm" else exp["value"]
            assert MAPPING[exp["attribute"]](rec) == pytest.approx(want), entry["line"]
            checked += 1
    assert checked == 16


def test_null_and_not_null(entries: list[dict[str, Any]]) -> None:
    not_null = 0
    for entry in entries:
        result = entry["expect"]["result"]
        if result == "null":
            messages, _ = decode(entry)
            assert_no_position(messages, entry["line"])
            assert all(isinstance(m, (Login, Report)) for m in messages)
        elif result == "not_null":
            not_null += bool(records(decode(entry)[0]))
    report_rate(f"gps103 not_null: {not_null}/5 decoded to a record")
    assert not_null == 5


def test_login_and_heartbeat_vectors(entries: list[dict[str, Any]]) -> None:
    by_line = {e["line"]: e for e in entries}
    (login,) = decode(by_line[157])[0]
    assert login == Login("359586015829802", accept=b"LOAD", reject=None)
    (heartbeat,) = decode(by_line[161])[0]
    assert heartbeat == Login("359586015829802", accept=b"ON", reject=None)
    glued = decode(by_line[120])[0]  # "<imei>imei:<imei>,tracker,...": ON, then the report
    assert glued[0] == Login("359769031878322", accept=b"ON", reject=None)
    assert len(records(glued)) == 1
