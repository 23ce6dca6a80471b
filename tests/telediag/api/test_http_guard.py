"""The request-head validator and framer on their own: no sockets, no clock.

Input is fed whole, byte by byte and with trailing bytes, as h11's tests do.
"""

from __future__ import annotations

import pytest

from telediag.api.errors import ApiError
from telediag.api.http_guard import (
    BodyData,
    BodyDone,
    Framer,
    FramingLimits,
    HeadPassed,
    HeadStarted,
    Refused,
    check_line_ends,
    parse_head,
)

LIMITS = FramingLimits(max_header_bytes=1024, max_headers=8, max_body_bytes=100)
GET = b"GET /api/v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer abc\r\n\r\n"
POST = b"POST /api/v1/connectivity/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"


def refusal(raw: bytes, limits: FramingLimits = LIMITS) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_head(raw, limits)
    return caught.value


def stream(data: bytes, chunk: int | None = None, limits: FramingLimits = LIMITS) -> list[object]:
    """Every event for ``data`` fed whole or in pieces of ``chunk`` bytes; body pieces joined."""
    framer = Framer(limits)
    events: list[object] = []
    pieces = [data] if chunk is None else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        events += framer.feed(piece)
    joined: list[object] = []
    for event in events:
        if isinstance(event, BodyData) and joined and isinstance(joined[-1], BodyData):
            joined[-1] = BodyData(joined[-1].data + event.data)
        else:
            joined.append(event)
    return joined


def test_a_good_head_is_parsed() -> None:
    head = parse_head(GET, LIMITS)
    assert (head.method, head.target, head.version, head.content_length) == (
        b"GET", b"/api/v1/devices", b"HTTP/1.1", 0)
    assert head.fields == ((b"host", b"127.0.0.1"), (b"authorization", b"Bearer abc"))
    assert parse_head(b"HEAD / HTTP/1.0\r\nContent-Length: 007\r\nX-Name: caf\xc3\xa9\r\n\r\n",
                      LIMITS).content_length == 7  # obs-text in a value is allowed (RFC 9110 5.5)


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "invalid_content_length"),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid_content_length"),
    (b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, "invalid_content_length"),
    (b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "invalid_content_length"),
    (b"POST / HTTP/1.1\r\nContent-Length: \xd9\xa1\r\n\r\n", 400, "invalid_content_length"),  # Arabic-Indic 1
    (b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "invalid_content_length"),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", 400, "invalid_content_length"),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "invalid_framing"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "length_required"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 411, "length_required"),
    (b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413, "payload_too_large"),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999999\r\n\r\n", 413, "payload_too_large"),
    (b"GET /api/v1/tickets/1\xd9\xa1 HTTP/1.1\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/2.0\r\n\r\n", 505, "http_version_not_supported"),
    (b"GET / HTTP/1.1 \r\n\r\n", 400, "bad_request"),
    (b"GET  / HTTP/1.1\r\n\r\n", 400, "bad_request"),
    (b"G(T / HTTP/1.1\r\n\r\n", 400, "bad_request"),
    (b"GET / FTP/1.1\r\n\r\n", 400, "bad_request"),
    (b"GET /\x7f HTTP/1.1\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate_header"),
    (b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, "bad_request"),
])
def test_malformed_heads_are_refused_with_a_status_and_code(raw: bytes, status: int, code: str) -> None:
    error = refusal(raw)
    assert (error.status, error.code) == (status, code), error.message
    events = stream(raw)
    assert isinstance(events[-1], Refused) and events[-1].error.status == status
    assert not any(isinstance(e, HeadPassed) for e in events)


def test_header_count_and_size_limits_are_431() -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(LIMITS.max_headers))
    assert parse_head(b"GET / HTTP/1.1\r\n" + fields + b"\r\n", LIMITS).content_length == 0
    many = refusal(b"GET / HTTP/1.1\r\n" + fields + b"X-last: v\r\n\r\n")
    assert (many.status, many.code) == (431, "header_fields_too_large")
    big = refusal(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 1024 + b"\r\n\r\n")
    assert big.status == 431


def test_an_endless_head_is_refused_as_soon_as_it_passes_the_limit() -> None:
    framer = Framer(LIMITS)
    assert framer.feed(b"GET / HTTP/1.1\r\nX-Big: ") == [HeadStarted()]
    assert framer.feed(b"a" * 900) == []
    events = framer.feed(b"a" * 200)  # no CRLF CRLF yet, but already more than max_header_bytes
    assert [type(e) for e in events] == [Refused] and events[0].error.status == 431
    assert framer.feed(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n") == []  # nothing is read after a refusal


def test_a_bare_line_feed_is_refused_before_the_head_ends() -> None:
    framer = Framer(LIMITS)
    events = framer.feed(b"GET / HTTP/1.1\nHost: x\n")
    assert isinstance(events[-1], Refused) and events[-1].error.status == 400
    split = Framer(LIMITS)
    assert split.feed(b"GET / HTTP/1.1\r") == [HeadStarted()]  # its LF may still come
    assert split.feed(b"\nHost: x\r") == []
    events = split.feed(b"X")  # it did not
    assert isinstance(events[-1], Refused) and events[-1].error.status == 400
    with pytest.raises(ApiError):
        check_line_ends(b"a\r\nb\nc")
    check_line_ends(b"a\r\nb\r\n\r\n")


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
def test_whole_byte_by_byte_and_pipelined_give_the_same_events(chunk: int | None) -> None:
    data = b"\r\n" + POST + GET + b"\r\n" + POST + b"GET /partial"
    events = stream(data, chunk)
    post_head = POST[: POST.index(b"hello")]
    assert events == [
        HeadStarted(), HeadPassed(post_head, parse_head(post_head, LIMITS)), BodyData(b"hello"), BodyDone(),
        HeadStarted(), HeadPassed(GET, parse_head(GET, LIMITS)),
        HeadStarted(), HeadPassed(post_head, parse_head(post_head, LIMITS)), BodyData(b"hello"), BodyDone(),
        HeadStarted(),
    ]


def test_state_follows_the_stream() -> None:
    framer = Framer(LIMITS)
    assert not framer.in_head and not framer.in_body
    framer.feed(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n")
    assert framer.in_head
    framer.feed(b"\r\nab")
    assert framer.in_body and not framer.in_head
    assert framer.feed(b"cG") == [BodyData(b"c"), BodyDone(), HeadStarted()]
    assert framer.in_head


def test_empty_lines_before_a_request_count_toward_the_head_limit() -> None:
    framer = Framer(LIMITS)
    events = framer.feed(b"\r\n" * 600)  # 1200 bytes of nothing but empty lines
    assert isinstance(events[-1], Refused) and events[-1].error.status == 431
    trickled = Framer(LIMITS)
    events = [event for _ in range(600) for byte in (b"\r", b"\n") for event in trickled.feed(byte)]
    assert events[0] == HeadStarted() and isinstance(events[-1], Refused) and events[-1].error.status == 431


def test_many_pipelined_requests_in_one_read() -> None:
    events = Framer(LIMITS).feed(GET * 500 + POST * 500)
    assert sum(isinstance(event, HeadPassed) for event in events) == 1000
    assert sum(isinstance(event, BodyDone) for event in events) == 500


def test_a_body_passes_through_unchecked_and_exactly_counted() -> None:
    body = b"\n\r\x00\xff GET / HTTP/1.1\r\n\r\n"  # anything, including what looks like a request
    head = b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    events = stream(head + body + GET, chunk=5)
    assert events[2] == BodyData(body) and events[3] == BodyDone()
    assert isinstance(events[-1], HeadPassed) and events[-1].data == GET
