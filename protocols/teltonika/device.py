"""Device side of Teltonika: what a tracker sends, and a parser for what the server answers.

The simulators and the tests drive the server with these; they are the exact inverse of
:mod:`protocols.teltonika.server`, so a normalised record survives encode -> decode within the wire
resolution (1e-7 degrees, whole metres and km/h, mV, 0.1 HDOP, 20 % GSM steps).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.core import DEFAULT_MAX_FRAME, Buffer, ProtocolError, crc16_ibm
from protocols.record import Record
from protocols.teltonika.avl import CODEC_12, CODEC_14, ENCODABLE_CODECS, encode_records
from protocols.teltonika.commands import decode_items, payload_text, tcp_frame
from protocols.teltonika.io_mapping import record_to_avl

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_TCP_HEAD = struct.Struct(">II")
_UDP_HEAD = struct.Struct(">HHBBH")
_UDP_ACK = struct.Struct(">HHBBB")
_ZERO4 = b"\x00\x00\x00\x00"


def encode_imei(imei: str) -> bytes:
    """The handshake a device opens its TCP connection with: 2-byte length and the ASCII IMEI."""
    raw = imei.encode("ascii")
    return _U16.pack(len(raw)) + raw


def _avl_data(records: Sequence[Record], codec_id: int) -> bytes:
    if codec_id not in ENCODABLE_CODECS:
        raise ValueError(f"cannot encode codec {codec_id:#04x}; use 0x08, 0x8E or 0x10")
    return encode_records([record_to_avl(record) for record in records], codec_id)


def encode_avl(records: Sequence[Record], codec_id: int = 0x8E) -> bytes:
    """A TCP AVL packet (preamble, length, codec 8/8E/16 data, CRC) carrying ``records``."""
    return tcp_frame(_avl_data(records, codec_id))


def encode_udp(
    imei: str,
    packet_id: int,
    avl_packet_id: int,
    records: Sequence[Record],
    codec_id: int = 0x8E,
) -> bytes:
    """A UDP AVL datagram: length, packet id, spare byte 0x01, AVL packet id, IMEI, data (no CRC)."""
    raw_imei = imei.encode("ascii")
    tail = raw_imei + _avl_data(records, codec_id)
    head = _UDP_HEAD.pack(
        _UDP_HEAD.size - 2 + len(tail), packet_id & 0xFFFF, 0x01, avl_packet_id & 0xFF, len(raw_imei)
    )
    return head + tail


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    """The server's one-byte answer to the IMEI handshake (0x01 accepted)."""

    accepted: bool


@dataclass(frozen=True, slots=True)
class RecordAck:
    """How many records of the last AVL packet the server accepted (0: send it again)."""

    count: int


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """A Codec 12 (or 14) command from the server, e.g. ``getinfo``."""

    text: str


@dataclass(frozen=True, slots=True)
class UdpAck:
    """The server's answer to a UDP datagram."""

    packet_id: int
    avl_packet_id: int
    count: int


DeviceEvent = LoginAnswer | RecordAck | ServerCommand


class DeviceReceiver:
    """Parses the byte stream a TCP device receives: login answer, record ACKs, commands.

    A record ACK is 4 bytes and a command frame starts with 4 zero bytes, so ``00000000`` alone is
    ambiguous. Call :meth:`expect_ack` after sending each AVL packet: the next 4 bytes are then read
    as its ACK (0 included). Without it, a non-zero 4-byte count is still read as an ACK.
    """

    def __init__(self, *, logged_in: bool = False, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.logged_in = logged_in
        self.max_frame = max_frame
        self._buffer = Buffer(limit=max_frame)
        self._acks_expected = 0

    def expect_ack(self) -> None:
        """The device just sent an AVL packet; its ACK is due before any command."""
        self._acks_expected += 1

    def feed(self, data: bytes) -> list[DeviceEvent]:
        """Events completed by ``data``; a partial ACK or frame is kept for the next call."""
        events: list[DeviceEvent] = []
        buffer = self._buffer
        pos = 0
        while True:
            room = buffer.limit - len(buffer)
            chunk = data[pos : pos + room]
            buffer.feed(chunk)
            pos += len(chunk)
            self._drain(events)
            if pos >= len(data):
                return events
            if not chunk:  # a full buffer always holds a whole frame, so this is only a guard
                buffer.clear()
                raise ProtocolError("server frame larger than the receive buffer", close=True)

    def _drain(self, events: list[DeviceEvent]) -> None:
        buffer = self._buffer
        while len(buffer):
            if not self.logged_in:
                answer = buffer.read(1)
                buffer.commit()
                self.logged_in = True
                events.append(LoginAnswer(accepted=answer == b"\x01"))
                continue
            head = buffer.peek(4)
            if head is None:
                return
            if self._acks_expected or head != _ZERO4:
                buffer.skip(4)
                buffer.commit()
                self._acks_expected = max(0, self._acks_expected - 1)
                events.append(RecordAck(count=_U32.unpack(head)[0]))
                continue
            header = buffer.peek(8)
            if header is None:
                return
            (length,) = _U32.unpack_from(header, 4)
            if length < 3 or length + 12 > self.max_frame:
                buffer.clear()
                raise ProtocolError(f"command frame length {length} out of range", close=True)
            frame = buffer.read(length + 12)
            if frame is None:
                buffer.rollback()
                return
            buffer.commit()
            events.extend(decode_server_frame(frame))


def decode_server_frame(frame: bytes) -> list[ServerCommand]:
    """The commands in one complete Codec 12/14 frame sent by a server."""
    end = len(frame) - 4
    (crc,) = _U32.unpack_from(frame, end)
    if crc != crc16_ibm(memoryview(frame)[8:end]):
        raise ProtocolError("command frame CRC mismatch", excerpt=frame)
    codec, count = frame[8], frame[9]
    if codec not in (CODEC_12, CODEC_14):
        raise ProtocolError(f"codec {codec:#04x} is not a server command", excerpt=frame)
    if frame[end - 1] != count:
        raise ProtocolError("command counts differ", excerpt=frame)
    try:
        items, offset = decode_items(frame, 10, end - 1, codec, count)
    except ValueError as exc:
        raise ProtocolError(f"malformed command frame: {exc}", excerpt=frame) from None
    if offset != end - 1:
        raise ProtocolError("command frame has bytes after its commands", excerpt=frame)
    return [ServerCommand(text=payload_text(item.payload)) for item in items]


def decode_udp_ack(data: bytes) -> UdpAck:
    """The 7-byte UDP ACK: ``0005``, packet id, ``01``, AVL packet id, number of records accepted."""
    if len(data) != _UDP_ACK.size:
        raise ProtocolError(f"UDP ACK must be 7 bytes, got {len(data)}", excerpt=data)
    length, packet_id, _spare, avl_packet_id, count = _UDP_ACK.unpack(data)
    if length != 5:
        raise ProtocolError(f"UDP ACK length field {length}, expected 5", excerpt=data)
    return UdpAck(packet_id=packet_id, avl_packet_id=avl_packet_id, count=count)
