"""Shared sans-IO machinery for every tracker protocol: errors, the receive buffer, CRCs, messages.

Nothing here touches sockets, clocks or Twisted: codecs take bytes in and give messages and reply
bytes out, so they are tested by feeding bytes and run unchanged behind any transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from fastcrc import crc16 as _crc16

from protocols.record import Record

DEFAULT_MAX_FRAME = 64 * 1024
"""Largest frame a stream codec accepts unless told otherwise; a bigger one is a protocol error."""


class ProtocolError(Exception):
    """Bytes that cannot be decoded.

    It says what the server should do: send ``reply`` (a NAK the device understands), and/or ``close``
    the connection when the stream cannot be resynchronised. ``excerpt`` holds the offending bytes
    (truncated) for the log line.
    """

    def __init__(
        self,
        message: str,
        *,
        reply: bytes | None = None,
        close: bool = False,
        excerpt: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.reply = reply
        self.close = close
        self.excerpt = bytes(excerpt[:64])

    def __repr__(self) -> str:
        return (
            f"ProtocolError({str(self)!r}, reply={self.reply!r}, close={self.close}, "
            f"excerpt={self.excerpt.hex()})"
        )


class Buffer:
    """Bytes received and not yet framed, with a read cursor that can be committed or rolled back.

    A parser reads a candidate frame with :meth:`read`; if the frame is incomplete it calls
    :meth:`rollback` and waits for more bytes, otherwise :meth:`commit` drops what it consumed.
    ``limit`` bounds how many unframed bytes may pile up, so a peer cannot grow memory without end.
    """

    __slots__ = ("_data", "_pos", "limit")

    def __init__(self, limit: int = DEFAULT_MAX_FRAME) -> None:
        self._data = bytearray()
        self._pos = 0
        self.limit = limit

    def feed(self, data: bytes) -> None:
        """Append received bytes; raises ``ProtocolError(close=True)`` past the limit."""
        if len(self._data) + len(data) > self.limit:
            excerpt = bytes(self._data[:32])
            self._data.clear()
            self._pos = 0
            raise ProtocolError(
                f"receive buffer over its limit of {self.limit} bytes", close=True, excerpt=excerpt
            )
        self._data += data

    def __len__(self) -> int:
        """Bytes after the read cursor."""
        return len(self._data) - self._pos

    @property
    def position(self) -> int:
        """Offset of the read cursor from the last commit."""
        return self._pos

    def peek(self, n: int, offset: int = 0) -> bytes | None:
        """``n`` bytes at the cursor (plus ``offset``) without moving it, or None if not there yet."""
        start = self._pos + offset
        if len(self._data) - start < n:
            return None
        return bytes(self._data[start : start + n])

    def read(self, n: int) -> bytes | None:
        """``n`` bytes at the cursor, moving it past them, or None (cursor unmoved) if not there yet."""
        if len(self._data) - self._pos < n:
            return None
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return chunk

    def skip(self, n: int) -> None:
        """Move the cursor past ``n`` bytes that are known to be there."""
        self._pos = min(self._pos + n, len(self._data))

    def find(self, needle: bytes, offset: int = 0) -> int:
        """Offset of ``needle`` from the cursor, or -1."""
        index = self._data.find(needle, self._pos + offset)
        return -1 if index < 0 else index - self._pos

    def commit(self) -> None:
        """Forget everything before the cursor."""
        if self._pos:
            del self._data[: self._pos]
            self._pos = 0

    def rollback(self) -> None:
        """Put the cursor back to the last commit."""
        self._pos = 0

    def clear(self) -> None:
        """Drop everything, e.g. after an unrecoverable error."""
        self._data.clear()
        self._pos = 0


def crc16_ibm(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC (IBM): reflected poly 0xA001, init 0; Teltonika's AVL and Codec 12 checksum."""
    return _crc16.arc(data)


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25 (CRC-ITU, IBM-SDLC): reflected poly 0x8408, init/xorout 0xFFFF; GT06's checksum."""
    return _crc16.ibm_sdlc(data)


@dataclass(frozen=True, slots=True)
class Login:
    """A device said who it is. The server answers ``accept`` or ``reject`` (None: just close)."""

    imei: str
    accept: bytes | None
    reject: bytes | None


@dataclass(frozen=True, slots=True)
class Report:
    """Records to store, and the bytes to send back once they are committed.

    ``records`` may be empty (a time request, a frame that only wants an answer) and ``ack`` may be
    None (the protocol expects no answer).
    """

    kind: str
    records: tuple[Record, ...]
    ack: bytes | None


@dataclass(frozen=True, slots=True)
class CommandResponse:
    """A device's answer to a server command (e.g. Teltonika Codec 12), kept as a record too."""

    text: str
    records: tuple[Record, ...]
    ack: bytes | None = None


Message = Union[Login, Report, CommandResponse]


class BufferedSession:
    """What every stream session shares: the device id, the receive buffer, and an error held back.

    A session that meets a bad frame after good ones in the same chunk returns the good messages and
    keeps the error; the next ``feed`` (``feed(b"")`` when ``pending``) raises it before decoding on.
    """

    def __init__(self, max_frame: int) -> None:
        self.imei: str | None = None
        self.max_frame = max_frame
        self._buf = Buffer(limit=4 * max_frame + 65536)
        self._pending: ProtocolError | None = None

    @property
    def pending(self) -> bool:
        """True when an error is held back: ``feed(b"")`` raises it, then decodes what follows."""
        return self._pending is not None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet decoded (a partial frame, or input behind a held error)."""
        return len(self._buf)

    def _take(self, data: bytes) -> None:
        """Buffer ``data``, then raise the held-back error, if any (the data stays for the next call)."""
        if data:
            self._buf.feed(data)
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
