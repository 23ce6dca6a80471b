"""GT06 frame boundaries, checksums and the frames a server or device builds.

A GT06 stream is framed on its length field: ``7878`` frames carry a 1-byte length, ``7979`` frames a
2-byte one, both counting from the protocol number through the CRC. The trailing ``0D0A`` is only
checked, never searched for, because binary content may contain it. Two quirks seen on real devices
(and accepted by Traccar's ``Gt06FrameDecoder``) are tolerated only when they prove themselves:

* a length byte that is 2 short (the original GT06 heartbeat): accepted when ``0D0A`` and the CRC
  line up 2 bytes later;
* Concox WiFi frames ``0x17``/``0x69`` whose "length" byte is really the access-point count and
  which carry no serial or CRC: their size follows from the counts inside, and ``0D0A`` must end it.

A frame whose ``0D0A`` sits where its length says but whose CRC is wrong is consumed whole (the
next frame then decodes); a start marker whose frame does not end where it should is dropped up
to the next ``7878``/``7979``, which rescans the bytes behind it, so a corrupted length byte costs
one frame, not the stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.core import Buffer, ProtocolError, crc16_x25

HEAD_SHORT = b"\x78\x78"
HEAD_LONG = b"\x79\x79"
TAIL = b"\r\n"

WIFI_TYPES = frozenset((0x17, 0x69))
"""Basic types that may come in the count-framed WiFi layout (no serial, no CRC)."""

_U16 = struct.Struct(">H")
_SHORT_HEAD = struct.Struct(">2sBB")
_LONG_HEAD = struct.Struct(">2sHB")


@dataclass(frozen=True, slots=True)
class Frame:
    """One checked frame.

    ``content`` is what lies between the protocol number and the serial number; ``length`` is the
    length field as sent (variant detection keys on it, as Traccar does); ``serial`` is None for
    the WiFi layout, which has none.
    """

    extended: bool
    type_id: int
    length: int
    content: bytes
    serial: int | None
    raw: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    """Bytes that are not a frame: raise ``error`` after dropping ``skip`` bytes."""

    error: ProtocolError
    skip: int


Scan = Frame | Malformed | None
"""What :func:`next_frame` found: a frame, bad bytes, or None (wait for more)."""


def build_frame(type_id: int, content: bytes, serial: int, extended: bool = False) -> bytes:
    """A complete frame with length, serial, CRC-ITU and ``0D0A``: what ACKs and devices send."""
    length = 5 + len(content)
    if extended:
        body = _U16.pack(length) + bytes((type_id,)) + content + _U16.pack(serial & 0xFFFF)
        head = HEAD_LONG
    else:
        if length > 0xFF:
            raise ValueError(f"content of {len(content)} bytes does not fit a 7878 frame")
        body = bytes((length, type_id)) + content + _U16.pack(serial & 0xFFFF)
        head = HEAD_SHORT
    return head + body + _U16.pack(crc16_x25(body)) + TAIL


def ack_frame(frame: Frame) -> bytes:
    """The generic answer: same protocol number and serial, no content, same header form."""
    return build_frame(frame.type_id, b"", frame.serial or 0, frame.extended)


def wifi_ack(frame: Frame) -> bytes:
    """Traccar's answer to a count-framed WiFi report: ``7878 00 type time 0D0A`` (no CRC)."""
    return HEAD_SHORT + bytes((0, frame.type_id)) + frame.content[:6] + TAIL


def _next_start(buf: Buffer, offset: int) -> int:
    """Offset of the next ``7878``/``7979`` at or after ``offset``, or -1."""
    short = buf.find(HEAD_SHORT, offset)
    long_ = buf.find(HEAD_LONG, offset)
    if short < 0:
        return long_
    if long_ < 0:
        return short
    return min(short, long_)


def _crc_ok(raw: bytes, end: int) -> bool:
    """CRC over length..serial of a frame whose ``0D0A`` ends at ``end``."""
    sent: int = _U16.unpack_from(raw, end - 4)[0]
    return crc16_x25(raw[2 : end - 4]) == sent


def _skip_to_start(buf: Buffer, offset: int) -> int:
    """Bytes to drop to reach the next start marker; a last 78/79 is kept (half a marker)."""
    nxt = _next_start(buf, offset)
    if nxt >= 0:
        return nxt
    have = len(buf)
    return have - 1 if buf.peek(1, have - 1) in (b"\x78", b"\x79") and have > offset else have


def _resync(buf: Buffer, reason: str) -> Malformed:
    """Drop the bad start marker and everything up to the next one."""
    skip = max(_skip_to_start(buf, 1), 1)
    excerpt = buf.peek(min(skip, 64)) or b""
    return Malformed(ProtocolError(reason, close=False, excerpt=excerpt), skip)


def _wifi_size(buf: Buffer, count: int) -> int | None:
    """Size of a count-framed WiFi frame, or None until its cell count has arrived."""
    cells_at = 4 + 6 + 7 * count
    cells = buf.peek(1, cells_at)
    if cells is None:
        return None
    return cells_at + 1 + 3 + 5 * cells[0] + 2


def next_frame(buf: Buffer, max_frame: int) -> Scan:
    """Find the frame at the head of ``buf`` without consuming anything.

    Returns a :class:`Frame` (its ``raw`` length is what to consume), a :class:`Malformed` (skip and
    raise), or None when more bytes are needed.
    """
    have = len(buf)
    if have < 2:
        partial = buf.peek(have) or b""
        if partial in (b"", b"\x78", b"\x79"):
            return None
        return _resync(buf, "data does not start with 7878 or 7979")
    head = buf.peek(2)
    if head != HEAD_SHORT and head != HEAD_LONG:
        skip = _skip_to_start(buf, 0)
        excerpt = buf.peek(min(skip, 64)) or b""
        return Malformed(
            ProtocolError("data does not start with 7878 or 7979", close=False, excerpt=excerpt), skip
        )
    extended = head == HEAD_LONG
    header = buf.peek(5)
    if header is None:
        return None
    if extended:
        _, length, type_id = _LONG_HEAD.unpack(header)
        total = length + 6
        pre = 5
    else:
        _, length, type_id = _SHORT_HEAD.unpack_from(header)
        total = length + 5
        pre = 4
    if total > max_frame:
        return Malformed(
            ProtocolError(
                f"frame of {total} bytes is over the limit of {max_frame}", close=True, excerpt=header
            ),
            have,
        )
    # (1) the length field is right
    raw = buf.peek(total)
    if raw is None:
        return _shifted(buf, header)
    if raw[-2:] == TAIL and length >= 5:
        if _crc_ok(raw, total):
            return _frame(extended, type_id, length, raw, pre, total)
        if extended or type_id not in WIFI_TYPES:
            return Malformed(
                ProtocolError(f"bad CRC in frame type 0x{type_id:02x}", close=False, excerpt=raw),
                total,
            )
    # (2) the length field is 2 short, proven by 0D0A and the CRC
    longer = buf.peek(total + 2)
    if longer is None:
        if not extended and type_id in WIFI_TYPES:
            return _wifi(buf, type_id, length, max_frame)
        return None
    if longer[-2:] == TAIL and _crc_ok(longer, total + 2):
        return _frame(extended, type_id, length, longer, pre, total + 2)
    # (3) the count-framed WiFi layout
    if not extended and type_id in WIFI_TYPES:
        return _wifi(buf, type_id, length, max_frame)
    return _resync(buf, f"frame type 0x{type_id:02x} does not end with 0D0A where its length says")


def take_frame(buf: Buffer, max_frame: int) -> Frame | None:
    """Consume the next frame of ``buf``: it, or None to wait; bad bytes are consumed and raised.

    Shared by the server session and the device receiver so both resynchronise the same way. An
    error that asks to close clears the buffer instead.
    """
    scan = next_frame(buf, max_frame)
    if scan is None:
        return None
    if isinstance(scan, Malformed):
        if scan.error.close:
            buf.clear()
        else:
            buf.skip(scan.skip)
            buf.commit()
        raise scan.error
    buf.skip(len(scan.raw))
    buf.commit()
    return scan


def _shifted(buf: Buffer, header: bytes) -> Malformed | None:
    """While waiting on ``787878...``: is there a complete, valid frame one byte later?

    Garbage ending in 0x78 (or 0x79) glued to a frame looks like a frame whose length byte is
    0x78; without this check the real frame would wait behind it for ~120 bytes.
    """
    marker = header[:2]
    for shift in (1, 2):
        if buf.peek(2, shift) != marker:
            return None
        if marker == HEAD_SHORT:
            size = buf.peek(1, shift + 2)
            total = size[0] + 5 if size else 0
        else:
            size = buf.peek(2, shift + 2)
            total = _U16.unpack(size)[0] + 6 if size else 0
        raw = buf.peek(total, shift) if total >= 10 else None
        if raw is not None and raw[-2:] == TAIL and _crc_ok(raw, total):
            excerpt = header[:shift]
            return Malformed(ProtocolError("stray bytes before a frame", close=False, excerpt=excerpt), shift)
    return None


def _frame(extended: bool, type_id: int, length: int, raw: bytes, pre: int, end: int) -> Frame:
    serial = _U16.unpack_from(raw, end - 6)[0]
    return Frame(extended, type_id, length, raw[pre : end - 6], serial, raw)


def _wifi(buf: Buffer, type_id: int, count: int, max_frame: int) -> Scan:
    size = _wifi_size(buf, count)
    if size is None:
        return None if 4 + 6 + 7 * count < max_frame else _resync(buf, "WiFi frame too long")
    if size > max_frame:
        return _resync(buf, f"WiFi frame of {size} bytes is over the limit")
    raw = buf.peek(size)
    if raw is None:
        return None
    if raw[-2:] != TAIL:
        return _resync(buf, f"frame type 0x{type_id:02x} is neither length- nor count-framed")
    return Frame(False, type_id, count, raw[4:-2], None, raw)
