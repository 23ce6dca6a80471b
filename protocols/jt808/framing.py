"""JT/T 808 frame boundaries: ``7E`` delimiters, ``7D`` escaping, the BCC and the message header.

On the wire a message is ``7E | escaped(header | body | BCC) | 7E``, where escaping turns ``7E``
into ``7D 02`` and ``7D`` into ``7D 01``, and the BCC is the XOR of header and body. The header is
``msg id (2) | properties (2) | [version (1)] | phone (6 BCD, or 10 with the 2019 flag) | serial (2)
| [packet count (2) | packet index (2)]``. The properties word holds the body length (bits 0-9),
the encryption mode (10-12), the sub-package flag (13) and the 2019 version flag (14).

Two vendor dialects seen by Traccar are kept: JT701/JT709 locks send ``0x5501``/``0x5502`` with a
1-byte serial (bit 15 of the properties then asks for an answer and bits 10-12 mean something else),
and the same locks send plain-text ``(...)`` frames between binary ones.

The body length field is not trusted over the bytes: the BCC already vouches for them, and Traccar
reads the body to the end of the frame too. A frame whose BCC is wrong is consumed and reported, so
the next frame decodes.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from protocols.core import Buffer, ProtocolError

FLAG = 0x7E
ESCAPE = 0x7D
_FLAG_BYTE = b"\x7e"
_TEXT_OPEN = b"("
_TEXT_CLOSE = b")"

SHORT_SERIAL_TYPES = frozenset((0x5501, 0x5502))
"""JT701 lock messages whose serial is one byte."""

_BAD_ESCAPE = re.compile(rb"\x7d(?![\x01\x02])")
_HEAD = struct.Struct(">HH")
_U16 = struct.Struct(">H")

MIN_HEADER = 12
"""Message id, properties, 6-byte phone, serial: the smallest header."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One checked JT808 message (unescaped, BCC verified).

    ``phone`` is the terminal phone field as sent (6 or 10 BCD bytes); ``version`` is the 2019
    protocol version byte or None for 2011/2013 headers; ``packet`` is ``(count, index)`` for a
    sub-package, else None.
    """

    msg_id: int
    properties: int
    version: int | None
    phone: bytes
    serial: int
    packet: tuple[int, int] | None
    body: bytes
    raw: bytes

    @property
    def declared_length(self) -> int:
        """Body length from the properties word (bits 0-9)."""
        return self.properties & 0x3FF

    @property
    def encryption(self) -> int:
        """Encryption mode bits 10-12 (1 = RSA); vendor flags on the short-serial lock messages."""
        return (self.properties >> 10) & 0x07


@dataclass(frozen=True, slots=True)
class TextFrame:
    """A plain-text ``(...)`` frame of JT701-style locks."""

    text: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Corrupt:
    """Bytes that are no good frame, already skipped: the error to raise and, when the header
    could be read (a bad BCC), the frame it claims to be, so the session can answer it."""

    error: ProtocolError
    frame: Frame | None = None


Scanned = Frame | TextFrame | Corrupt


def bcc(data: bytes | bytearray) -> int:
    """XOR of every byte: JT808's check code."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def escape(data: bytes | bytearray) -> bytes:
    """``7E`` -> ``7D 02``, ``7D`` -> ``7D 01``."""
    return bytes(data).replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes) -> bytes:
    """The inverse of :func:`escape`; ``ValueError`` on a ``7D`` not followed by 01 or 02.

    In an escaped stream every ``7D`` starts a pair, so replacing the pairs cannot go wrong.
    """
    if b"\x7d" not in data:
        return data
    bad = _BAD_ESCAPE.search(data)
    if bad is not None:
        raise ValueError(f"bad escape {data[bad.start() : bad.start() + 2].hex()} at offset {bad.start()}")
    return data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def build_frame(
    msg_id: int,
    phone: bytes,
    serial: int,
    body: bytes,
    *,
    version: int | None = None,
    short_serial: bool = False,
) -> bytes:
    """A complete escaped frame with its BCC: what a server or device sends.

    ``version`` set writes a 2019 header (flag bit 14, version byte, phone padded to 10 bytes).
    """
    if len(body) > 0x3FF:
        raise ValueError(f"body of {len(body)} bytes does not fit one JT808 message (1023 max)")
    properties = len(body)
    head = bytearray()
    if version is not None:
        properties |= 0x4000
        phone = phone.rjust(10, b"\x00")
    head += _HEAD.pack(msg_id, properties)
    if version is not None:
        head.append(version & 0xFF)
    head += phone
    head += bytes((serial & 0xFF,)) if short_serial else _U16.pack(serial & 0xFFFF)
    content = bytes(head) + body
    return _FLAG_BYTE + escape(content + bytes((bcc(content),))) + _FLAG_BYTE


def parse_header(content: bytes, raw: bytes = b"") -> tuple[Frame | None, str]:
    """The frame in unescaped ``content`` (header, body, BCC), or None and why not; ``raw`` is
    the frame as received, kept for error excerpts."""
    if len(content) < MIN_HEADER + 1:
        return None, f"message of {len(content)} bytes is shorter than a JT808 header"
    msg_id, properties = _HEAD.unpack_from(content, 0)
    offset = 4
    version: int | None = None
    short = msg_id in SHORT_SERIAL_TYPES
    if properties & 0x4000 and not short:
        version = content[offset]
        offset += 1
        phone_len = 10
    else:
        phone_len = 6
    phone = content[offset : offset + phone_len]
    offset += phone_len
    if short:
        serial = content[offset] if offset < len(content) else 0
        offset += 1
    else:
        serial = _U16.unpack_from(content, offset)[0] if offset + 2 <= len(content) else 0
        offset += 2
    packet: tuple[int, int] | None = None
    if properties & 0x2000 and not short:
        if offset + 4 <= len(content) - 1:
            packet = (_U16.unpack_from(content, offset)[0], _U16.unpack_from(content, offset + 2)[0])
        offset += 4
    end = len(content) - 1
    if offset > end:
        return None, f"message 0x{msg_id:04x} ends inside its header"
    frame = Frame(msg_id, properties, version, bytes(phone), serial, packet, content[offset:end], raw)
    return frame, ""


def _excerpt(buf: Buffer, n: int) -> bytes:
    return buf.peek(min(n, len(buf), 64)) or b""


def next_frame(buf: Buffer, max_frame: int) -> tuple[Scanned | ProtocolError | None, int]:
    """What lies at the head of ``buf``, and how many bytes it takes; ``(None, 0)`` means wait.

    A bare ``ProtocolError`` (always ``close=True``) means the stream is beyond repair. Leading
    bytes that cannot start a frame are reported as one :class:`Corrupt` and skipped up to the
    next ``7E`` (or ``(``). An empty ``7E 7E`` pair (a device that doubles its delimiters) is skipped
    silently. A frame longer than ``max_frame`` asks to close: the stream has lost its framing.
    """
    have = len(buf)
    if have == 0:
        return None, 0
    first = buf.peek(1)
    if first == _FLAG_BYTE:
        end = buf.find(_FLAG_BYTE, 1)
        if end < 0:
            if have > max_frame:
                return ProtocolError(
                    f"no end flag within {max_frame} bytes", close=True, excerpt=_excerpt(buf, 64)
                ), have
            return None, 0
        if end == 1:
            return None, 1  # 7E7E: a doubled delimiter, drop the first
        size = end + 1
        raw = buf.peek(size) or b""
        if size > max_frame:
            return ProtocolError(
                f"frame of {size} bytes is over the limit of {max_frame}", close=True, excerpt=raw
            ), size
        return _decode_raw(raw), size
    if first == _TEXT_OPEN:
        end = buf.find(_TEXT_CLOSE, 1)
        flag = buf.find(_FLAG_BYTE, 1)
        if end < 0 or (0 <= flag < end):
            if flag >= 0:
                return Corrupt(ProtocolError(
                    "text frame interrupted by a binary one", close=False, excerpt=_excerpt(buf, flag)
                )), flag
            if have > max_frame:
                return ProtocolError(
                    f"no ')' within {max_frame} bytes", close=True, excerpt=_excerpt(buf, 64)
                ), have
            return None, 0
        raw = buf.peek(end + 1) or b""
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return Corrupt(ProtocolError("text frame is not ASCII", close=False, excerpt=raw)), len(raw)
        return TextFrame(text, raw), len(raw)
    flag = buf.find(_FLAG_BYTE)
    opening = buf.find(_TEXT_OPEN)
    starts = [i for i in (flag, opening) if i >= 0]
    skip = min(starts) if starts else have
    return Corrupt(ProtocolError(
        "data does not start with 7E", close=False, excerpt=_excerpt(buf, skip)
    )), skip


def _decode_raw(raw: bytes) -> Frame | Corrupt:
    try:
        content = unescape(raw[1:-1])
    except ValueError as exc:
        return Corrupt(ProtocolError(f"bad escaping: {exc}", close=False, excerpt=raw))
    frame, why = parse_header(content, raw)
    if frame is None:
        return Corrupt(ProtocolError(why, close=False, excerpt=raw))
    expected = bcc(content[:-1])
    if expected != content[-1]:
        error = ProtocolError(
            f"bad BCC in message 0x{frame.msg_id:04x}: {content[-1]:02x}, expected {expected:02x}",
            close=False,
            excerpt=raw,
        )
        return Corrupt(error, frame)
    return frame


def take_frame(buf: Buffer, max_frame: int) -> Scanned | None:
    """Consume the next item of ``buf``: a frame, a text frame, a :class:`Corrupt` for bytes skipped,
    or None to wait. An error that asks to close clears the buffer and is raised instead."""
    while True:
        item, size = next_frame(buf, max_frame)
        if size:
            buf.skip(size)
            buf.commit()
        if item is None:
            if size:
                continue
            return None
        if isinstance(item, ProtocolError):
            buf.clear()
            raise item
        return item
