"""Watch (3G/SeTracker) frame boundaries: ``[MF*<id>*[<index>*]<len>*<content>]``.

``MF`` is a two-character maker (``3G``, ``SG``, ``CS``, ``ZJ``...), ``len`` four hex digits counting
the content after unescaping (``}`` + 01..05 stands for ``} [ ] , *``), and ``index`` an optional
sequence number some makers add (four hex digits before the length, as Traccar detects it).

The length decides where a frame ends, so binary content (voice ``TK``/``JXTK``, images ``img``)
is skipped safely whatever bytes it holds. Many text-only devices get the length wrong (the
captured payloads in Traccar's tests do too), so for text content a length that does not land on
``]`` falls back to the ``]`` that closes the frame: the first one outside brackets of the content
(a Wi-Fi name like ``[LG A/C]`` is content) that ends the input or is followed by ``[``. For binary
content only the length counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.core import Buffer, ProtocolError

OPEN, CLOSE, ESCAPE = 0x5B, 0x5D, 0x7D
UNESCAPE = {0x01: 0x7D, 0x02: 0x5B, 0x03: 0x5D, 0x04: 0x2C, 0x05: 0x2A}
ESCAPED = {v: bytes((ESCAPE, k)) for k, v in UNESCAPE.items()}

BINARY_TYPES = (b"TK,", b"JXTK,", b"img,")
"""Content that may hold any byte: framed by its length only."""

MAX_ID = 32
TEXT_LIMIT = 4096
"""Longest text frame the ``]`` fallback waits for (a position with ten Wi-Fi names is ~600)."""
_SPACE = frozenset(b"\r\n \t\x00")
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: header fields and the unescaped content."""

    maker: str
    ident: str
    index: str | None
    length: int
    content: bytes
    raw: bytes
    start: int
    """Offset of the content in ``raw``."""

    @property
    def unescaped(self) -> bytes:
        """The frame with its content unescaped (what Traccar's frame decoder passes on)."""
        return self.raw[: self.start] + self.content + b"]"


Scan = Frame | ProtocolError | None


@dataclass(frozen=True, slots=True)
class Header:
    maker: str
    ident: str
    index: str | None
    length: int
    start: int
    """Offset of the content."""


def escape(content: bytes) -> bytes:
    """Content as sent on the wire (the five reserved bytes escaped)."""
    if not any(b in ESCAPED for b in content):
        return content
    return b"".join(ESCAPED.get(b, bytes((b,))) for b in content)


def unescape_loose(data: bytes) -> bytes:
    """Unescape, keeping a ``}`` that starts no known sequence (text fallback only)."""
    if ESCAPE not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == ESCAPE and i + 1 < len(data) and data[i + 1] in UNESCAPE:
            out.append(UNESCAPE[data[i + 1]])
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def _hex4(data: bytes, at: int) -> bool | None:
    """Four hex digits then ``*`` at ``at``: True, False, or None (too few bytes to tell)."""
    got = data[at : at + 5]
    for i, b in enumerate(got):
        if (i < 4 and b not in _HEX) or (i == 4 and b != 0x2A):
            return False
    return True if len(got) == 5 else None


def parse_header(data: bytes) -> Header | bool | None:
    """The header at ``data[0] == '['``: a Header, False (not a frame), or None (need more)."""
    if len(data) < 4:
        return None if all(b in _ALNUM for b in data[1:3]) else False
    if data[1] not in _ALNUM or data[2] not in _ALNUM or data[3] != 0x2A:
        return False
    end = 4
    while end < len(data) and data[end] in _ALNUM:
        end += 1
        if end - 4 > MAX_ID:
            return False
    if end >= len(data):
        return None
    if data[end] != 0x2A or end == 4:
        return False
    first = _hex4(data, end + 1)
    if first is not True:
        return first
    second = _hex4(data, end + 6)
    if second is None:
        return None
    ident = data[4:end].decode("ascii")
    maker = data[1:3].decode("ascii")
    if second:
        return Header(maker, ident, data[end + 1 : end + 5].decode(), int(data[end + 6 : end + 10], 16), end + 11)
    return Header(maker, ident, None, int(data[end + 1 : end + 5], 16), end + 6)


def _is_binary(data: bytes, start: int) -> bool | None:
    """Does the content start like a binary type? None: too few bytes to tell."""
    head = data[start : start + 5]
    undecided = False
    for prefix in BINARY_TYPES:
        if head[: len(prefix)] == prefix[: len(head)]:
            if len(head) >= len(prefix):
                return True
            undecided = True
    return None if undecided else False


class Framer:
    """Cuts one connection's stream into frames; keeps its place in a long frame between reads."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._walk: tuple[int, bytearray] | None = None
        """Progress through the current frame's content: raw offset and unescaped bytes so far."""

    def next(self, buf: Buffer) -> Scan:
        """The next frame (consumed), an error (bad bytes consumed), or None (wait for more)."""
        while True:
            first = buf.peek(1)
            if first is None:
                return None
            if first[0] in _SPACE:
                self._consume(buf, 1)
                continue
            if first[0] != OPEN:
                return self._garbage(buf, 0, "bytes outside any watch frame")
            data = buf.peek(len(buf)) or b""
            header = parse_header(data)
            if header is None:
                return None if len(data) <= self.max_frame else self._garbage(buf, 1, "header too long")
            if header is False:
                return self._garbage(buf, 1, "not a watch frame header")
            assert isinstance(header, Header)
            if header.start + header.length + 1 > self.max_frame:
                return self._garbage(buf, 1, f"frame of {header.length} bytes over the limit of {self.max_frame}")
            return self._content(buf, data, header)

    def _consume(self, buf: Buffer, n: int) -> bytes:
        self._walk = None
        raw = buf.read(n) or b""
        buf.commit()
        return raw

    def _garbage(self, buf: Buffer, start: int, reason: str) -> ProtocolError:
        """Drop bytes up to the next ``[`` at or after ``start`` (a frame that failed drops its ``[``)."""
        nxt = buf.find(b"[", max(start, 1))
        skip = nxt if nxt > 0 else len(buf)
        excerpt = buf.peek(min(skip, 64)) or b""
        self._consume(buf, skip)
        return ProtocolError(f"{reason} ({skip} bytes dropped)", close=False, excerpt=excerpt)

    def _content(self, buf: Buffer, data: bytes, h: Header) -> Scan:
        binary = _is_binary(data, h.start)
        walked = self._by_length(data, h)
        if isinstance(walked, str):
            if binary is not False:
                return self._garbage(buf, 1, walked)
            walked = False
        if isinstance(walked, tuple):
            last, content = walked
            raw = self._consume(buf, last + 1)
            return Frame(h.maker, h.ident, h.index, h.length, content, raw, h.start)
        if binary is not False:
            if walked is False:
                return self._garbage(buf, 1, f"binary content does not end where its length {h.length} says")
            return None
        end = self._closing_bracket(data[: min(self.max_frame, TEXT_LIMIT) + 1], h.start)
        if end is None:
            if walked is None or len(data) <= min(self.max_frame, TEXT_LIMIT):
                return None  # the length may still prove right, or the ']' is yet to come
            return self._garbage(buf, 1, "text frame without an end")
        raw = self._consume(buf, end + 1)
        return Frame(h.maker, h.ident, h.index, h.length, unescape_loose(raw[h.start : end]), raw, h.start)

    def _by_length(self, data: bytes, h: Header) -> tuple[int, bytes] | bool | str | None:
        """Walk ``h.length`` unescaped bytes: (end, content) on ``]``, False when the byte there is
        no ``]``, an error text on a bad escape, None when the input stops first."""
        walk = self._walk
        i, out = walk if walk is not None and walk[0] <= len(data) else (h.start, bytearray())
        while len(out) < h.length and i < len(data):
            chunk = data[i : i + h.length - len(out)]
            esc = chunk.find(ESCAPE)
            if esc < 0:
                out += chunk
                i += len(chunk)
                continue
            out += chunk[:esc]
            i += esc
            if i + 1 >= len(data):
                break
            mapped = UNESCAPE.get(data[i + 1])
            if mapped is None:
                return f"bad escape 0x7d 0x{data[i + 1]:02x} in content"
            out.append(mapped)
            i += 2
        self._walk = (i, out)
        if len(out) < h.length or i >= len(data):
            return None
        if data[i] != CLOSE:
            return False
        return i, bytes(out)

    @staticmethod
    def _closing_bracket(data: bytes, start: int) -> int | None:
        """Offset of the ``]`` closing a text frame whose length is wrong, or None (wait)."""
        depth = 0
        i = start
        while i < len(data):
            b = data[i]
            if b == ESCAPE:
                i += 2
                continue
            if b == OPEN:
                depth += 1
            elif b == CLOSE:
                if depth:
                    depth -= 1
                elif i + 1 == len(data) or data[i + 1] in (OPEN, 0x0D, 0x0A):
                    return i
            i += 1
        return None
