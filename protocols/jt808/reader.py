"""A tiny big-endian cursor over one item, so item decoders read like Traccar's ByteBuf code."""

from __future__ import annotations

import struct

_U16 = struct.Struct(">H")
_S16 = struct.Struct(">h")
_U32 = struct.Struct(">I")
_S32 = struct.Struct(">i")


class Reader:
    """Reads ``data`` from ``pos``; reading past the end raises ``IndexError``."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def left(self) -> int:
        """Bytes not read yet."""
        return self.end - self.pos

    def _need(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.end:
            raise IndexError(f"need {n} bytes at offset {start}, have {self.end - start}")
        self.pos = start + n
        return start

    def u8(self) -> int:
        return self.data[self._need(1)]

    def s8(self) -> int:
        value = self.data[self._need(1)]
        return value - 256 if value > 127 else value

    def u16(self) -> int:
        value: int = _U16.unpack_from(self.data, self._need(2))[0]
        return value

    def s16(self) -> int:
        value: int = _S16.unpack_from(self.data, self._need(2))[0]
        return value

    def u24(self) -> int:
        start = self._need(3)
        return int.from_bytes(self.data[start : start + 3], "big")

    def u32(self) -> int:
        value: int = _U32.unpack_from(self.data, self._need(4))[0]
        return value

    def s32(self) -> int:
        value: int = _S32.unpack_from(self.data, self._need(4))[0]
        return value

    def take(self, n: int) -> bytes:
        start = self._need(n)
        return self.data[start : start + n]

    def skip(self, n: int) -> None:
        self._need(n)

    def rest(self) -> bytes:
        return self.take(self.left)

    def peek_u16(self) -> int:
        if self.pos + 2 > self.end:
            raise IndexError("need 2 bytes to peek")
        value: int = _U16.unpack_from(self.data, self.pos)[0]
        return value
