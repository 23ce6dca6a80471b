"""H02 frame boundaries: ``*...#`` text sentences, ``$`` binary reports and ``X`` frames.

Text runs from ``*`` (followed by a two-character maker and a comma, ``*HQ,``) to the first ``#``;
CR/LF between frames is skipped. A text start that meets another text start before its ``#`` was
cut short and is dropped, so one lost terminator costs one frame, not the stream.

Binary frames carry no length. Traccar's ``H02FrameDecoder`` takes 45 bytes when the read holds
exactly 45 and 32 otherwise, then keeps that length for the connection. Here the length is decided
by the bytes themselves where possible:

* an 8-byte device ID (15-digit IMEI, the time then sits 3 bytes later) means the 42-byte form;
* otherwise the frame ends where the next frame visibly starts (``$`` with the same device ID,
  ``*XX,`` or an ``X`` frame), which also teaches the session its length (32 or 45 as a rule);
* with nothing after it, a frame that is exactly 32 or 42-64 bytes long is taken whole (the
  device's write arrived complete, as Traccar assumes); a length learnt earlier makes it wait.

So a 45-byte frame split by the network exactly after byte 32, before the session has learnt the
length, is cut at 32: Traccar has the same limit, and ``ServerSession(binary_length=45)`` avoids it.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.core import Buffer, ProtocolError

SHORT = 32
LONG = 45
LONG_ID = 42
MAX_BINARY = 64
"""Longest binary frame accepted without a visible next frame (vendor extensions run to ~48)."""

TEXT_LIMIT = 4096
"""Longest text sentence; a start without ``#`` this far on is dropped (an SMS answer is ~300)."""

_SPACE = frozenset(b"\r\n \t\x00")
_MARKERS = b"*$X"
_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: ``kind`` is ``text``, ``binary`` or ``x``."""

    kind: str
    raw: bytes


Scan = Frame | ProtocolError | None


def _bcd(b: int) -> bool:
    return (b >> 4) <= 9 and (b & 0x0F) <= 9


def _bcd_value(b: int) -> int:
    return (b >> 4) * 10 + (b & 0x0F)


def is_time(head: bytes, off: int) -> bool:
    """Three BCD bytes at ``off`` that read as hh mm ss."""
    if len(head) < off + 3 or not all(_bcd(x) for x in head[off : off + 3]):
        return False
    h, m, s = (_bcd_value(x) for x in head[off : off + 3])
    return h < 24 and m < 60 and s < 60


def _text_head(head: bytes) -> bool | None:
    """``*XX,``: True, False, or None when too few bytes have arrived to tell."""
    for i, byte in enumerate(head[1:4], start=1):
        if (i < 3 and byte not in _ALNUM) or (i == 3 and byte != 0x2C):
            return False
    return True if len(head) >= 4 else None


def _digits_head(head: bytes, n: int) -> bool | None:
    """``n`` BCD bytes after the marker: True, False, or None (too few bytes yet)."""
    if not all(_bcd(x) for x in head[1 : n + 1]):
        return False
    return True if len(head) >= n + 1 else None


def _starts_frame(data: bytes, at: int, ident: bytes) -> bool | None:
    """Does a frame visibly start at ``at``? None: too few bytes to tell yet."""
    tail = data[at : at + 9]
    marker = tail[0]
    if marker == 0x2A:
        return _text_head(tail)
    if marker == 0x24:
        got = tail[1:6]
        if got != ident[: len(got)]:
            return False
        return True if len(got) == 5 else None
    if marker == 0x58:
        return _digits_head(tail, 5)
    return False


class Framer:
    """Cuts one connection's stream; remembers the binary length once it is evident."""

    def __init__(self, max_frame: int, binary_length: int | None = None) -> None:
        if binary_length is not None and not SHORT <= binary_length <= MAX_BINARY:
            raise ValueError(f"binary_length must be {SHORT}..{MAX_BINARY}, not {binary_length}")
        self.text_limit = min(max_frame, TEXT_LIMIT)
        self.fixed = binary_length
        self.learned: int | None = None

    def next(self, buf: Buffer) -> Scan:
        """The next frame (consumed), an error (bad bytes consumed), or None (wait for more)."""
        while True:
            first = buf.peek(1)
            if first is None:
                return None
            c = first[0]
            if c in _SPACE:
                buf.skip(1)
                buf.commit()
                continue
            if c == 0x2A:
                result = self._text(buf)
            elif c == 0x24:
                result = self._binary(buf)
            elif c == 0x58:
                result = self._x(buf)
            else:
                result = False
            if result is False:
                return self._garbage(buf)
            if isinstance(result, int):
                frame = buf.read(result)
                buf.commit()
                assert frame is not None
                return Frame({0x2A: "text", 0x24: "binary", 0x58: "x"}[c], frame)
            return result

    def _garbage(self, buf: Buffer) -> ProtocolError:
        """Drop bytes up to the next possible frame start."""
        cuts = [i for i in (buf.find(bytes((m,)), 1) for m in _MARKERS) if i > 0]
        skip = min(cuts) if cuts else len(buf)
        excerpt = buf.peek(min(skip, 64)) or b""
        buf.skip(skip)
        buf.commit()
        return ProtocolError(f"{skip} bytes outside any H02 frame", close=False, excerpt=excerpt)

    def _text(self, buf: Buffer) -> int | bool | None:
        head = buf.peek(min(len(buf), 4)) or b""
        ok = _text_head(head)
        if ok is not True:
            return ok
        end = buf.find(b"#", 1)
        star = buf.find(b"*", 1)
        while 0 < star and (end < 0 or star < end):
            nxt = _text_head(buf.peek(min(len(buf) - star, 4), star) or b"")
            if nxt is None:
                return None
            if nxt:
                return False  # a new sentence began: this one lost its '#'
            star = buf.find(b"*", star + 1)
        if end < 0:
            if len(buf) > self.text_limit:
                return False
            return None
        if end + 1 > self.text_limit:
            return False
        return end + 1

    def _x(self, buf: Buffer) -> int | bool | None:
        head = buf.peek(min(len(buf), 6)) or b""
        ok = _digits_head(head, 5)
        if ok is not True:
            return ok
        return SHORT if len(buf) >= SHORT else None

    def _binary(self, buf: Buffer) -> int | bool | None:
        n = len(buf)
        data = buf.peek(min(n, MAX_BINARY + 10)) or b""
        ok = _digits_head(data, 5)
        if ok is not True:
            return ok
        if n < SHORT:
            return None
        if not is_time(data, 6) and is_time(data, 9):
            return LONG_ID if n >= LONG_ID else None
        if self.fixed is not None:
            return self.fixed if n >= self.fixed else None
        ident = data[1:6]
        for at in range(SHORT, min(n, MAX_BINARY + 1)):
            seen = _starts_frame(data, at, ident)
            if seen is None:
                return None
            if seen:
                if at in (SHORT, LONG):
                    self.learned = at
                return at
        if n > MAX_BINARY:
            return self.learned or SHORT
        if self.learned is not None:
            if n < self.learned:
                return None
            if n == self.learned:
                return n
        if n == SHORT or n >= LONG_ID:
            if n == LONG:
                self.learned = LONG
            return n
        return None
