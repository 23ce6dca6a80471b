"""Server side of one Queclink connection (TCP) and of single datagrams (UDP).

Queclink devices do not log in: every message carries the IMEI. The session takes it from the
first message that names the device and emits a :class:`Login` (with no answer bytes) before that
message's report, so the service registers the device; a message naming another device emits
another Login, which the service treats as a second identity on one connection.

What the server answers (bytes in each message's ``ack``, written after the records are committed):

* ``+ACK:GTHBD,<version>,<IMEI>,...,<count>`` (heartbeat): ``+SACK:GTHBD,<version>,<count>$``,
  always, as Traccar does;
* every other ASCII ``+RESP``/``+BUFF``/``+ACK`` message ending in a 4-hex count number:
  ``+SACK:<count>$`` when ``sack`` is on (the default; Traccar's ``gl200.ack`` option). A device
  with SACK enabled resends until it gets it; one without ignores it. The count is echoed as
  sent. ``+NACK`` and messages without a count are never answered;
* Protocol Pro reports and heartbeats: ``+SACK:<count>$`` (same shape) when ``sack`` is on;
* HEX frames: nothing (Traccar answers none; no HEX acknowledgement is documented).

Errors never escape as anything but :class:`ProtocolError`. When good frames precede a bad one in
the same chunk, ``feed`` returns the good messages and raises on its next call (``feed(b"")``;
:attr:`ServerSession.pending` says one is waiting), so nothing decoded is dropped.
"""

from __future__ import annotations

import random
from typing import Any

from protocols.core import (
    CONTENT_ERRORS,
    DEFAULT_MAX_FRAME,
    BufferedSession,
    CommandResponse,
    Login,
    Message,
    ProtocolError,
    Report,
)
from protocols.gl200.binary import decode_hex, decode_pro
from protocols.gl200.commands import encode_command
from protocols.gl200.framing import BINARY, TEXT, Frame, frame_of_datagram, take_frame
from protocols.gl200.sentence import Outcome
from protocols.gl200.text import decode_sentence

SERIALS = 0xFFFF
"""Serial numbers the server uses: 0000 to FFFE (FFFF is the one people and Traccar type)."""


def decode_frame(frame: Frame, sack: bool = True) -> Outcome:
    """Records and answer of one complete frame, whatever its format."""
    if frame.kind == TEXT:
        return decode_sentence(frame.body, sack)
    if frame.kind == BINARY:
        return decode_hex(frame.body)
    return decode_pro(frame.body, sack)


class ServerSession(BufferedSession[Frame]):
    """Decodes one device's stream; knows its IMEI from the first message that names it.

    ``sack`` turns the ``+SACK:<count>$`` acknowledgement of reports on (default) or off.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, sack: bool = True, **_: Any) -> None:
        super().__init__(max_frame)
        self.sack = sack
        self._serial = random.randrange(SERIALS)
        """Serial number of the last command: counts up from a random start, so an ``+ACK`` from an
        earlier connection of the device does not carry the serial of a command on this one."""
        self.command_reference: str | None = None
        """The serial number the last command was written with, which its ``+ACK`` echoes (None:
        the command ended with no serial number to replace)."""

    def encode_command(self, text: str, now: float) -> bytes:
        """``AT+GT<text>$`` (e.g. ``RTO=,1,,,,,,FFFF``) with the connection's own serial number in
        place of the one the text ends with; the device's ``+ACK:GTxxx`` (``reference``: that
        serial) or ``+NACK:GTxxx`` (no reference) comes out as a ``CommandResponse``."""
        serial = (self._serial + 1) % SERIALS
        reference = f"{serial:04X}"
        data = encode_command(text, reference)
        self._serial = serial
        self.command_reference = reference if data.endswith(f",{reference}$".encode()) else None
        return data

    def _next_frame(self) -> Frame | None:
        return take_frame(self._buf, self.max_frame)

    def _decode(self, frame: Frame, out: list[Message]) -> None:
        out.extend(self.messages(frame))

    def _malformed(self, frame: Frame, error: Exception) -> ProtocolError:
        return ProtocolError(f"malformed {frame.kind} message: {error}", close=False, excerpt=frame.raw)

    def messages(self, frame: Frame) -> list[Message]:
        """The messages of one complete frame (a Login first when it names a new device)."""
        outcome = decode_frame(frame, self.sack)
        out: list[Message] = []
        if outcome.imei is not None and outcome.imei != self.imei:
            self.imei = outcome.imei
            out.append(Login(outcome.imei, accept=None, reject=None))
        if self.imei is None:
            raise ProtocolError(
                f"{outcome.kind} message names no device and none is known on this connection",
                close=False,
                excerpt=frame.raw,
            )
        records = tuple(fields.build(self.imei) for fields in outcome.records)
        if outcome.text is not None:
            out.append(CommandResponse(outcome.text, records, outcome.ack, outcome.reference))
        else:
            out.append(Report(outcome.kind, records, outcome.ack))
        return out


def decode_datagram(data: bytes) -> list[Message]:
    """The messages of one UDP datagram (one or more frames; a lone text message may lack ``$``)."""
    session = ServerSession(max_frame=max(len(data), DEFAULT_MAX_FRAME))
    frame = frame_of_datagram(data)
    if frame is not None:
        try:
            return session.messages(frame)
        except CONTENT_ERRORS as exc:
            raise ProtocolError(f"malformed datagram: {exc}", close=False, excerpt=data) from None
    messages = session.feed(data)
    if session.pending:
        session.feed(b"")  # raises the held-back error: a datagram is all or nothing
    if session.buffered:
        raise ProtocolError("datagram ends inside a frame", close=False, excerpt=data)
    return messages
