"""OsmAnd against the requests of Traccar's ``OsmAndProtocolDecoderTest``.

The vectors give each request as method, URL, headers and body; they are written out here as
HTTP/1.1 requests (with the ``Host`` and ``Content-Length`` a client sends) and fed to a fresh
session. The vectors assert no coordinates, so the decoded position is checked against the
request itself: the numbers sent are the numbers stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from protocols.core import Login, Message, ProtocolError, Report
from protocols.osmand import ServerSession
from protocols.record import Record
from tests.conftest import report_rate, traccar_vectors

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def http_request(http: dict[str, Any]) -> bytes:
    body = (http.get("body") or "").encode("utf-8")
    head = f"{http['method']} {http['url']} HTTP/1.1\r\nHost: 127.0.0.1:5055\r\n"
    for name, value in (http.get("headers") or {}).items():
        head += f"{name}: {value}\r\n"
    if body or http["method"] == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def decode(entry: dict[str, Any]) -> tuple[list[Message], list[ProtocolError]]:
    session = ServerSession()
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (http_request(entry["http"]), b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as exc:
            errors.append(exc)
    return messages, errors


def records(messages: list[Message]) -> list[Record]:
    return [r for m in messages if isinstance(m, Report) for r in m.records]


def sent_position(http: dict[str, Any]) -> tuple[float, float] | None:
    """The coordinates the request carries (query/form or JSON), to compare with the record."""
    if http.get("body") and (http.get("headers") or {}).get("Content-Type", "").startswith("application/json"):
        coords = json.loads(http["body"])["location"]["coords"]
        return coords["latitude"], coords["longitude"]
    params = dict(parse_qsl(urlsplit(http["url"]).query))
    if "lat" in params:
        return float(params["lat"]), float(params["lon"])
    if "location" in params:
        lat, lon = params["location"].split(",")
        return float(lat), float(lon)
    return None


@pytest.fixture(scope="module")
def entries(vectors_dir: Path) -> list[dict[str, Any]]:
    found = list(traccar_vectors(vectors_dir, "osmand"))
    assert len(found) == 15, len(found)
    return found


def test_position_rate(entries: list[dict[str, Any]]) -> None:
    total = decoded = checked = 0
    failures = []
    for entry in entries:
        if entry["expect"]["result"] != "position":
            continue
        total += 1
        messages, errors = decode(entry)
        recs = records(messages)
        if not recs:
            failures.append(f"{entry['line']}: {[str(e) for e in errors]}")
            continue
        decoded += 1
        assert isinstance(messages[0], Login) and messages[0].imei == recs[0].imei
        assert messages[-1].ack == OK
        sent = sent_position(entry["http"])
        assert sent is not None, entry["line"]
        assert (recs[0].lat, recs[0].lon) == sent, entry["line"]  # exactly the numbers sent
        checked += 1
    report_rate(f"osmand: {decoded}/{total} = {decoded / total:.1%} of the payloads Traccar decodes to positions")
    print("osmand not decoded:", "; ".join(failures) or "none", f"(lat/lon checked exactly on {checked})")
    assert decoded / total >= 0.90


def test_times(entries: list[dict[str, Any]]) -> None:
    """Epoch seconds, epoch milliseconds, ISO 8601 with Z, and ``yyyy-MM-dd HH:mm:ss`` (UTC)."""
    by_line = {e["line"]: records(decode(e)[0]) for e in entries}
    assert by_line[50][0].fix_time == 1377177267.0
    assert by_line[44][0].fix_time == 1442068686.579
    assert by_line[41][0].fix_time == 1453920947.0  # 2016-01-27T18:55:47Z
    assert by_line[47][0].fix_time == 1401873011.0  # 2014-06-04 09:10:11
    assert by_line[15][0].fix_time == 1749995112.862  # 2025-06-15T13:45:12.862Z
    assert by_line[56][0].fix_time is None  # no timestamp: the store keeps the server time


def test_attribute_and_units(entries: list[dict[str, Any]]) -> None:
    by_line = {e["line"]: records(decode(e)[0]) for e in entries}
    assert by_line[18][0].attributes["device_integer_twelve_test"] == 12
    assert by_line[65][0].speed_kmh == pytest.approx(40 * 1.852)  # query speed: knots
    assert by_line[25][0].speed_kmh == pytest.approx(18.67 * 3.6)  # JSON coords.speed: m/s
    assert by_line[65][0].ignition is True
    assert by_line[25][0].attributes["battery_pct"] == 79
    assert by_line[22][0].speed_kmh is None and by_line[22][0].course_deg is None  # -1: unknown


def test_null_and_not_null(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        result = entry["expect"]["result"]
        messages, errors = decode(entry)
        if result == "null":
            assert records(messages) == []
            (error,) = errors
            assert error.reply is not None and not error.close
            head, _, body = error.reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n")
            assert orjson.loads(body)["error"]["code"] == "bad_request"
        elif result == "not_null":
            (rec,) = records(messages)
            assert rec.lat is None and rec.valid is False and len(rec.attributes["cells"]) == 2
            report_rate("osmand not_null: 1/1 decoded to a record (cell and Wi-Fi only)")
