"""TK103 frame boundaries: ``(`` ... ``)``, where ``$``-quoted free text may hold parentheses.

As Traccar's ``Tk103FrameDecoder``: a frame starts at ``(`` and ends at the first ``)`` that has
an even number of ``$`` between the start and itself, so a command answer such as
``(...,ZC03,...,$Notice: (1) done$)`` stays whole. Bytes before a ``(`` are junk: white space
(line ends some firmware adds) is dropped silently, anything else is reported once per run.
"""

from __future__ import annotations

from protocols.core import Buffer, ProtocolError

Scan = bytes | ProtocolError | None
"""A whole frame, a junk run to report (already dropped), or None: wait for more bytes."""


class FrameScanner:
    """Cuts frames out of a :class:`Buffer`; remembers how far it searched a partial frame."""

    __slots__ = ("buf", "max_frame", "_pos", "_dollars")

    def __init__(self, buf: Buffer, max_frame: int) -> None:
        self.buf = buf
        self.max_frame = max_frame
        self._pos = 1
        self._dollars = 0

    def next(self) -> Scan:
        """The next frame or junk run; raises ``ProtocolError(close=True)`` for an endless frame."""
        buf = self.buf
        if not len(buf):
            return None
        start = buf.find(b"(")
        if start != 0:
            junk = buf.read(start if start > 0 else len(buf))
            buf.commit()
            self._reset()
            assert junk is not None
            if junk.strip():
                return ProtocolError("bytes outside a TK103 frame", close=False, excerpt=junk)
            return self.next()
        while True:
            end = buf.find(b")", self._pos)
            if end < 0:
                if len(buf) > self.max_frame:
                    excerpt = buf.peek(32) or b""
                    buf.clear()
                    self._reset()
                    raise ProtocolError(
                        f"no TK103 frame end within {self.max_frame} bytes", close=True, excerpt=excerpt
                    )
                return None
            between = buf.peek(end - self._pos, self._pos) or b""
            self._dollars += between.count(b"$")
            self._pos = end + 1
            if self._dollars % 2 == 0:
                frame = buf.read(end + 1)
                buf.commit()
                self._reset()
                assert frame is not None
                if len(frame) > self.max_frame:
                    return ProtocolError(
                        f"TK103 frame of {len(frame)} bytes over the limit", close=False, excerpt=frame
                    )
                return frame

    def _reset(self) -> None:
        self._pos = 1
        self._dollars = 0
