"""Cutting a Queclink stream into frames: three wire formats share one port.

* **text** (@Track ASCII): ``+RESP:``/``+BUFF:``/``+ACK:``/``+NACK:`` sentences of comma separated
  fields ending with ``$`` (``\\0`` on the GT300/GL100 dialect). There is no length and no checksum,
  so the only check is the header; the frame is what lies before the delimiter.
* **binary** (@Track HEX): ``+RSP +BSP +EVT +BVT +INF +BNF +HBD +ACK +CRD +BRD +LGN +CAN +DAT +ATI``
  with a total-length field whose offset depends on the header, CRC-16/CCITT-FALSE over
  ``[4:-4]`` and ``0D0A`` at the end. ``+ACK`` is binary when its fifth byte is not ``:``.
* **pro** (@Track Protocol Pro): ``2B``/``2D`` (real time/buffered), ``00``, a 2-byte total length,
  CRC-8 (poly 0x31, init 0xFF) over ``[0:-2]`` and ``$``; its heartbeat is ``2B 10`` with a 1-byte
  length.

Length-framed frames are checked (tail and checksum) before they are handed on: a wrong checksum
costs that frame, a tail that is not where the length says costs the bytes up to the next ``+``.
Bytes that start no frame are skipped up to the next candidate start and reported once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from fastcrc import crc8, crc16

from protocols.core import Buffer, ProtocolError

TEXT, BINARY, PRO = "text", "binary", "pro"

TEXT_HEADERS = (b"+RESP:", b"+BUFF:", b"+ACK:", b"+NACK:")

BINARY_LENGTH: dict[bytes, tuple[int, int]] = {
    b"+RSP": (9, 2),
    b"+BSP": (9, 2),
    b"+EVT": (9, 2),
    b"+BVT": (9, 2),
    b"+CAN": (9, 2),
    b"+DAT": (9, 2),
    b"+INF": (7, 2),
    b"+BNF": (7, 2),
    b"+CRD": (6, 2),
    b"+BRD": (6, 2),
    b"+LGN": (6, 2),
    b"+HBD": (5, 1),
    b"+ACK": (6, 1),
    b"+ATI": (4, 1),
}
"""Binary header -> (offset, width) of its total-length field."""

BINARY_MIN = 14
"""Smallest binary frame worth checking: header, length, something, count, CRC and tail."""

PRO_HEARTBEAT_SIZE = 24
_SKIPPABLE = frozenset(b"\r\n\0 \t")
_U16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete frame: ``raw`` is what it took from the stream, ``body`` what the decoder reads
    (the sentence without its delimiter for text, the whole frame otherwise)."""

    kind: str
    raw: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    """Bytes that are no frame: drop ``skip`` bytes and raise ``error``."""

    error: ProtocolError
    skip: int


@dataclass(frozen=True, slots=True)
class Filler:
    """Line ends, NULs or blanks between frames: dropped without a word."""

    skip: int


Scan = Frame | Malformed | Filler | None


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): the HEX format's checksum."""
    return crc16.ibm_3740(data)


def crc8_pro(data: bytes) -> int:
    """CRC-8 with poly 0x31, init 0xFF, no reflection: Protocol Pro's check byte."""
    return crc8.nrsc_5(data)


def seal_binary(frame_without_crc_and_tail: bytes) -> bytes:
    """Append CRC-16 and ``0D0A`` to a binary frame whose length field already counts them."""
    body = frame_without_crc_and_tail
    return body + _U16.pack(crc16_ccitt_false(body[4:])) + b"\r\n"


def seal_pro(frame_without_crc_and_tail: bytes) -> bytes:
    """Append the CRC-8 and ``$`` to a Protocol Pro frame."""
    return frame_without_crc_and_tail + bytes((crc8_pro(frame_without_crc_and_tail),)) + b"$"


def _next_start(buf: Buffer, offset: int) -> int:
    """Offset of the next byte that may start a frame (``+``, or ``-`` of a buffered Pro frame)."""
    plus = buf.find(b"+", offset)
    minus = buf.find(b"-\x00", offset)
    if plus < 0:
        return minus
    return plus if minus < 0 else min(plus, minus)


def _garbage(buf: Buffer, reason: str, offset: int = 1) -> Malformed:
    """Skip from the head to the next candidate start (all of it if there is none)."""
    nxt = _next_start(buf, offset)
    have = len(buf)
    skip = nxt if nxt > 0 else have
    if nxt < 0 and buf.peek(1, have - 1) == b"-":
        skip = max(have - 1, 1)  # a lone trailing '-' may be half of a buffered Pro header
    excerpt = buf.peek(min(skip, 64)) or b""
    return Malformed(ProtocolError(reason, close=False, excerpt=excerpt), skip)


def _too_long(buf: Buffer, size: int, max_frame: int, what: str) -> Malformed:
    excerpt = buf.peek(min(len(buf), 64)) or b""
    return Malformed(
        ProtocolError(f"{what} of {size} bytes is over the limit of {max_frame}", close=True,
                      excerpt=excerpt),
        len(buf),
    )


def _text(buf: Buffer, max_frame: int) -> Scan:
    head = buf.peek(min(len(buf), 6)) or b""
    if not any(h.startswith(head) or head.startswith(h) for h in TEXT_HEADERS):
        return _garbage(buf, "data does not start with a Queclink header")
    if not any(head.startswith(h) for h in TEXT_HEADERS):
        return None  # a header prefix: wait for more
    end = buf.find(b"$")
    nul = buf.find(b"\0")
    if nul >= 0 and (end < 0 or nul < end):
        end = nul
    for other in TEXT_HEADERS:  # a sentence cut short and followed by the next one
        at = buf.find(other, 1)
        if 0 < at and (end < 0 or at < end):
            excerpt = buf.peek(min(at, 64)) or b""
            return Malformed(
                ProtocolError("text message cut short by the next header", close=False, excerpt=excerpt), at
            )
    if end < 0:
        if len(buf) > max_frame:
            return _too_long(buf, len(buf), max_frame, "text message without '$'")
        return None
    if end + 1 > max_frame:
        return _too_long(buf, end + 1, max_frame, "text message")
    raw = buf.peek(end + 1) or b""
    return Frame(TEXT, raw, raw[:-1])


def _binary(buf: Buffer, header: bytes, max_frame: int) -> Scan:
    offset, width = BINARY_LENGTH[header]
    field = buf.peek(width, offset)
    if field is None:
        return None
    total = field[0] if width == 1 else _U16.unpack(field)[0]
    if total < max(BINARY_MIN, offset + width + 6):
        return _garbage(buf, f"{header.decode()} frame with an impossible length {total}")
    if total > max_frame:
        return _too_long(buf, total, max_frame, f"{header.decode()} frame")
    raw = buf.peek(total)
    if raw is None:
        return None
    if raw[-2:] != b"\r\n":
        return _garbage(buf, f"{header.decode()} frame does not end with 0D0A where its length says")
    if crc16_ccitt_false(raw[4:-4]) != _U16.unpack_from(raw, total - 4)[0]:
        return Malformed(
            ProtocolError(f"bad CRC in {header.decode()} frame", close=False, excerpt=raw), total
        )
    return Frame(BINARY, raw, raw)


def _pro(buf: Buffer, heartbeat: bool, max_frame: int) -> Scan:
    if heartbeat:
        field = buf.peek(1, 2)
        total = field[0] if field else None
    else:
        field = buf.peek(2, 2)
        total = _U16.unpack(field)[0] if field else None
    if total is None:
        return None
    minimum = PRO_HEARTBEAT_SIZE if heartbeat else 23
    if total < minimum:
        return _garbage(buf, f"Protocol Pro frame with an impossible length {total}")
    if total > max_frame:
        return _too_long(buf, total, max_frame, "Protocol Pro frame")
    raw = buf.peek(total)
    if raw is None:
        return None
    if raw[-1:] != b"$":
        return _garbage(buf, "Protocol Pro frame does not end with '$' where its length says")
    if crc8_pro(raw[:-2]) != raw[-2]:
        return Malformed(ProtocolError("bad CRC-8 in Protocol Pro frame", close=False, excerpt=raw), total)
    return Frame(PRO, raw, raw)


def next_frame(buf: Buffer, max_frame: int) -> Scan:
    """The frame at the head of ``buf`` (nothing consumed), bad bytes to skip, or None to wait."""
    have = len(buf)
    if have == 0:
        return None
    first = buf.peek(1) or b""
    if first[0] in _SKIPPABLE:
        skip = 1
        while skip < have and (buf.peek(1, skip) or b"\x00")[0] in _SKIPPABLE:
            skip += 1
        return Filler(skip)
    if first not in (b"+", b"-"):
        return _garbage(buf, "data does not start with a Queclink header", 0)
    if have < 2:
        return None
    second = (buf.peek(1, 1) or b"\x00")[0]
    if second == 0x00:
        return _pro(buf, False, max_frame)
    if first == b"-":
        return _garbage(buf, "data does not start with a Queclink header")
    if second == 0x10:
        return _pro(buf, True, max_frame)
    if have < 5:
        head = buf.peek(have) or b""
        if any(h.startswith(head) for h in BINARY_LENGTH) or any(h.startswith(head) for h in TEXT_HEADERS):
            return None
        return _garbage(buf, "data does not start with a Queclink header")
    header = buf.peek(4) or b""
    if header == b"+ACK":
        if buf.peek(1, 4) == b":":
            return _text(buf, max_frame)
        return _binary(buf, header, max_frame)
    if header in BINARY_LENGTH:
        return _binary(buf, header, max_frame)
    return _text(buf, max_frame)


def take_frame(buf: Buffer, max_frame: int) -> Frame | None:
    """Consume the next frame of ``buf``: it, or None to wait; bytes that are no frame raise.

    Line ends, NULs and blanks between frames are dropped silently. Bad bytes are consumed before
    their ``ProtocolError`` is raised, so the next call resynchronises; one that asks to close
    clears the buffer.
    """
    while True:
        scan = next_frame(buf, max_frame)
        if scan is None:
            return None
        if isinstance(scan, Filler):
            buf.skip(scan.skip)
            buf.commit()
        elif isinstance(scan, Malformed):
            if scan.error.close:
                buf.clear()
            else:
                buf.skip(scan.skip)
                buf.commit()
            raise scan.error
        else:
            buf.skip(len(scan.raw))
            buf.commit()
            return scan


def frame_of_datagram(data: bytes) -> Frame | None:
    """A datagram read as one complete frame: a text message may then lack its ``$``."""
    stripped = data.rstrip(b"\r\n\0 ")
    if stripped.startswith(TEXT_HEADERS) and b"$" not in stripped and b"\0" not in stripped:
        return Frame(TEXT, data, stripped)
    return None
