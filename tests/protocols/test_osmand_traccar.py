"""OsmAnd against the requests of Traccar's ``OsmAndProtocolDecoderTest``.

The vectors give each request as method, URL, headers and body; they are written out here as
HTTP/1.1 requests (with the ``Host`` and ``Content-Length`` a client sends) and fed to a fresh
session. The vectors assert no coordinates, so the decoded position is checked against the
request itself: the numbers sent are the numbers stored.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from protocols.core import Report
from protocols.osmand import ServerSession
from tests.conftest import report_rate
from tests.protocols import traccar_vectors as traccar

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

entries = traccar.vectors("osmand", count=15)


def http_request(http: dict[str, Any]) -> bytes:
    body = (http.get("body") or "").encode("utf-8")
    head = f"{http['method']} {http['url']} HTTP/1.1\r\nHost: 127.0.0.1:5055\r\n"
    for name, value in (http.get("headers") or {}).items():
        head += f"{name}: {value}\r\n"
    if body or http["method"] == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def decode(entry: traccar.Entry) -> traccar.Fed:
    return traccar.feed(ServerSession(), http_request(entry["http"]))


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


def test_position_rate(entries: list[traccar.Entry]) -> None:
    rate = traccar.PositionRate("osmand")
    for entry in traccar.with_result(entries, "position"):
        fed = decode(entry)
        if rate.count(entry, fed):
            rate.problems += traccar.identified(entry, fed)
            assert isinstance(last := fed.messages[-1], Report) and last.ack == OK, entry["line"]
            sent = sent_position(entry["http"])
            assert sent is not None, entry["line"]
            assert (fed.decoded[0].lat, fed.decoded[0].lon) == sent, entry["line"]  # exactly the numbers sent
            rate.checked += 1
    rate.require(0.90)


def test_times(entries: list[traccar.Entry]) -> None:
    """Epoch seconds, epoch milliseconds, ISO 8601 with Z, and ``yyyy-MM-dd HH:mm:ss`` (UTC)."""
    by_line = {e["line"]: decode(e).decoded for e in entries}
    assert by_line[50][0].fix_time == 1377177267.0
    assert by_line[44][0].fix_time == 1442068686.579
    assert by_line[41][0].fix_time == 1453920947.0  # 2016-01-27T18:55:47Z
    assert by_line[47][0].fix_time == 1401873011.0  # 2014-06-04 09:10:11
    assert by_line[15][0].fix_time == 1749995112.862  # 2025-06-15T13:45:12.862Z
    assert by_line[56][0].fix_time is None  # no timestamp: the store keeps the server time


def test_attribute_and_units(entries: list[traccar.Entry]) -> None:
    by_line = {e["line"]: decode(e).decoded for e in entries}
    assert by_line[18][0].attributes["device_integer_twelve_test"] == 12
    assert by_line[65][0].speed_kmh == pytest.approx(40 * 1.852)  # query speed: knots
    assert by_line[25][0].speed_kmh == pytest.approx(18.67 * 3.6)  # JSON coords.speed: m/s
    assert by_line[65][0].ignition is True
    assert by_line[25][0].attributes["battery_pct"] == 79
    assert by_line[22][0].speed_kmh is None and by_line[22][0].course_deg is None  # -1: unknown


def test_null_and_not_null(entries: list[traccar.Entry]) -> None:
    for entry in entries:
        result = entry["expect"]["result"]
        fed = decode(entry)
        if result == "null":
            assert fed.decoded == []
            (error,) = fed.errors
            assert error.reply is not None and not error.close
            head, _, body = error.reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n")
            assert orjson.loads(body)["error"]["code"] == "bad_request"
        elif result == "not_null":
            (rec,) = fed.decoded
            assert rec.lat is None and rec.valid is False and len(rec.attributes["cells"]) == 2
            report_rate("osmand not_null: 1/1 decoded to a record (cell and Wi-Fi only)")
