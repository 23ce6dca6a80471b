"""Server side of Teltonika: the TCP session (IMEI handshake, AVL and command frames) and UDP.

The session is sans-IO: the transport feeds it bytes in whatever pieces arrive and writes back the
``accept``/``ack``/``reply`` bytes of what it returns or raises. Frames are checked strictly (preamble,
length, CRC, N1 == N2) because an ACK tells the device its records are safe; a bad CRC is answered
with a zero record count, which makes the device send the packet again.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.core import (
    DEFAULT_MAX_FRAME,
    Buffer,
    BufferedSession,
    CommandResponse,
    Login,
    Message,
    ProtocolError,
    Report,
    crc16_ibm,
)
from protocols.record import Record
from protocols.teltonika import avl, gh3000
from protocols.teltonika.avl import (
    AVL_CODECS,
    CODEC_7,
    CODEC_12,
    CODEC_13,
    CODEC_14,
    MalformedData,
)
from protocols.teltonika.commands import decode_items, encode_command, item_response
from protocols.teltonika.io_mapping import avl_to_record, fixed_to_record

LOGIN_ACCEPT = b"\x01"
LOGIN_REJECT = b"\x00"
CRC_NAK = b"\x00\x00\x00\x00"
"""Record count 0: the device keeps the packet and sends it again."""
_PING_BYTE = b"\xff"
"""A lone 0xFF between frames is a keep-alive (Traccar's frame decoder skips it too)."""

IMEI_LENGTHS = range(15, 18)
MIN_DATA_LENGTH = 3  # codec id, N1, N2

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_TCP_HEAD = struct.Struct(">II")
_UDP_HEAD = struct.Struct(">HHBBH")
_UDP_ACK = struct.Struct(">HHBBB")
_COMMAND_CODECS = frozenset({CODEC_12, CODEC_13, CODEC_14})
_DECODE_ERRORS = (struct.error, IndexError, KeyError, ValueError, OverflowError)


@dataclass(slots=True)
class DecodedData:
    """The AVL data field of one frame: its codec, N1, and what it carried."""

    codec: int
    count: int
    records: Sequence[Record] = ()
    responses: Sequence[CommandResponse] = ()

    def messages(self, ack: bytes) -> list[Message]:
        """A Report (AVL codecs, acknowledged with ``ack``) or the command responses."""
        if self.codec in AVL_CODECS:
            return [Report("avl", tuple(self.records), ack)]
        return list(self.responses)


def decode_data(
    data: bytes, start: int, end: int, imei: str | None, *, strict: bool = True
) -> DecodedData:
    """Decode the field from codec id to N2 in ``data[start:end]`` (shared by TCP, UDP, captures).

    ``strict`` demands that N1 == N2 and that the records fill the field exactly. Codec 8/8E/16
    records with fixed-width IO elements only (nearly all) are read by ``avl.decode_fixed``; any
    other field, or one that does not add up that way, by ``avl.decode_records``. When a codec
    8/8E/16 field does not add up, it is read once more with the 16-byte IO group that some firmware
    adds (Traccar's ``extended`` option): the CRC already vouched for the bytes, so only the layout
    can be off. Raises ``MalformedData`` (a ``ValueError``) or ``ProtocolError`` for unknown codecs.
    """
    if end - start < MIN_DATA_LENGTH:
        raise MalformedData("AVL data field shorter than codec id, N1 and N2")
    codec = data[start]
    count = data[start + 1]
    if strict and data[end - 1] != count:
        raise MalformedData(f"record counts differ: N1={count}, N2={data[end - 1]}")
    offset = start + 2
    body_end = end - 1 if strict else end
    result = DecodedData(codec, count)
    if codec in (avl.CODEC_8, avl.CODEC_8E, avl.CODEC_16):
        fixed = avl.decode_fixed(data, offset, body_end, codec, count)
        if fixed is not None and (not strict or fixed[1] == body_end):
            result.records = [fixed_to_record(record, imei) for record in fixed[0]]
            return result
        try:
            records, offset = avl.decode_records(data, offset, body_end, codec, count)
            _check_filled(offset, body_end, strict)
        except (MalformedData, struct.error) as first:
            try:
                records, offset = avl.decode_records(
                    data, start + 2, body_end, codec, count, extended=True
                )
                _check_filled(offset, body_end, strict)
            except (MalformedData, struct.error):
                raise first from None
        result.records = [avl_to_record(record, imei, codec) for record in records]
    elif codec == CODEC_7:
        records, offset = gh3000.decode_records(data, offset, body_end, count)
        _check_filled(offset, body_end, strict)
        result.records = [avl_to_record(record, imei, codec) for record in records]
    elif codec in _COMMAND_CODECS:
        items, offset = decode_items(data, offset, body_end, codec, count)
        _check_filled(offset, body_end, strict)
        responses = (item_response(item, imei) for item in items)
        result.responses = [response for response in responses if response is not None]
    else:
        raise ProtocolError(
            f"unknown Teltonika codec {codec:#04x}", close=True, excerpt=data[start:end]
        )
    return result


def _check_filled(offset: int, end: int, strict: bool) -> None:
    if strict and offset != end:
        raise MalformedData(f"records end at {offset}, the data field at {end}")


class ServerSession(BufferedSession[bytes]):
    """One device's TCP connection: IMEI handshake first, then AVL and command frames.

    ``imei`` starts the session already identified (a test, or a connection handed over after the
    handshake). The feed loop and its error rule are the base session's. What is particular here is
    memory: the buffer holds one frame at most (``max_frame``), so a read larger than that waits in
    a backlog and enters the buffer as frames leave it. Input after a non-fatal error (bad CRC)
    stays queued: :attr:`pending` stays true until the next ``feed``, which decodes on.

    A read that arrives while the buffer is empty waits in the backlog too, and the complete AVL
    frames at its head are cut from it in place (one copy per frame, no buffer bookkeeping): that
    is nearly every read of an identified device. Anything else there (a partial frame, a bad
    header) goes through the buffer as before, so errors are found and answered in one place.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, imei: str | None = None) -> None:
        super().__init__(max_frame, buffer_limit=max_frame)
        self.imei = imei
        self._backlog = b""
        self._backlog_at = 0
        """Offset of the first byte in ``_backlog`` not yet moved into the buffer."""
        self._resume = False
        """A non-fatal error ended the last ``feed``: what follows it may already be complete."""

    @property
    def pending(self) -> bool:
        """True when ``feed(b"")`` has something to do: a held error or input queued after one."""
        return self._pending is not None or self._resume

    @property
    def buffered(self) -> int:
        """Bytes received and not yet decoded (a partial frame, and a read waiting for room)."""
        return len(self._buf) + len(self._backlog) - self._backlog_at

    def _receive(self, data: bytes) -> None:
        held = self._pending
        self._resume = held is not None and not held.close  # raised next, then decoding goes on
        if not data or (held is not None and held.close):
            return  # nothing, or the connection is closing: what follows is never decoded
        if self._backlog:
            self._backlog = bytes(self._backlog[self._backlog_at :]) + bytes(data)
            self._backlog_at = 0
        elif len(self._buf) and len(data) <= self._buf.limit - len(self._buf):
            self._buf.feed(data)  # the rest of a frame begun in an earlier read
        else:
            self._backlog, self._backlog_at = bytes(data), 0

    def _on_error(self, error: ProtocolError) -> None:
        self._resume = not error.close
        if error.close:
            self._buf.clear()
            self._backlog, self._backlog_at = b"", 0

    def _top_up(self) -> bool:
        """Move queued bytes into the buffer as far as its limit allows; False when none are queued."""
        data, at = self._backlog, self._backlog_at
        if not data:
            return False
        buffer = self._buf
        room = buffer.limit - len(buffer)
        if room <= 0:  # cannot happen: a frame never exceeds the limit
            raise ProtocolError("frame larger than the receive buffer", close=True)
        chunk = data[at : at + room]
        buffer.feed(chunk)
        at += len(chunk)
        if at >= len(data):
            self._backlog, self._backlog_at = b"", 0
        else:
            self._backlog_at = at
        return True

    command_reference: str | None = None
    """A Codec 12 answer carries only its text: answers go by order."""

    def encode_command(self, text: str, now: float) -> bytes:
        """Codec 12 command frame (type 0x05); the device answers with a type 0x06 frame."""
        return encode_command(text)

    def _next_frame(self) -> bytes | None:
        """The complete frame at the head of the buffer (consumed), or None; keep-alives are skipped."""
        buffer = self._buf
        while True:
            if not len(buffer):
                if not self._backlog:
                    return None  # everything received is decoded
                if self.imei is not None:
                    frame = self._frame_in_place()
                    if frame is not None:
                        return frame
            if buffer.peek(1) == _PING_BYTE:
                buffer.skip(1)
                buffer.commit()
                continue
            head = buffer.peek(8 if self.imei is not None else 2)
            if head is not None:
                frame = self._handshake(buffer, head) if self.imei is None else self._avl_frame(buffer, head)
                if frame is not None:
                    return frame
                buffer.rollback()
            if not self._top_up():
                return None

    def _frame_in_place(self) -> bytes | None:
        """The complete, well-headed AVL frame at the head of the backlog (consumed), or None.

        Keep-alive bytes before it are skipped. None leaves the rest to the buffer path: a partial
        frame to wait for, or a header that path refuses with the proper error.
        """
        data, at = self._backlog, self._backlog_at
        end = len(data)
        while at < end and data[at] == 0xFF:
            at += 1
        if end - at >= 8:
            preamble, length = _TCP_HEAD.unpack_from(data, at)
            size = length + 12
            if preamble == 0 and MIN_DATA_LENGTH <= length and size <= self.max_frame and at + size <= end:
                frame = data[at : at + size]
                at += size
            else:
                frame = None
        else:
            frame = None
        if at >= end:
            self._backlog, self._backlog_at = b"", 0
        else:
            self._backlog_at = at
        return frame

    def _decode(self, frame: bytes, out: list[Message]) -> None:
        """The handshake while the device is unknown (it was framed as one), then AVL frames."""
        if self.imei is None:
            self.imei = frame[2:].decode("ascii")
            out.append(Login(imei=self.imei, accept=LOGIN_ACCEPT, reject=LOGIN_REJECT))
        else:
            out.extend(decode_tcp_frame(frame, self.imei))

    def _handshake(self, buffer: Buffer, head: bytes) -> bytes | None:
        (length,) = _U16.unpack_from(head)
        if length == 0:
            raise ProtocolError(
                "AVL data before the IMEI handshake", close=True, excerpt=buffer.peek(len(buffer)) or b""
            )
        if length not in IMEI_LENGTHS:
            raise ProtocolError(
                f"IMEI length {length} is not 15-17",
                reply=LOGIN_REJECT,
                close=True,
                excerpt=head,
            )
        frame = buffer.read(2 + length)
        if frame is None:
            return None
        buffer.commit()
        if not frame[2:].isdigit():  # bytes.isdigit is ASCII-only
            raise ProtocolError(
                "IMEI is not all digits", reply=LOGIN_REJECT, close=True, excerpt=frame
            )
        return frame

    def _avl_frame(self, buffer: Buffer, head: bytes) -> bytes | None:
        preamble, length = _TCP_HEAD.unpack(head)
        if preamble != 0:
            raise ProtocolError("AVL frame preamble is not zero", close=True, excerpt=head)
        if length < MIN_DATA_LENGTH or length + 12 > self.max_frame:
            raise ProtocolError(
                f"AVL data length {length} out of range", close=True, excerpt=head
            )
        frame = buffer.read(length + 12)
        if frame is None:
            return None
        buffer.commit()
        return frame


def decode_tcp_frame(frame: bytes, imei: str | None) -> list[Message]:
    """Messages of one complete TCP frame (preamble to CRC), checked strictly."""
    end = len(frame) - 4
    (crc,) = _U32.unpack_from(frame, end)
    computed = crc16_ibm(memoryview(frame)[8:end])
    if crc != computed:
        raise ProtocolError(
            f"CRC mismatch: frame says {crc:#06x}, data gives {computed:#06x}",
            reply=CRC_NAK,
            close=False,
            excerpt=frame,
        )
    try:
        decoded = decode_data(frame, 8, end, imei)
    except _DECODE_ERRORS as exc:
        raise ProtocolError(f"malformed AVL frame: {exc}", close=True, excerpt=frame) from None
    return decoded.messages(_U32.pack(decoded.count))


def decode_datagram(data: bytes) -> list[Message]:
    """One UDP datagram: length, packet id, a spare byte, AVL packet id, IMEI, AVL data (no CRC).

    The ACK echoes the packet id as the Teltonika wiki shows (``0005 CAFE 01 05 01``); Traccar
    writes 0 there instead.
    """
    try:
        if len(data) < _UDP_HEAD.size:
            raise MalformedData("datagram shorter than its header")
        length, packet_id, _spare, avl_packet_id, imei_length = _UDP_HEAD.unpack_from(data)
        if length != len(data) - 2:
            raise MalformedData(f"length field {length} but {len(data) - 2} bytes follow it")
        if imei_length not in IMEI_LENGTHS:
            raise MalformedData(f"IMEI length {imei_length} is not 15-17")
        start = _UDP_HEAD.size + imei_length
        digits = bytes(data[_UDP_HEAD.size : start])
        if len(digits) != imei_length or not digits.isdigit():
            raise MalformedData("IMEI is not all digits")
        imei = digits.decode("ascii")
        decoded = decode_data(data, start, len(data), imei)
    except ProtocolError:
        raise
    except _DECODE_ERRORS as exc:
        raise ProtocolError(f"malformed Teltonika datagram: {exc}", excerpt=data) from None
    ack = _UDP_ACK.pack(5, packet_id, 0x01, avl_packet_id, decoded.count)
    return decoded.messages(ack)


def decode_captured(data: bytes, imei: str | None = None) -> list[Message]:
    """Best-effort decode of one captured TCP frame (e.g. a hex dump from a log or a ticket).

    Well-formed frames decode exactly as on the live path. Damaged ones (bad CRC, wrong data length,
    truncated after the records) are read the way Traccar's decoder reads them: from the codec id on,
    ignoring the length, N2 and CRC. For forensics only: never acknowledge what this returns.
    """
    data = bytes(data).lstrip(b"\xff")
    if not data:
        return []
    if data[:2] != b"\x00\x00":
        return ServerSession(max_frame=max(DEFAULT_MAX_FRAME, len(data))).feed(data)
    try:
        if len(data) >= 12:
            (length,) = _U32.unpack_from(data, 4)
            if length + 12 == len(data):
                return decode_tcp_frame(data, imei)
    except ProtocolError:
        pass
    try:
        if len(data) < 8 + MIN_DATA_LENGTH:
            raise MalformedData("too short for an AVL frame")
        decoded = decode_data(data, 8, len(data), imei, strict=False)
    except ProtocolError:
        raise
    except _DECODE_ERRORS as exc:
        raise ProtocolError(f"cannot salvage frame: {exc}", close=True, excerpt=data) from None
    return decoded.messages(_U32.pack(decoded.count))
