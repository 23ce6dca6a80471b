"""What an OsmAnd server answers: 200 after commit, 400 that keeps the connection, limits that close."""

from __future__ import annotations

import orjson
import pytest

from protocols.core import Login, ProtocolError, Report
from protocols.osmand import DEFAULT_PORT, REJECT_JSON, REJECT_QUERY, DeviceCodec, ServerSession
from protocols.record import Record

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
"""What a device-side parser must read as a refusal (the server's own 400s carry a JSON body)."""


def json_error(reply: bytes | None, status: int = 400) -> dict:
    """The ``{"error": {"code", "message"}}`` document of an error answer, checked for its shape."""
    assert reply is not None
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    assert b"\r\nContent-Type: application/json\r\n" in head + b"\r\n", head
    assert f"Content-Length: {len(body)}".encode() in head
    error = orjson.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["message"], error
    return error


def get(query: str, extra: str = "", version: str = "1.1") -> bytes:
    return f"GET /?{query} HTTP/{version}\r\nHost: 127.0.0.1:5055\r\n{extra}\r\n".encode()


def post(body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    return (f"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


def test_default_port_and_device_codec_contract() -> None:
    assert DEFAULT_PORT == 5055
    codec = DeviceCodec("my phone".replace(" ", "-"))
    assert (codec.protocol, codec.acks_positions, codec.login()) == ("osmand", True, b"")
    rec = Record(imei="my-phone", protocol="osmand", fix_time=1.7e9, valid=True, lat=1.0, lon=2.0)
    packet = codec.encode([rec, rec])  # one packet of two requests
    assert packet.count(b"GET /?id=my-phone&timestamp=1700000000&lat=1.0&lon=2.0 HTTP/1.1\r\n") == 2
    assert codec.acks(OK[:10]) == 0
    assert codec.acks(OK[10:]) == 0  # one of the packet's two requests answered
    assert codec.acks(OK) == 1
    codec.encode([rec])
    assert codec.acks(BAD) == 0  # refused: not acknowledged
    with pytest.raises(ValueError):
        DeviceCodec("has space")


def test_each_request_is_answered_200_and_keep_alive_goes_on() -> None:
    session = ServerSession()
    login, report = session.feed(get("id=abc-1&lat=60.0&lon=30.0&timestamp=1377177267"))
    assert login == Login("abc-1", accept=None, reject=REJECT_QUERY)
    assert report.ack == OK and report.records[0].imei == "abc-1"
    reports = session.feed(get("id=abc-1&lat=60.1&lon=30.0") + get("id=abc-1&lat=60.2&lon=30.0"))
    assert [r.records[0].lat for r in reports] == [60.1, 60.2]  # pipelined, answered in order
    assert all(r.ack == OK for r in reports)


def test_bad_request_is_400_and_the_connection_stays() -> None:
    session = ServerSession()
    for query in ("lat=60.0&lon=30.0", "id=1", "id=1&lat=x&lon=1", "id=1&lat=1",
                  "id=1&lat=nan&lon=1", "id=&lat=1&lon=1", "id=1&lat=1&lon=2&timestamp=yesterday",
                  "id=1&lat=1&lon=2&sat=1e999"):
        with pytest.raises(ProtocolError) as caught:
            session.feed(get(query))
        assert json_error(caught.value.reply)["code"] == "bad_request" and caught.value.close is False, query
    _, report = session.feed(get("id=1&lat=1&lon=2"))
    assert report.ack == OK


def test_error_after_good_request_in_one_chunk_is_held_back() -> None:
    session = ServerSession()
    messages = session.feed(get("id=1&lat=1&lon=2") + get("lat=1&lon=2") + get("id=1&lat=3&lon=4"))
    assert [type(m) for m in messages] == [Login, Report]
    assert session.pending
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"")
    json_error(caught.value.reply)
    (report,) = session.feed(b"")
    assert report.records[0].lat == 3.0


def test_json_body_unknown_device_reject_and_batches() -> None:
    body = (b'{"device_id":"X9","location":[{"timestamp":"2024-01-01T00:00:00Z","coords":{"latitude":1,'
            b'"longitude":2,"speed":10,"heading":-1}},{"coords":{"latitude":3,"longitude":4}}]}')
    login, report = ServerSession().feed(post(body))
    assert login == Login("X9", accept=None, reject=REJECT_JSON)
    first, second = report.records
    assert (first.fix_time, first.speed_kmh, first.course_deg) == (1704067200.0, 36.0, None)
    assert (second.lat, second.fix_time) == (3.0, None)
    for bad in (b"{", b"[]", b'{"location":{"coords":{"latitude":1,"longitude":2}}}',
                b'{"device_id":"X9","location":{"timestamp":"2024-01-01T00:00:00Z"}}'):
        with pytest.raises(ProtocolError) as caught:
            ServerSession().feed(post(bad))
        assert json_error(caught.value.reply) and not caught.value.close


def test_form_body_chunked_and_http10() -> None:
    form = b"id=77&lat=1.5&lon=2.5&ignition=true&batt=80"
    _, report = ServerSession().feed(post(form, "application/x-www-form-urlencoded"))
    rec = report.records[0]
    assert (rec.lat, rec.ignition, rec.attributes["battery_pct"]) == (1.5, True, 80.0)
    chunked = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               + f"{len(form):x}\r\n".encode() + form + b"\r\n0\r\n\r\n")
    _, report = ServerSession().feed(chunked)
    assert report.records[0].lon == 2.5
    _, report = ServerSession().feed(get("id=77&lat=1&lon=2", version="1.0"))
    assert report.ack.startswith(b"HTTP/1.1 200 OK\r\n")


def test_another_device_on_the_connection_yields_a_second_login() -> None:
    session = ServerSession()
    session.feed(get("id=a&lat=1&lon=2"))
    login, _ = session.feed(get("id=b&lat=1&lon=2"))
    assert login.imei == "b"


def test_connection_close_is_honoured() -> None:
    session = ServerSession()
    _, report = session.feed(get("id=a&lat=1&lon=2", "Connection: close\r\n"))
    assert report.ack == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with pytest.raises(ProtocolError) as caught:
        session.feed(get("id=a&lat=1&lon=2"))
    assert caught.value.close is True


def test_limits_and_garbage_close_with_an_answer() -> None:
    with pytest.raises(ProtocolError) as caught:
        ServerSession(max_frame=256).feed(get("id=1&pad=" + "x" * 300))
    assert caught.value.close and caught.value.reply.startswith(b"HTTP/1.1 4")
    with pytest.raises(ProtocolError) as caught:
        ServerSession(max_frame=256).feed(post(b"x" * 300))
    assert caught.value.close and caught.value.reply.startswith(b"HTTP/1.1 413 ")
    chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + b"100\r\n" + b"x" * 256 + b"\r\n"
    with pytest.raises(ProtocolError) as caught:
        ServerSession(max_frame=200).feed(chunked)
    assert caught.value.close and caught.value.reply.startswith(b"HTTP/1.1 413 ")
    with pytest.raises(ProtocolError) as caught:
        ServerSession().feed(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    assert caught.value.close and caught.value.reply.startswith(b"HTTP/1.1 400 ")
    with pytest.raises(ProtocolError) as caught:
        ServerSession().feed(b"GET / HTTP/1.1\r\n\r\n")  # HTTP/1.1 without Host
    assert caught.value.close


def test_unknown_values_are_none_and_extra_parameters_are_kept() -> None:
    _, report = ServerSession().feed(get("deviceid=5&location=60.0,30.0&rpm=933&fuel=24.5&tag=abc&flag=false"))
    rec = report.records[0]
    assert (rec.fix_time, rec.speed_kmh, rec.course_deg, rec.altitude_m, rec.ignition) == (None,) * 5
    assert rec.attributes == {"rpm": 933, "fuel": 24.5, "tag": "abc", "flag": False}
    assert isinstance(report, Report)


def test_a_record_without_fix_goes_as_its_serving_cell() -> None:
    rec = Record(imei="a1", protocol="osmand", fix_time=1.7e9, valid=False,
                 attributes={"mcc": 260, "mnc": 1, "lac": 1234, "cell_id": 56789})
    for style in ("query", "form", "json"):
        _, report = ServerSession().feed(DeviceCodec("a1", style=style).encode([rec]))
        got = report.records[0]
        assert (got.lat, got.valid, got.operator, got.attributes["cell_id"]) == (None, False, 26001, 56789)


def test_every_error_answer_is_json() -> None:
    too_many = "".join(f"X-{i}: 1\r\n" for i in range(65))
    for raw, status, code in (
        (get("id=1", too_many), 431, "header_fields_too_large"),
        (get("id=1", "X-Big: " + "a" * (17 * 1024) + "\r\n"), 431, "header_fields_too_large"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400, "bad_request"),
        (post(b"x" * (65 * 1024), "text/plain"), 413, "payload_too_large"),
        (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 400, "bad_request"),
    ):
        with pytest.raises(ProtocolError) as caught:
            ServerSession().feed(raw)
        assert caught.value.close and json_error(caught.value.reply, status)["code"] == code, raw[:40]
    assert json_error(REJECT_QUERY)["code"] == "device_refused"
    assert json_error(REJECT_JSON, 404)["code"] == "device_refused"
    head = get("id=1&lat=1&lon=2")
    for cut in range(1, len(head), 7):  # a head in pieces is bounded by h11 at the same limit
        session = ServerSession(max_head=64)
        with pytest.raises(ProtocolError) as caught:
            session.feed(head[:cut] + b"X-Pad: " + b"p" * 100)
        assert json_error(caught.value.reply, 431)


def test_buffered_and_the_answer_for_the_frame_deadline() -> None:
    session = ServerSession()
    assert session.buffered == 0
    session.feed(b"GET /?id=1&lat=1&lon=2 HTTP/1.1\r\nHo")
    assert session.buffered > 0  # part of a head
    session.feed(b"st: h\r\n\r\n")
    assert session.buffered == 0
    session.feed(post(b"id=1&lat=1&lon=2", "application/x-www-form-urlencoded")[:-4])
    assert session.buffered > 0  # a head read, its body not complete
    assert json_error(session.timeout_reply(), 408)["code"] == "request_timeout"
    assert session.buffered == 0
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"more")
    assert caught.value.close


@pytest.mark.parametrize("value, fix_time, raw", [
    ("1e30", None, "1e30"),
    ("nan", None, "nan"),
    ("-inf", None, "-inf"),
    ("99999999999999999999999999999999999", None, "99999999999999999999999999999999999"),
    ("2026-13-01%2012:00:00", None, "2026-13-01 12:00:00"),
    ("9999-12-31T23:00:00-03:00", None, "9999-12-31T23:00:00-03:00"),
    ("-1", -1.0, None),  # representable: the pipeline judges it (before 2000)
    ("4102444800", 4102444.8, None),  # read as milliseconds, as Traccar does
    ("2026-01-01T12:00:00%2B01:00", 1767265200.0, None),
])
def test_timestamps_no_calendar_can_show_are_kept_raw(value: str, fix_time: float | None, raw: str | None) -> None:
    _, report = ServerSession().feed(get(f"id=1&lat=52.2&lon=21.0&timestamp={value}"))
    (rec,) = report.records
    assert rec.fix_time == fix_time
    if raw is None:
        assert "raw_fix_time" not in rec.attributes and rec.valid is True
    else:
        assert rec.attributes["raw_fix_time"] == raw and rec.valid is False
        assert rec.attributes["invalid_reason"].startswith(f"fix time {raw} ")


def test_positions_out_of_range_are_kept_for_the_pipeline_to_judge() -> None:
    _, report = ServerSession().feed(get("id=1&lat=91&lon=1e308&speed=1e9"))
    (rec,) = report.records
    assert (rec.lat, rec.lon, rec.speed_kmh) == (91.0, 1e308, 1e9 * 1.852)
