"""GT06 online commands: the server's 0x80 frame and the device's 0x15 / 0x21 answers.

A command is ``7878 | len | 80 | cmd len | server flag (4) | ASCII command | serial | CRC | 0D0A``
(Traccar's ``Gt06ProtocolEncoder``; the optional language word is left out). The device answers
with 0x15 (``len | server flag | text``, 7878) or, for long or UTF-16 texts, 0x21 in a 7979 frame
(``server flag | encoding | text``); both echo the server flag, so the server numbers its commands
with it (Concox JM-VL03 protocol V1.1.2, "Online Command (0x80)": the flag is "reserved for server
acknowledgement" and the answer carries it "returned as is"; Traccar sends 0 and every answer in its
tests carries 0). The server side decodes those answers in ``misc.decode_string`` and
``extended.decode_string_info``; this module has the encoder and the device side of the exchange.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.gt06.framing import build_frame

MSG_COMMAND = 0x80
MSG_STRING = 0x15
MSG_STRING_INFO = 0x21

MAX_COMMAND = 0xFF - 5 - 5
"""Longest command text: the 7878 length byte covers type, command length, flag, text, serial, CRC."""
_SHORT_ANSWER = 0xFF - 5 - 5 - 2
"""Longest answer text a 0x15 frame carries (with its language word); longer ones go as 0x21."""

_U32 = struct.Struct(">I")
_LANGUAGE_ENGLISH = b"\x00\x02"


def server_flag_reference(flag: int) -> str:
    """A server flag as the reference that ties an answer to its command (8 hex digits)."""
    return f"{flag & 0xFFFFFFFF:08x}"


def encode_command(text: str, server_flag: int, serial: int) -> bytes:
    """A 0x80 online command frame carrying ``text`` (ASCII), e.g. ``WHERE#`` or ``Relay,1#``."""
    raw = text.encode("ascii")
    if not raw or len(raw) > MAX_COMMAND:
        raise ValueError(f"a GT06 command is 1 to {MAX_COMMAND} ASCII characters, got {len(raw)}")
    content = bytes((4 + len(raw),)) + _U32.pack(server_flag & 0xFFFFFFFF) + raw
    return build_frame(MSG_COMMAND, content, serial)


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """A 0x80 command as the device receives it."""

    text: str
    server_flag: int
    serial: int


def decode_command(content: bytes, serial: int) -> ServerCommand:
    """The command in the content of a 0x80 frame (``ValueError`` if it is cut short or not ASCII)."""
    size = content[0] if content else 0
    if size < 4 or len(content) < 1 + size:
        raise ValueError(f"command length {size} does not fit its frame")
    (flag,) = _U32.unpack_from(content, 1)
    return ServerCommand(content[5 : 1 + size].decode("ascii"), flag, serial)


def encode_answer(text: str, server_flag: int, serial: int) -> bytes:
    """The device's answer: 0x15 with the server flag echoed, or 0x21 (7979) when too long for it."""
    raw = text.encode("ascii")
    flag = _U32.pack(server_flag & 0xFFFFFFFF)
    if len(raw) <= _SHORT_ANSWER:
        return build_frame(MSG_STRING, bytes((4 + len(raw),)) + flag + raw + _LANGUAGE_ENGLISH, serial)
    return build_frame(MSG_STRING_INFO, flag + b"\x01" + raw, serial, extended=True)
