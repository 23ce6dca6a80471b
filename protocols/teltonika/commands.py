"""Codec 12, 13 and 14: text commands and their answers inside the TCP frame.

A server sends a command (Codec 12 type 0x05, or Codec 14 with the IMEI it is meant for) and the
device answers (type 0x06) with a text such as the ``getinfo`` report, which diagnostics read. Codec
13 is the device-to-server variant that carries a timestamp. Codec 12 type 0x0D is a camera transfer:
it carries no text and gives no record.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.core import CommandResponse, crc16_ibm
from protocols.record import Record
from protocols.teltonika.avl import CODEC_12, CODEC_13, CODEC_14, MalformedData

TYPE_COMMAND = 0x05
TYPE_RESPONSE = 0x06
TYPE_CAMERA = 0x0D
TYPE_IMEI_MISMATCH = 0x11

_ITEM_HEAD = struct.Struct(">BI")
_U32 = struct.Struct(">I")
_TCP_HEAD = struct.Struct(">II")
_PRINTABLE = bytes(range(32, 128)) + b"\r\n\t"

PROTOCOL = "teltonika"


@dataclass(frozen=True, slots=True)
class CommandItem:
    """One command or answer of a codec 12/13/14 frame, payload still bytes."""

    codec: int
    type: int
    payload: bytes
    timestamp: int | None = None
    imei: str | None = None

    @property
    def text(self) -> str:
        """The payload as text when it is printable ASCII (trimmed, as Traccar does), else hex."""
        return payload_text(self.payload)


def payload_text(payload: bytes) -> str:
    """Printable ASCII as text, anything else (binary answers, camera data) as lowercase hex."""
    if payload.translate(None, _PRINTABLE):
        return payload.hex()
    return payload.decode("ascii").strip()


def decode_items(
    data: bytes, offset: int, end: int, codec: int, count: int
) -> tuple[list[CommandItem], int]:
    """``count`` items from ``data[offset:end]``: type, 4-byte size, [timestamp | IMEI], payload."""
    items: list[CommandItem] = []
    for _ in range(count):
        if offset + 5 > end:
            raise MalformedData("command header runs past the end of the data")
        kind, size = _ITEM_HEAD.unpack_from(data, offset)
        offset += 5
        if offset + size > end:
            raise MalformedData("command size runs past the end of the data")
        timestamp = imei = None
        start = offset
        if codec == CODEC_13:
            if size < 4:
                raise MalformedData("codec 13 command shorter than its timestamp")
            (timestamp,) = _U32.unpack_from(data, offset)
            start += 4
        elif codec == CODEC_14:
            if size < 8:
                raise MalformedData("codec 14 command shorter than its IMEI")
            imei = data[offset : offset + 8].hex().lstrip("0") or "0"
            start += 8
        offset += size
        items.append(CommandItem(codec, kind, bytes(data[start:offset]), timestamp, imei))
    return items, offset


def item_response(item: CommandItem, imei: str | None) -> CommandResponse | None:
    """The message for one item a device sent: its answer text kept as a record too.

    Camera chunks (codec 12 type 0x0D) give None: there is nothing to store as a record.
    """
    if item.codec == CODEC_12 and item.type == TYPE_CAMERA:
        return None
    text = item.text
    attributes: dict[str, object] = {"response": text}
    if item.type != TYPE_RESPONSE:
        attributes["type"] = item.type
    if item.imei is not None:
        attributes["device_imei"] = item.imei
    if text.startswith("GTSL"):
        fields = text.split("|")
        if len(fields) > 4:
            attributes["driver_id"] = fields[4]  # tachograph/driver card login (as Traccar reads it)
    record = Record(
        imei=imei,
        protocol=PROTOCOL,
        fix_time=float(item.timestamp) if item.timestamp is not None else None,
        event="command_response",
        attributes=attributes,
    )
    return CommandResponse(text=text, records=(record,), ack=None)


def tcp_frame(body: bytes) -> bytes:
    """Preamble, data length, ``body`` (codec .. N2) and the CRC-16/IBM as 4 bytes."""
    return _TCP_HEAD.pack(0, len(body)) + body + _U32.pack(crc16_ibm(body))


def encode_items(codec: int, kind: int, payloads: list[bytes], prefix: bytes = b"") -> bytes:
    """A whole TCP frame of codec 12/13/14 items; ``prefix`` is the timestamp or IMEI field."""
    if not 1 <= len(payloads) <= 255:
        raise ValueError("a command frame carries 1 to 255 commands")
    parts = [bytes((codec, len(payloads)))]
    for payload in payloads:
        parts.append(_ITEM_HEAD.pack(kind, len(prefix) + len(payload)))
        parts.append(prefix + payload)
    parts.append(bytes((len(payloads),)))
    return tcp_frame(b"".join(parts))


def encode_command(text: str) -> bytes:
    """Codec 12 server command (type 0x05), e.g. ``getinfo``, ``getstatus``, ``getparam 2001``."""
    return encode_items(CODEC_12, TYPE_COMMAND, [text.encode("ascii")])


def encode_command_response(text: str) -> bytes:
    """Codec 12 device answer (type 0x06): what a simulated device replies to a command."""
    return encode_items(CODEC_12, TYPE_RESPONSE, [text.encode("ascii")])


def encode_imei_command(imei: str, text: str) -> bytes:
    """Codec 14 server command: the device runs it only if ``imei`` is its own (else type 0x11)."""
    if not (imei.isascii() and imei.isdigit() and len(imei) <= 16):
        raise ValueError(f"IMEI must be up to 16 digits, got {imei!r}")
    return encode_items(
        CODEC_14, TYPE_COMMAND, [text.encode("ascii")], bytes.fromhex(imei.rjust(16, "0"))
    )
