"""Server side of one JT808 TCP connection: bytes in, Login/Report/CommandResponse messages out.

The terminal phone number in every header is the device id. The first good frame identifies the
connection: a registration (0x0100) or authentication (0x0102) becomes a ``Login`` whose accept
bytes are the standard answer (0x8100 with result 0 and an auth code, or 0x8001); any other first
frame is preceded by a ``Login`` with nothing to send, because terminals that registered before
often go straight to reporting after a reconnect. Every location is answered with a 0x8001 general
response (result 0) in ``Report.ack``, which the service writes only after the records are stored.

Server commands (:meth:`ServerSession.encode_command`, see ``commands``) are addressed to the
phone number and header version the terminal last used; the answer to a command sent on this
connection (a 0x0001 naming its serial and id, or the 0x0104 / 0x0201 it asked for, whose first
field is the serial: JT/T 808-2013 8.2, 8.19, 8.20) comes out as a ``CommandResponse`` whose
``reference`` is that serial, the platform's ``command_reference`` when it wrote the command. Which
waiting command it answers is the service's decision (``telediag.ingest.command_gate``), so a late
answer to an earlier command is told apart from the answer to the latest.

As in the other sessions, a bad frame is consumed and raised; good messages decoded before it in
the same chunk are returned first and the error waits for the next ``feed`` (``pending``).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from protocols.core import DEFAULT_MAX_FRAME, BufferedSession, CommandResponse, Login, Message, ProtocolError, Report
from protocols.jt808 import commands
from protocols.jt808 import messages as m
from protocols.jt808.fields import DEFAULT_TZ_OFFSET_S, Fields, decode_id, device_id
from protocols.jt808.framing import Corrupt, Frame, TextFrame, build_frame, take_frame
from protocols.record import Record

MSG_GENERAL_RESPONSE = 0x8001
MSG_GENERAL_RESPONSE_2 = 0x4401
MSG_REGISTER = 0x0100
MSG_REGISTER_RESPONSE = 0x8100
MSG_AUTH = 0x0102
MSG_TIME_SYNC = 0x0109
MSG_TIME_SYNC_RESPONSE = 0x8109

RESULT_OK = 0
RESULT_FAILURE = 1
RESULT_MESSAGE_ERROR = 2
RESULT_NOT_SUPPORTED = 3
REGISTER_NO_TERMINAL = 4
"""0x8100 result: terminal not in the database (what a refused registration says)."""

_GENERAL = struct.Struct(">HHB")

ANSWER_ONLY = frozenset((0x0003, 0x0506, 0x8888, 0x1007))
"""Logout, vendor heartbeat, photo, time-zone sync: answered with 0x8001, nothing to store."""

MAX_PACKETS = 256
"""Sub-packages of one message held at most (multimedia uploads are not stored here)."""

SENT_KEPT = 16
"""Commands of one connection whose answers are still recognised as answers (late ones too)."""


Decoder = Callable[[bytes, m.Ctx, int], m.Outcome]

DECODERS: dict[int, Decoder] = {
    0x0200: lambda b, c, i: m.location(b, c),
    0x0201: lambda b, c, i: m.location_query(b, c),
    0x0704: m.batch,
    0x0210: lambda b, c, i: m.batch_2(b, c),
    0x5501: m.lock_location,
    0x5502: m.lock_location,
    0x0002: lambda b, c, i: m.heartbeat(b, c),
    0x6006: lambda b, c, i: m.text_report(b, c),
    0x1300: lambda b, c, i: m.text_response(b, c),
    0x0701: lambda b, c, i: m.command_response(b, c),
    0x0702: lambda b, c, i: m.driver_identity(b, c),
    0x0107: lambda b, c, i: m.terminal_attributes(b, c),
    0x0104: lambda b, c, i: m.parameters(b, c),
    0x2070: lambda b, c, i: m.acceleration(b, c),
    0x0900: lambda b, c, i: m.transparent(b, c),
}
"""Message id -> body decoder (body, context, message id)."""


class ServerSession(BufferedSession[Frame | TextFrame]):
    """Decodes one terminal's stream; remembers its id (the phone number) after the first frame.

    ``model`` names a device model for the few layouts only the model tells apart (Traccar's
    ``setModelOverride``: "MV710G", "AL300", "GL100", "JC371", "C5L", ...). ``tz_offset_s`` is the
    zone the terminal's BCD times are in (GMT+8 by default, as the standard and Traccar assume).
    ``now`` is a clock (seconds since the epoch) used only to answer time-sync requests.
    """

    def __init__(
        self,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        model: str | None = None,
        tz_offset_s: int = DEFAULT_TZ_OFFSET_S,
        now: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(max_frame)
        self.model = model
        self.tz_offset_s = tz_offset_s
        self._now = now
        self._serial = 0
        self._parts: dict[int, dict[int, bytes]] = {}
        self._ctx = m.Ctx(model, tz_offset_s)
        self._phone: bytes | None = None
        self._version: int | None = None
        """Phone field and header version the terminal last used: commands go out the same way."""
        self._sent: dict[int, int] = {}
        """Serial -> id of the last :data:`SENT_KEPT` commands sent, whose answers are recognised."""
        self.command_reference: str | None = None
        """The serial of the last command written (decimal), which its answer names."""

    def encode_command(self, text: str, now: float) -> bytes:
        """The platform message for ``text`` (0x8300 text, ``0x8105,<word>``, ``0x8104``, ``0x8201``)."""
        if self._phone is None:
            raise ValueError("the JT808 terminal has not sent a frame yet: no phone number to address")
        msg_id, body = commands.command_message(text, self._version)
        serial = self._next_serial()
        self._sent.pop(serial, None)
        self._sent[serial] = msg_id
        if len(self._sent) > SENT_KEPT:
            del self._sent[next(iter(self._sent))]
        self.command_reference = str(serial)
        return build_frame(msg_id, self._phone, serial, body, version=self._version)

    def _answered(self, msg_id: int, body: bytes) -> str | None:
        """The reference of the command sent on this connection that this terminal message
        answers (its serial), or None when it answers none of them."""
        if not self._sent:  # no command on this connection: a location pays for nothing more
            return None
        answered = commands.answered_serial(msg_id, body)
        if answered is None:
            return None
        reply_serial, reply_id = answered
        command_id = self._sent.get(reply_serial)
        if command_id is None or commands.ANSWER_IDS[command_id] != msg_id:
            return None
        if reply_id is not None and reply_id != command_id:
            return None
        return str(reply_serial)

    def _next_frame(self) -> Frame | TextFrame | None:
        item = take_frame(self._buf, self.max_frame)
        if isinstance(item, Corrupt):
            raise self._corrupt(item)
        return item

    def _decode(self, item: Frame | TextFrame, out: list[Message]) -> None:
        if isinstance(item, TextFrame):
            self._text(item, out)
        else:
            self._frame(item, out)

    def _malformed(self, item: Frame | TextFrame, error: Exception) -> ProtocolError:
        frame = item if isinstance(item, Frame) else None
        return ProtocolError(
            f"malformed content in {_name(item)}: {error}",
            close=False,
            excerpt=item.raw,
            reply=self._general(frame, RESULT_MESSAGE_ERROR) if frame is not None else None,
        )

    # -- answers -------------------------------------------------------------------------------

    def _next_serial(self) -> int:
        serial = self._serial
        self._serial = (serial + 1) & 0xFFFF
        return serial

    def _answer(self, frame: Frame, msg_id: int, body: bytes) -> bytes:
        return build_frame(msg_id, frame.phone, self._next_serial(), body, version=frame.version)

    def _general(self, frame: Frame, result: int) -> bytes:
        """0x8001: the answered serial and message id, and the result."""
        return self._answer(frame, MSG_GENERAL_RESPONSE, _GENERAL.pack(frame.serial, frame.msg_id, result))

    def _corrupt(self, item: Corrupt) -> ProtocolError:
        error = item.error
        if item.frame is None or self.imei is None or device_id(item.frame.phone) != self.imei:
            return error
        # a bad BCC from the terminal we know: "message error" asks it to send again
        return ProtocolError(
            str(error), close=False, excerpt=error.excerpt, reply=self._general(item.frame, RESULT_MESSAGE_ERROR)
        )

    # -- decoding ------------------------------------------------------------------------------

    def _identify(self, imei: str, login: Login | None, out: list[Message]) -> None:
        """Check the frame's terminal against the connection's; append the Login it calls for."""
        if self.imei is not None and imei != self.imei:
            raise ProtocolError(f"terminal {imei} on the connection of {self.imei}", close=True)
        if login is not None:
            self.imei = imei
            out.append(login)
        elif self.imei is None:
            self.imei = imei
            out.append(Login(imei, accept=None, reject=None))

    def _frame(self, frame: Frame, out: list[Message]) -> None:
        """Decode one frame into ``out``; the Login it implies is appended before anything can fail."""
        imei = device_id(frame.phone)
        msg_id = frame.msg_id
        if self.imei is None or imei == self.imei:
            self._phone, self._version = frame.phone, frame.version
        if msg_id == MSG_REGISTER:
            code = decode_id(frame.phone).encode("ascii")
            accept = self._answer(frame, MSG_REGISTER_RESPONSE, struct.pack(">HB", frame.serial, RESULT_OK) + code)
            reject = self._answer(frame, MSG_REGISTER_RESPONSE, struct.pack(">HB", frame.serial, REGISTER_NO_TERMINAL))
            self._identify(imei, Login(imei, accept=accept, reject=reject), out)
            return
        if msg_id == MSG_AUTH:
            accept = self._general(frame, RESULT_OK)
            reject = self._general(frame, RESULT_FAILURE)
            self._identify(imei, Login(imei, accept=accept, reject=reject), out)
            return
        self._identify(imei, None, out)
        if frame.packet is not None:
            joined = self._join(frame)
            if joined is None:
                out.append(Report(f"part_0x{msg_id:04x}", (), self._general(frame, RESULT_OK)))
                return
            frame = joined
        if frame.encryption & 0x01 and msg_id not in (0x5501, 0x5502):
            raise ProtocolError(
                f"RSA-encrypted message 0x{msg_id:04x} is not supported",
                close=False,
                excerpt=frame.raw,
                reply=self._general(frame, RESULT_NOT_SUPPORTED),
            )
        out.append(self._message(frame))

    def _message(self, frame: Frame) -> Message:
        msg_id = frame.msg_id
        if msg_id == commands.MSG_TERMINAL_RESPONSE:
            return self._terminal_response(frame)
        decoder = DECODERS.get(msg_id)
        if decoder is None:
            if msg_id in ANSWER_ONLY:
                return Report(f"msg_0x{msg_id:04x}", (), self._general(frame, RESULT_OK))
            if msg_id == MSG_TIME_SYNC:
                return Report("time_sync", (), self._time_sync(frame))
            raw = Fields().keep_raw(f"0x{msg_id:04x}", frame.body)  # no layout here: kept, not dropped
            return Report(f"unsupported_0x{msg_id:04x}", (raw.build(self.imei),), None)
        outcome = decoder(frame.body, self._ctx, msg_id)
        ack: bytes | None = None
        if outcome.answer:
            ack = self._general(frame, RESULT_OK)
        elif msg_id in (0x5501, 0x5502) and frame.properties & 0x8000:
            ack = build_frame(
                MSG_GENERAL_RESPONSE_2, frame.phone, 1, struct.pack(">HB", msg_id, RESULT_OK), short_serial=True
            )
        kept = outcome.records
        if not kept and ack is None and outcome.text is None:  # nothing read, nothing to answer: kept raw
            kept = (Fields().keep_raw(f"0x{msg_id:04x}", frame.body),)
        records = tuple(fields.build(self.imei) for fields in kept)
        if outcome.text is not None:
            return CommandResponse(outcome.text, records, ack)
        reference = self._answered(msg_id, frame.body) if records else None
        if reference is not None:
            return CommandResponse(_answer_text(records[0]), records, ack, reference)
        return Report(outcome.kind, records, ack)

    def _terminal_response(self, frame: Frame) -> Message:
        """0x0001: the terminal's result for a platform message; it expects no answer."""
        serial, reply_id, result = commands.terminal_response(frame.body)
        text = commands.RESULTS.get(result, f"result {result}")
        rec = m.status(reply_id=f"0x{reply_id:04x}", reply_serial=serial, result=text)
        records = (rec.build(self.imei),)
        reference = self._answered(frame.msg_id, frame.body)
        if reference is not None:
            return CommandResponse(text, records, None, reference)
        return Report("terminal_response", records, None)

    def _time_sync(self, frame: Frame) -> bytes | None:
        if self._now is None:
            return None
        t = time.gmtime(int(self._now()))
        body = struct.pack(">HBBBBBB", t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, RESULT_OK)
        return self._answer(frame, MSG_TIME_SYNC_RESPONSE, body)

    def _join(self, frame: Frame) -> Frame | None:
        """Collect sub-packages; the whole message once every part is there, else None."""
        assert frame.packet is not None
        count, index = frame.packet
        if not 1 <= index <= count or count > MAX_PACKETS:
            raise ValueError(f"sub-package {index} of {count}")
        parts = self._parts.setdefault(frame.msg_id, {})
        parts[index] = frame.body
        if sum(len(p) for parts_ in self._parts.values() for p in parts_.values()) > 4 * self.max_frame:
            self._parts.clear()
            raise ProtocolError("sub-packages over the size limit", close=False, excerpt=frame.raw)
        if len(parts) < count or any(i not in parts for i in range(1, count + 1)):
            return None
        body = b"".join(parts[i] for i in range(1, count + 1))
        del self._parts[frame.msg_id]
        return Frame(frame.msg_id, frame.properties & ~0x2000, frame.version, frame.phone, frame.serial,
                     None, body, frame.raw)

    def _text(self, frame: TextFrame, out: list[Message]) -> None:
        """``(id,...)`` frames of JT701 locks: a time request (``BASE,2``) or a command answer."""
        text = frame.text
        if self.imei is None:
            first = text[1:].split(",", 1)[0]
            if first.isdigit():
                self._identify(first.lstrip("0") or "0", None, out)
        if "BASE,2" in text:
            reply = None
            if self._now is not None:
                stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(int(self._now())))
                reply = text.replace("TIME", stamp).encode("ascii")
            out.append(Report("time_request", (), reply))
            return
        records = tuple(f.build(self.imei) for f in (m.status(result=text),))
        out.append(CommandResponse(text, records))


def _answer_text(record: Record) -> str:
    """What a parameter or location answer says, as the command's answer text."""
    if record.lat is not None and record.lon is not None:
        return f"{record.lat:.6f},{record.lon:.6f}"
    values = dict(record.attributes)
    if record.odometer_m is not None:
        values["odometer_m"] = record.odometer_m
    return "; ".join(f"{key}={value}" for key, value in sorted(values.items()))


def _name(item: Frame | TextFrame) -> str:
    return f"message 0x{item.msg_id:04x}" if isinstance(item, Frame) else "text frame"
