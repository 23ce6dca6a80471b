"""Meitrack frame boundaries: ``$$<flag><length>,<imei>,<type>,<data>*<checksum>\\r\\n``.

``length`` counts from the first comma through ``\\r\\n``, so a frame ends ``length`` bytes after
that comma; there it must show ``*XX\\r\\n``. Binary types (``CCC``, ``CCE``, the ``D00`` photo
parts) are framed by that alone, since their data may hold any byte.

Text frames with a length that does not land on ``*XX\\r\\n`` (several captured payloads in
Traccar's tests, and firmware that miscounts) end at the first ``*XX`` whose checksum verifies,
or failing that at the first ``*XX\\r\\n``; a verified ``*XX`` ends the frame even before its
``\\r\\n`` arrives (the terminator is then skipped between frames). A new ``$$`` before the end
means the frame was cut short: it is dropped. The checksum is otherwise reported, not enforced,
as in Traccar (``Frame.checksum_ok``).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.core import Buffer, ProtocolError
from protocols.meitrack.fields import checksum

START = b"$$"
BINARY_TYPES = frozenset((b"CCC", b"CCE", b"D00"))
TEXT_LIMIT = 2048
"""Longest text frame (an AAA report is ~250 bytes)."""

_SPACE = frozenset(b"\r\n \t\x00")
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_DIGITS = frozenset(b"0123456789")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: the flag byte, IMEI and type from its header, and where its data lies in ``raw``."""

    flag: str
    imei: str
    type: str
    raw: bytes
    data_start: int
    """Offset of the data after ``<type>,`` (or of ``*`` when there is none)."""
    star: int
    """Offset of the ``*`` before the checksum."""
    checksum_ok: bool

    @property
    def data(self) -> bytes:
        return self.raw[self.data_start : self.star]


@dataclass(frozen=True, slots=True)
class Header:
    flag: str
    total: int
    """Frame size the length field declares."""
    imei: str
    type: bytes
    data_start: int


Scan = Frame | ProtocolError | None


def parse_header(data: bytes) -> Header | bool | None:
    """``$$<flag><digits>,<imei>,<type>[,*]`` at ``data[0]``: Header, False, or None (need more)."""
    if len(data) < 3:
        return None if data == START[: len(data)] else False
    if data[:2] != START or not 0x21 <= data[2] <= 0x7E:
        return False
    i = 3
    while i < len(data) and data[i] in _DIGITS:
        i += 1
        if i > 8:
            return False
    if i >= len(data):
        return None
    if data[i] != 0x2C or i == 3:
        return False
    comma = i
    i += 1
    while i < len(data) and data[i] in _DIGITS:
        i += 1
        if i - comma > 21:
            return False
    if i < len(data) and (data[i] != 0x2C or i == comma + 1):
        return False
    if i + 5 > len(data):
        return None
    if data[i] != 0x2C or i == comma + 1 or data[i + 4] not in b",*":
        return False
    kind = data[i + 1 : i + 4]
    if not all(0x30 <= b <= 0x5A for b in kind):
        return False
    total = comma + int(data[3:comma])
    start = i + 5 if data[i + 4] == 0x2C else i + 4
    return Header(chr(data[2]), total, data[comma + 1 : i].decode(), kind, start)


class Framer:
    """Cuts one connection's stream into frames."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self.text_limit = min(max_frame, TEXT_LIMIT)

    def next(self, buf: Buffer) -> Scan:
        """The next frame (consumed), an error (bad bytes consumed), or None (wait for more)."""
        while True:
            first = buf.peek(1)
            if first is None:
                return None
            if first[0] in _SPACE:
                buf.skip(1)
                buf.commit()
                continue
            if first[0] != 0x24:
                return self._garbage(buf, 0, "bytes outside any Meitrack frame")
            data = buf.peek(min(len(buf), 64)) or b""
            header = parse_header(data)
            if header is None:
                return None
            if header is False:
                return self._garbage(buf, 1, "not a Meitrack frame header")
            assert isinstance(header, Header)
            if header.type in BINARY_TYPES:
                return self._binary(buf, header)
            return self._text(buf, header)

    def _garbage(self, buf: Buffer, start: int, reason: str) -> ProtocolError:
        """Drop bytes up to the next ``$$`` after ``start``."""
        nxt = buf.find(START, max(start, 1))
        skip = nxt if nxt > 0 else len(buf) - (1 if buf.peek(1, len(buf) - 1) == b"$" else 0)
        skip = max(skip, 1)
        excerpt = buf.peek(min(skip, 64)) or b""
        buf.skip(skip)
        buf.commit()
        return ProtocolError(f"{reason} ({skip} bytes dropped)", close=False, excerpt=excerpt)

    def _take(self, buf: Buffer, h: Header, end: int, star: int) -> Frame:
        raw = buf.read(end) or b""
        buf.commit()
        ok = raw[star + 1 : star + 3].upper() == checksum(raw[: star + 1])
        return Frame(h.flag, h.imei, h.type.decode(), raw, min(h.data_start, star), star, ok)

    def _binary(self, buf: Buffer, h: Header) -> Scan:
        if h.total > self.max_frame:
            return self._garbage(buf, 2, f"frame of {h.total} bytes over the limit of {self.max_frame}")
        if len(buf) < h.total:
            return None
        tail = buf.peek(5, h.total - 5) or b""
        if h.total - 5 < h.data_start - 1 or tail[0] != 0x2A or tail[3:] != b"\r\n":
            return self._garbage(buf, 2, f"{h.type.decode()} frame does not end where its length says")
        return self._take(buf, h, h.total, h.total - 5)

    def _text(self, buf: Buffer, h: Header) -> Scan:
        data = buf.peek(min(len(buf), self.text_limit + 8)) or b""
        end = h.total
        if h.data_start - 1 <= end - 5 and len(data) >= end:
            tail = data[end - 5 : end]
            if tail[0] == 0x2A and tail[1] in _HEX and tail[2] in _HEX and tail[3:] == b"\r\n":
                return self._take(buf, h, end, end - 5)
        restart = data.find(START, 2)
        star = data.find(b"*", h.data_start - 1)
        while star >= 0 and (restart < 0 or star < restart):
            if star + 3 > len(data):
                return None
            code = data[star + 1 : star + 3]
            if code[0] in _HEX and code[1] in _HEX:
                if code.upper() == checksum(data[: star + 1]):
                    stop = star + 3
                    while stop < len(data) and stop < star + 5 and data[stop] in b"\r\n":
                        stop += 1
                    return self._take(buf, h, stop, star)
                if star + 5 > len(data):
                    return None
                if data[star + 3 : star + 5] == b"\r\n":
                    return self._take(buf, h, star + 5, star)
            star = data.find(b"*", star + 1)
        if restart >= 0:
            return self._garbage(buf, 2, "frame cut short by the next one")
        if len(data) > self.text_limit:
            return self._garbage(buf, 2, "text frame without an end")
        return None
