"""Ruptela packet boundaries and checksum.

A TCP packet is ``length (2) | IMEI (8) | command (1) | data | CRC (2)``: the length counts IMEI,
command and data; the CRC is CRC-16/KERMIT over the same bytes (checked against Traccar's record
ACK ``0002 6401 13BC``: KERMIT of ``6401`` is ``13BC``). Server answers have no IMEI:
``length | command + 100 | data | CRC``.

The stream has no start marker, so a length that cannot be right (shorter than IMEI and command,
or over the frame limit) means the framing is lost and the connection must close; a packet whose
CRC is wrong is consumed whole and reported, since its length put the next packet where it is.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from fastcrc import crc16 as _crc16

from protocols.core import Buffer, ProtocolError

_U16 = struct.Struct(">H")
_HEAD = struct.Struct(">HQB")

MIN_LENGTH = 9
"""IMEI and command: the least a device packet carries."""

SERVER_OFFSET = 100
"""A server answer's command byte is the device command plus 100 (the record ACK, though, is 100
itself for both record commands, 1 and 68, as Traccar sends it)."""


def crc16_kermit(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/KERMIT (reflected 0x1021, init 0): Ruptela's packet checksum."""
    return _crc16.kermit(data)


@dataclass(frozen=True, slots=True)
class Packet:
    """One checked device packet: its IMEI (15 digits, zero-padded), command and data."""

    imei: str
    command: int
    data: bytes
    raw: bytes


Scanned = Packet | ProtocolError


def build_packet(imei: str, command: int, data: bytes) -> bytes:
    """A device packet: length, IMEI as a 64-bit number, command, data and CRC."""
    if not imei.isdigit() or int(imei) >= 1 << 64:
        raise ValueError(f"IMEI must be digits that fit 64 bits, got {imei!r}")
    body = struct.pack(">QB", int(imei), command & 0xFF) + data
    if len(body) > 0xFFFF:
        raise ValueError(f"packet of {len(body)} bytes is over the 16-bit length")
    return _U16.pack(len(body)) + body + _U16.pack(crc16_kermit(body))


def build_answer(command: int, data: bytes) -> bytes:
    """A server answer: length, command byte, data and CRC (no IMEI)."""
    body = bytes((command & 0xFF,)) + data
    return _U16.pack(len(body)) + body + _U16.pack(crc16_kermit(body))


def next_packet(buf: Buffer, max_frame: int, *, answers: bool = False) -> tuple[Scanned | None, int]:
    """The packet at the head of ``buf`` and its size, ``(None, 0)`` to wait for more bytes.

    ``answers`` parses the server's packets (no IMEI) for the device side; their ``imei`` is "".
    """
    head = buf.peek(2)
    if head is None:
        return None, 0
    length = _U16.unpack(head)[0]
    total = length + 4
    least = 1 if answers else MIN_LENGTH
    if length < least or total > max_frame:
        why = f"packet length {length} is impossible" if length < least else (
            f"packet of {total} bytes is over the limit of {max_frame}"
        )
        return ProtocolError(why, close=True, excerpt=buf.peek(min(len(buf), 64)) or head), len(buf)
    raw = buf.peek(total)
    if raw is None:
        return None, 0
    body = raw[2:-2]
    crc = _U16.unpack_from(raw, total - 2)[0]
    if crc16_kermit(body) != crc:
        return ProtocolError(
            f"bad CRC: {crc:04x}, expected {crc16_kermit(body):04x}", close=False, excerpt=raw
        ), total
    if answers:
        return Packet("", body[0], body[1:], raw), total
    _, imei, command = _HEAD.unpack_from(raw, 0)
    return Packet(f"{imei:015d}", command, body[9:], raw), total


def take_packet(buf: Buffer, max_frame: int, *, answers: bool = False) -> Packet | None:
    """Consume the next packet of ``buf``: it, or None to wait; a bad one is consumed and raised.

    An error that asks to close clears the buffer: the stream has lost its framing.
    """
    item, size = next_packet(buf, max_frame, answers=answers)
    if item is None:
        return None
    buf.skip(size)
    buf.commit()
    if isinstance(item, ProtocolError):
        if item.close:
            buf.clear()
        raise item
    return item
