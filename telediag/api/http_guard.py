"""Request framing checked before twisted.web sees a byte: a pure, sans-IO head validator and framer.

twisted.web answers what it cannot parse with a bare ``400 Bad Request`` and no body, and it is more
lenient than a public endpoint should be (two Content-Length headers of one value, any byte above 0x7F
in a path, folded header lines). ``Framer`` sits in front of it: it splits the inbound byte stream into
request heads and bodies, checks every head with ``parse_head`` and either passes the head's bytes on
unchanged or says why it refused, as an ``ApiError`` the caller writes as the API's JSON error. A head
this module accepts is one twisted.web parses the same way, so the two never disagree about where a
request ends (the root of request smuggling).

Pure: no sockets, no clock, no twisted. Framing rules cite RFC 9110 (semantics) and RFC 9112 (HTTP/1.1).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from telediag.api.errors import (
    ApiError,
    bad_request,
    header_fields_too_large,
    length_required,
    too_large,
    version_not_supported,
)

HEAD_END = b"\r\n\r\n"
CRLF = b"\r\n"
MAX_LENGTH_DIGITS = 18
"""Content-Length digits looked at; a longer number (leading zeros aside) is over any body limit."""

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
"""RFC 9110 section 5.6.2: ``token = 1*tchar``."""
_REQUEST_LINE = re.compile(rb"(?P<method>" + _TOKEN + rb") (?P<target>[\x21-\x7e]+) (?P<version>HTTP/[0-9]\.[0-9])")
"""RFC 9112 section 3: ``method SP request-target SP HTTP-version``, one space each, a visible-ASCII target."""
_FIELD = re.compile(rb"(?P<name>" + _TOKEN + rb"):[ \t]*(?P<value>.*?)[ \t]*", re.DOTALL)
"""RFC 9112 section 5: ``field-name ":" OWS field-value OWS``; no whitespace before the colon (5.1)."""
_FIELD_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
"""RFC 9110 section 5.5: a field value holds visible characters, SP, HTAB and obs-text, no other controls."""
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_SUPPORTED_VERSIONS = (b"HTTP/1.0", b"HTTP/1.1")
_SINGLETONS = (b"host",)
"""Fields a request may carry once; RFC 9112 section 3.2 requires a 400 for more than one Host."""


@dataclass(frozen=True)
class FramingLimits:
    """What one request head may be; from ``[api]`` in the config."""

    max_header_bytes: int = 16 * 1024
    """Request line plus header fields, with their line ends (and any empty lines before them)."""
    max_headers: int = 64
    max_body_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Head:
    """A checked request head; ``fields`` keep their order, names lower-cased."""

    method: bytes
    target: bytes
    version: bytes
    fields: tuple[tuple[bytes, bytes], ...]
    content_length: int
    """Body bytes that follow the head (0 when the request has none)."""


def _show(value: bytes, limit: int = 40) -> str:
    """A short printable excerpt of client bytes for an error message."""
    text = value[:limit].decode("ascii", "backslashreplace")
    return repr(text + ("..." if len(value) > limit else ""))


def check_line_ends(head: bytes) -> None:
    """400 unless every CR and LF in ``head`` is part of a CRLF (RFC 9112 section 2.2).

    twisted.web splits lines at a bare LF and keeps a bare CR inside a value; refusing both means
    every line is read the same way here and there.
    """
    pairs = head.count(CRLF)
    if head.count(b"\r") != pairs or head.count(b"\n") != pairs:
        raise bad_request("every line of the request head must end with CRLF (no bare CR or LF)")


def parse_head(raw: bytes, limits: FramingLimits) -> Head:
    """Check one request head, from its request line through the empty line that ends it.

    Raises ``ApiError``: 400 for malformed syntax, a non-ASCII target, a folded line, a repeated Host,
    a Content-Length that is not one ASCII number or comes with Transfer-Encoding; 411 for a
    Transfer-Encoding alone; 413 for a declared body over the limit; 431 for too many or too long
    header fields; 505 for an HTTP version other than 1.0 and 1.1.
    """
    if len(raw) > limits.max_header_bytes:
        raise header_fields_too_large(f"the request head is longer than {limits.max_header_bytes} bytes")
    if not raw.endswith(HEAD_END):
        raise bad_request("the request head must end with an empty line (CRLF CRLF)")
    check_line_ends(raw)
    lines = raw[: -len(HEAD_END)].split(CRLF)
    request_line, field_lines = lines[0], lines[1:]
    if len(field_lines) > limits.max_headers:
        raise header_fields_too_large(f"more than {limits.max_headers} header fields")
    method, target, version = _request_line(request_line)
    fields = [_field(line) for line in field_lines]
    for name in _SINGLETONS:
        if sum(1 for field, _ in fields if field == name) > 1:
            raise bad_request(f"more than one {name.decode().title()} header", code="duplicate_header")
    return Head(method, target, version, tuple(fields), _content_length(fields, limits))


def _request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    if any(byte > 0x7E for byte in line):
        raise bad_request("the request target must be ASCII; percent-encode other characters (RFC 3986 section 2.1)")
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise bad_request(f"the request line {_show(line)} is not METHOD SP TARGET SP HTTP/1.1")
    version = match["version"]
    if version not in _SUPPORTED_VERSIONS:
        raise version_not_supported()
    return match["method"], match["target"], version


def _field(line: bytes) -> tuple[bytes, bytes]:
    if line[:1] in (b" ", b"\t"):
        raise bad_request("folded header lines (obs-fold) are not accepted (RFC 9112 section 5.2)")
    match = _FIELD.fullmatch(line)
    if match is None:
        raise bad_request(f"the header line {_show(line)} is not NAME: VALUE")
    value = match["value"]
    if _FIELD_CONTROL.search(value):
        raise bad_request(f"the value of header {_show(match['name'])} contains control characters")
    return match["name"].lower(), value


def _content_length(fields: list[tuple[bytes, bytes]], limits: FramingLimits) -> int:
    """The body length the head declares, by stricter rules than RFC 9112 section 6.3 requires."""
    lengths = [value for name, value in fields if name == b"content-length"]
    transfer = [value for name, value in fields if name == b"transfer-encoding"]
    if transfer and lengths:
        raise bad_request("Content-Length and Transfer-Encoding together are ambiguous (RFC 9112 section 6.1); "
                          "send the body with a Content-Length only", code="invalid_framing")
    if transfer:
        raise length_required()
    if not lengths:
        return 0
    if len(lengths) > 1:
        raise bad_request("more than one Content-Length header; send exactly one",
                          code="invalid_content_length")
    value = lengths[0]
    if not value or not all(0x30 <= byte <= 0x39 for byte in value):
        raise bad_request(f"Content-Length {_show(value)} is not a number of bytes (ASCII digits only)",
                          code="invalid_content_length")
    significant = value.lstrip(b"0")
    if len(significant) > MAX_LENGTH_DIGITS or int(significant or b"0") > limits.max_body_bytes:
        raise too_large(limits.max_body_bytes)
    return int(significant or b"0")


# --- the byte stream, request by request ------------------------------------------------------------


@dataclass(frozen=True)
class HeadStarted:
    """The first byte of a request head arrived (the header deadline starts)."""


@dataclass(frozen=True)
class HeadPassed:
    """A whole, checked head: ``data`` goes on to the HTTP parser unchanged (leading empty lines dropped)."""

    data: bytes
    head: Head


@dataclass(frozen=True)
class BodyData:
    """Bytes of the current request's body."""

    data: bytes


@dataclass(frozen=True)
class BodyDone:
    """The last byte of the declared body arrived (the body deadline stops)."""


@dataclass(frozen=True)
class Refused:
    """The stream broke a rule; nothing after this is read. ``error`` is the answer to send."""

    error: ApiError


Event = HeadStarted | HeadPassed | BodyData | BodyDone | Refused


class _State(enum.Enum):
    HEAD = "head"
    BODY = "body"
    ERROR = "error"


class Framer:
    """Splits an inbound HTTP/1.1 byte stream into checked heads and exactly-counted bodies.

    ``feed`` takes bytes as they arrive (whole, byte by byte or several pipelined requests at once) and
    returns events in order. After a ``Refused`` the framer is in an error state and ignores all input.
    A head arriving whole is found in the received bytes without copying them; only a head that arrives
    in pieces is gathered, at most ``max_header_bytes`` of it, so pipelined requests cost linear time.
    """

    def __init__(self, limits: FramingLimits) -> None:
        self.limits = limits
        self._state = _State.HEAD
        self._buffer = bytearray()
        """The start of a head that arrived in pieces."""
        self._scanned = 0
        """Buffer bytes already searched for the head's end and for bare line ends."""
        self._lead = 0
        """Where the buffered head starts after the empty lines before it."""
        self._body_left = 0

    @property
    def in_body(self) -> bool:
        """Whether the head of the current request went on and its body is still arriving."""
        return self._state is _State.BODY

    @property
    def in_head(self) -> bool:
        """Whether part of a request head is buffered."""
        return self._state is _State.HEAD and bool(self._buffer)

    def feed(self, data: bytes) -> list[Event]:
        """Events for ``data``; never raises for anything a client sends."""
        events: list[Event] = []
        data = bytes(data)
        position = 0
        while position < len(data) and self._state is not _State.ERROR:
            if self._state is _State.BODY:
                take = min(self._body_left, len(data) - position)
                events.append(BodyData(data[position:position + take]))
                position += take
                self._body_left -= take
                if self._body_left == 0:
                    events.append(BodyDone())
                    self._state = _State.HEAD
                continue
            if not self._buffer:
                events.append(HeadStarted())
            try:
                position, passed = self._head(data, position)
            except ApiError as error:
                events.append(Refused(error))
                self._state = _State.ERROR
                self._buffer.clear()
                break
            if passed is None:
                break
            events.append(passed)
            if passed.head.content_length:
                self._state = _State.BODY
                self._body_left = passed.head.content_length
        return events

    def _head(self, data: bytes, position: int) -> tuple[int, HeadPassed | None]:
        """Look for the end of the head that starts in the buffer or at ``data[position]``.

        Returns where reading goes on in ``data`` and the head once it is whole. Bytes past
        ``max_header_bytes`` (plus the final CRLF CRLF) cannot belong to an acceptable head, so no more
        than that is ever looked at or kept.
        """
        window = self.limits.max_header_bytes + len(HEAD_END)
        if not self._buffer:
            stop = min(len(data), position + window)
            found = self._find(data, position, stop, position, position)
            if found is not None:
                start, end = found
                raw = data[start:end]
                return end, HeadPassed(raw, parse_head(raw, self.limits))
            self._buffer += data[position:stop]
            self._scanned = len(self._buffer)
            self._lead = self._skip_empty_lines(self._buffer, 0, len(self._buffer))
            self._check_size()
            return stop, None
        before = len(self._buffer)
        piece = data[position:position + window - before]
        self._buffer += piece
        found = self._find(self._buffer, 0, len(self._buffer), self._scanned, self._lead)
        if found is None:
            self._scanned = len(self._buffer)
            self._lead = self._skip_empty_lines(self._buffer, self._lead, len(self._buffer))
            self._check_size()
            return position + len(piece), None
        start, end = found
        raw = bytes(self._buffer[start:end])
        self._buffer.clear()
        self._scanned = self._lead = 0
        return position + end - before, HeadPassed(raw, parse_head(raw, self.limits))

    @staticmethod
    def _skip_empty_lines(source: bytes | bytearray, start: int, stop: int) -> int:
        """Past the empty lines a server should ignore before a request line (RFC 9112 section 2.2)."""
        while start + len(CRLF) <= stop and source.startswith(CRLF, start):
            start += len(CRLF)
        return start

    def _find(
        self, source: bytes | bytearray, begin: int, stop: int, scanned: int, lead: int,
    ) -> tuple[int, int] | None:
        """``(start, end)`` of the head in ``source[begin:stop]`` (start after any empty lines, end after
        CRLF CRLF), or None while it is incomplete. Bytes before ``scanned`` were looked at already, and
        ``lead`` is where the empty-line scan resumes."""
        start = self._skip_empty_lines(source, lead, stop)
        end = source.find(HEAD_END, max(start, scanned - len(HEAD_END) + 1), stop)
        checked = scanned - 1 if scanned > begin and source[scanned - 1] == 0x0D else scanned
        region = source[checked:end + len(HEAD_END) if end >= 0 else stop]
        if end < 0 and region.endswith(b"\r"):
            region = region[:-1]  # its LF may still come
        pairs = region.count(CRLF)
        if region.count(b"\n") != pairs or region.count(b"\r") != pairs:
            raise bad_request("every line of the request head must end with CRLF (no bare CR or LF)")
        if end < 0:
            return None
        end += len(HEAD_END)
        if end - begin > self.limits.max_header_bytes:
            raise header_fields_too_large(f"the request head is longer than {self.limits.max_header_bytes} bytes")
        return start, end

    def _check_size(self) -> None:
        if len(self._buffer) > self.limits.max_header_bytes:
            raise header_fields_too_large(f"the request head is longer than {self.limits.max_header_bytes} bytes")
