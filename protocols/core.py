"""Shared sans-IO machinery for every tracker protocol: errors, the receive buffer, CRCs, messages.

Nothing here touches sockets, clocks or Twisted: codecs take bytes in and give messages and reply
bytes out, so they are tested by feeding bytes and run unchanged behind any transport.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Generic, TypeVar

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
    """A device's answer to a server command (e.g. Teltonika Codec 12), kept as a record too.

    ``reference`` is what the answer echoes of the command it answers (GT06's server flag, the
    Queclink serial number, the JT808 platform serial...), equal to the session's
    ``command_reference`` when it wrote that command; None where the protocol echoes nothing and
    answers can only be matched to commands by their order.
    """

    text: str
    records: tuple[Record, ...]
    ack: bytes | None = None
    reference: str | None = None


Message = Login | Report | CommandResponse


CONTENT_ERRORS: tuple[type[Exception], ...] = (struct.error, IndexError, KeyError, ValueError, OverflowError)
"""What reading a framed message raises when its content lies (cut short, not a number, not text).

The feed loop turns them into a ``ProtocolError`` for that frame (``UnicodeError`` is a ``ValueError``),
so bad input never escapes a codec as anything else.
"""

F = TypeVar("F")
"""One frame as a protocol's framer cuts it (an object with ``raw``, or the raw bytes themselves)."""
M = TypeVar("M")
"""What decoding a frame gives: messages on the server side, answers on a device's."""
T = TypeVar("T")
"""Whatever a framer returns besides an error."""


def or_raise(scan: T | ProtocolError | None) -> T | None:
    """A framer's result as the feed loop wants it: the frame, None (wait), or the error raised."""
    if isinstance(scan, ProtocolError):
        raise scan
    return scan


class FeedLoop(Generic[F, M]):
    """The one feed loop of every stream codec, and its one error rule.

    ``feed`` hands the bytes to :meth:`_receive`, then repeatedly asks :meth:`_next_frame` for a frame
    and :meth:`_decode` for what the frame says. Like h11's readers, ``_next_frame`` returns a frame,
    None for "need more bytes", or raises ``ProtocolError`` for bytes it consumed; a protocol keeps
    only its framing and decoding. Content that cannot be read (:data:`CONTENT_ERRORS`) becomes a
    ``ProtocolError`` for that frame (:meth:`_malformed`).

    The error rule: a bad frame after good ones in the same call does not take them down with it.
    The good results are returned and the error is held; the next ``feed`` (``feed(b"")`` while
    :attr:`pending`) raises it, and the call after that decodes on. An error that asks to close
    also drops what is buffered (:meth:`_on_error`): the stream cannot be trusted further.
    """

    def __init__(self) -> None:
        self._pending: ProtocolError | None = None

    @property
    def pending(self) -> bool:
        """True when an error is held back: ``feed(b"")`` raises it, then decodes what follows."""
        return self._pending is not None

    def feed(self, data: bytes) -> list[M]:
        """Decode every frame ``data`` completes; keep a partial one; raise ``ProtocolError`` on bad input."""
        self._receive(data)
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        out: list[M] = []
        while True:
            try:
                frame = self._next_frame()
                if frame is None:
                    return out
                try:
                    self._decode(frame, out)
                except CONTENT_ERRORS as exc:
                    raise self._malformed(frame, exc) from None
            except ProtocolError as error:
                self._on_error(error)
                if out:
                    self._pending = error
                    return out
                raise

    def _receive(self, data: bytes) -> None:
        """Take the received bytes in (may raise ``ProtocolError(close=True)`` past a limit)."""
        raise NotImplementedError

    def _next_frame(self) -> F | None:
        """Consume the next frame: it, None when more bytes are needed, or raise for bytes skipped."""
        raise NotImplementedError

    def _decode(self, frame: F, out: list[M]) -> None:
        """Append what ``frame`` says to ``out``; what it appends before raising is kept."""
        raise NotImplementedError

    def _malformed(self, frame: F, error: Exception) -> ProtocolError:
        """The error for a frame whose content could not be read; the stream itself is still framed."""
        excerpt = frame if isinstance(frame, bytes) else getattr(frame, "raw", b"")
        return ProtocolError(f"malformed frame: {error}", close=False, excerpt=excerpt)

    def _on_error(self, error: ProtocolError) -> None:
        """An error stopped decoding (raised now or held); one that asks to close drops what is buffered."""


class BufferedFeed(FeedLoop[F, M]):
    """A feed loop over a :class:`Buffer` bounded by a few frames, so a peer cannot grow memory."""

    def __init__(self, max_frame: int, *, buffer_limit: int | None = None) -> None:
        super().__init__()
        self.max_frame = max_frame
        self._buf = Buffer(limit=4 * max_frame + 65536 if buffer_limit is None else buffer_limit)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet decoded (a partial frame, or input behind a held error)."""
        return len(self._buf)

    def _receive(self, data: bytes) -> None:
        if data:
            self._buf.feed(data)

    def _on_error(self, error: ProtocolError) -> None:
        if error.close:
            self._buf.clear()


class BufferedSession(BufferedFeed[F, Message]):
    """What every server stream session shares: the feed loop, the receive buffer and the device id."""

    def __init__(self, max_frame: int, *, buffer_limit: int | None = None) -> None:
        super().__init__(max_frame, buffer_limit=buffer_limit)
        self.imei: str | None = None
