"""@Track server commands ``AT+GT<cmd>=<password>,...,<serial>$`` and the device's side of them.

Queclink devices take commands as ``AT+GTxxx=...$`` sentences (Traccar's ``Gl200ProtocolEncoder``:
``AT+GTRTO=<password>,1,,,,,,FFFF$`` asks for a position, ``...,8,...`` for the firmware
version, ``AT+GTOUT=...`` switches an output). The last field is a 4-hex serial number the device
echoes in its ``+ACK:GTxxx,...,<serial>,<send time>,<count>$`` ("the same serial number which is
sent to the device with the corresponding command. The backend server could use it to distinguish
which command the ACK message is for": GL300 @Tracker Air Interface Protocol TRACGL300AN001, the
``+ACK:GTQSS`` fields; Traccar's vectors ``+ACK:GTRTO,...,VER,FFFF,<time>,0C19``), or answers
``+NACK:GTxxx,...$`` when it refuses (no serial documented there). The session gives both as a
``CommandResponse`` (``text.decode_sentence``) and puts its own serial in every command it sends,
so an ``+ACK`` names the command it answers. The command text names the device's password itself.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_COMMAND = 512
"""Longest command sent (the device's command buffer is of that order)."""


def is_serial(field: str) -> bool:
    """Whether ``field`` is a 4-hex serial number."""
    return len(field) == 4 and all(c in "0123456789ABCDEFabcdef" for c in field)


def encode_command(text: str, serial: str | None = None) -> bytes:
    """``AT+GT<text>$``; ``text`` may also be a whole ``AT+...`` command, with or without ``$``.

    ``RTO=,1,,,,,,FFFF`` and ``AT+GTRTO=,1,,,,,,FFFF$`` give the same bytes. With ``serial`` (4 hex
    digits) the serial number the command ends with is replaced by it; a command that does not end
    with one is sent as it is.
    """
    body = text.strip().removesuffix("$")
    if not body.upper().startswith("AT+"):
        body = "AT+GT" + body
    if len(body) > MAX_COMMAND or not body.isascii() or any(c in body for c in "$\r\n"):
        raise ValueError(f"a Queclink command is up to {MAX_COMMAND} ASCII characters, one line, no '$' inside")
    if "=" not in body:
        raise ValueError(f"a Queclink command reads AT+GTxxx=<password>,...: {body!r}")
    if serial is not None:
        head, comma, last = body.rpartition(",")
        if comma and "=" in head and is_serial(last):
            body = f"{head},{serial}"
    return (body + "$").encode("ascii")


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """A command as the device receives it: its type (``RTO``), fields, and the serial to echo."""

    type: str
    fields: tuple[str, ...]

    @property
    def serial(self) -> str:
        """The 4-hex serial the ACK echoes (the last field), or ``FFFF``."""
        last = self.fields[-1] if self.fields else ""
        return last if is_serial(last) else "FFFF"

    @property
    def text(self) -> str:
        """The command as sent, without ``AT+GT`` and ``$``."""
        return f"{self.type}={','.join(self.fields)}"


def decode_command(sentence: str) -> ServerCommand | None:
    """The ``AT+GTxxx=...`` command in one ``$``-terminated sentence, else None."""
    body = sentence.strip().removesuffix("$")
    if not body.upper().startswith("AT+GT") or "=" not in body:
        return None
    kind, _, rest = body[5:].partition("=")
    return ServerCommand(kind.upper(), tuple(rest.split(",")))
