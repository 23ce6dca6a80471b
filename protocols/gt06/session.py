"""Server side of one GT06 TCP connection: bytes in, Login/Report/CommandResponse messages out.

Errors never escape as anything but :class:`ProtocolError`. A bad frame is consumed (or skipped to
the next start marker) so the stream resynchronises; only an oversized frame asks to close. When
good frames precede a bad one in the same chunk, ``feed`` returns the good messages first and
raises the error on its next call (``feed(b"")`` is enough; :attr:`ServerSession.pending` says
one is waiting), so nothing decoded is dropped.

A frame of a type or layout nothing here decodes (Traccar neither) is kept as a record without a
fix carrying its content as hex (``message_type``, ``raw_message``), still with the generic ACK
where Traccar sends one; only answer-only messages (time requests, address requests) give no
record.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from protocols.core import DEFAULT_MAX_FRAME, BufferedSession, CommandResponse, Login, Message, ProtocolError, Report
from protocols.gt06.commands import encode_command, server_flag_reference
from protocols.gt06.extended import EXTENDED_HANDLERS
from protocols.gt06.fields import Fields
from protocols.gt06.framing import Frame, ack_frame, take_frame
from protocols.gt06.location import HANDLERS as LOCATION_HANDLERS
from protocols.gt06.misc import MISC_HANDLERS, decode_time_request
from protocols.gt06.outcome import Ctx, Handler, Outcome

U16 = struct.Struct(">H")

BASIC_HANDLERS: dict[int, Handler] = {**LOCATION_HANDLERS, **MISC_HANDLERS}
"""Protocol number -> handler for ``7878`` frames (0x01 and 0x8A are handled by the session)."""

NO_ACK_TYPES = frozenset((0x80, 0x81, 0x82))
"""Unknown basic types get the generic ACK, except these command frames (as Traccar does)."""


def login_imei(content: bytes) -> str:
    """IMEI from the 8-byte BCD terminal ID: ``0123456789012345`` -> ``123456789012345``."""
    if len(content) < 8:
        raise IndexError("login without an 8-byte terminal ID")
    return content[:8].hex()[1:]


def login_tz_offset(content: bytes) -> int | None:
    """Seconds east of UTC from the login's time-zone word (bits 15-4 = hhmm, bit 3 = west)."""
    if len(content) < 12:
        return None
    word: int = U16.unpack_from(content, 10)[0]
    hhmm = word >> 4
    offset = ((hhmm // 100) * 60 + hhmm % 100) * 60
    return -offset if word & 0x08 else offset


class ServerSession(BufferedSession[Frame]):
    """Decodes one device's stream; remembers its IMEI after login.

    ``model`` names a device model for the few layouts only the model tells apart (Traccar's
    ``setModelOverride``: e.g. "R11", "LW4G-4B", "SEEWORLD", "NT20", "XT40", "VL103", "G18").
    ``now`` is a clock (seconds since the epoch) used only to answer time requests (0x8A);
    without one they are reported but not answered.
    """

    def __init__(
        self,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        model: str | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(max_frame)
        self.model = model.upper() if model else None
        self.tz_offset_s = 0
        """Time zone the device declared at login; its times are shifted back to UTC."""
        self._now = now
        self._commands = 0
        """Commands sent: the frame serial of the next one."""
        self._flag = random.getrandbits(32)
        """Server flag of the last command: counts up from a random start, so an answer from an
        earlier connection of the device does not carry the flag of a command on this one."""
        self.command_reference: str | None = None
        """The server flag of the last command written (hex), which its answer echoes."""

    def encode_command(self, text: str, now: float) -> bytes:
        """0x80 online command; the device answers with 0x15 or 0x21 (a ``CommandResponse`` whose
        ``reference`` is the server flag it echoes). Flag 0, Traccar's, is never used."""
        flag = (self._flag + 1) & 0xFFFFFFFF or 1
        serial = (self._commands + 1) & 0xFFFF
        data = encode_command(text, flag, serial)
        self._flag, self._commands = flag, serial
        self.command_reference = server_flag_reference(flag)
        return data

    def _next_frame(self) -> Frame | None:
        return take_frame(self._buf, self.max_frame)

    def _decode(self, frame: Frame, out: list[Message]) -> None:
        message = self._message(frame)
        if message is not None:
            out.append(message)

    def _malformed(self, frame: Frame, error: Exception) -> ProtocolError:
        return ProtocolError(
            f"malformed content in frame type 0x{frame.type_id:02x}: {error}", close=False, excerpt=frame.raw
        )

    def _message(self, frame: Frame) -> Message | None:
        t = frame.type_id
        if not frame.extended and t == 0x01:
            return self._login(frame)
        ctx = Ctx(frame, self.model, self.tz_offset_s)
        outcome: Outcome
        if frame.extended:
            handler = EXTENDED_HANDLERS.get(t)
            outcome = handler(ctx) if handler is not None else Outcome(f"unsupported_0x{t:02x}", (), None)
        elif t == 0x8A:
            outcome = decode_time_request(ctx, self._now() if self._now is not None else None)
        else:
            handler = BASIC_HANDLERS.get(t)
            if handler is None:  # Traccar answers unknown types with the generic ACK, except commands
                outcome = Outcome(f"unsupported_0x{t:02x}", (), t not in NO_ACK_TYPES)
            else:
                outcome = handler(ctx)
        ack = outcome.ack
        reply = ack_frame(frame) if ack is True else (ack or None)
        kept = outcome.records
        if not kept and outcome.text is None and (reply is None or outcome.kind.startswith("unsupported")):
            # a layout nobody decodes (Traccar neither): kept raw rather than dropped; time requests
            # and ACK-only messages are answered instead
            if t != 0x8A:
                kept = (Fields().keep_raw(f"0x{t:02x}", frame.content),)
        imei = self.imei
        tz = self.tz_offset_s
        records = []
        for fields in kept:
            if tz:
                fields.a["device_tz_offset_s"] = tz
            records.append(fields.build(imei))
        if outcome.text is not None:
            return CommandResponse(outcome.text, tuple(records), reply, outcome.reference)
        return Report(outcome.kind, tuple(records), reply)

    def _login(self, frame: Frame) -> Login:
        imei = login_imei(frame.content)
        offset = login_tz_offset(frame.content)
        if offset is not None:
            self.tz_offset_s = offset
        self.imei = imei
        return Login(imei, accept=ack_frame(frame), reject=None)
