"""Server side of one H02 TCP connection: bytes in, Login/Report messages out.

H02 has no login: the device id in the first frame identifies the device, so the session emits a
``Login`` (nothing to answer: ``accept`` is None) before that frame's report, and again if a
frame ever carries another id (the service then closes the connection). A frame without id
(``*HQ,,V1,...``) belongs to the device already seen; before any, it is an error.

The server answers what Traccar answers: a heartbeat (``V0``/``HTBT``) is echoed; a ``V1`` position
and an ``NBR`` cell report get ``*HQ,<id>,V4,<type>,<yyyyMMddHHmmss>#``, which needs the server's
time, so only with a clock (``now``); ``ack=True`` (Traccar's ``h02.ack``) adds
``*HQ,<id>,R12,<HHmmss>#`` for the other reports. None of these acknowledges positions: the
device sends on regardless.

Every frame gives a record, an answered heartbeat, or a ``ProtocolError``, never nothing: a
sentence of a known type (``V...``, ``NBR``, ``LINK``, ``V3``, ``VP1``, ``SMS``) that does not
match its layout (NaN or negative numbers, missing fields) is an error with the frame as excerpt;
a well-formed sentence of a type no layout knows (vendor words such as ``XT``, ``BS``, ``BASE``)
and an ``X`` frame are kept as a record without a fix carrying the raw text (``message_type``,
``raw_message``): the device spoke H02 and is alive, the content can be decoded later, and
counting it as an error would report a working tracker as ``PROTOCOL_ERRORS``.

A server command's ``V4`` confirmation echoes the command's time after its word ("hhmmss: time
value in confirmed command", SinoTrack TQ GPRS transport protocol; Traccar's captures
``V4,S20,DONE,130305,050316,...``): a ``V4`` of a word sent on this connection is a
``CommandResponse`` whose ``reference`` is ``<word>,<time>``, the ``command_reference`` the command
was written with, so a late confirmation names its own command.

Errors surface as ``ProtocolError`` after the good messages decoded before them (``pending``),
as in the GT06 session.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable

from protocols.core import (
    DEFAULT_MAX_FRAME,
    BufferedSession,
    CommandResponse,
    Login,
    Message,
    ProtocolError,
    Report,
    or_raise,
)
from protocols.h02 import binary, commands, text
from protocols.h02.fields import Fields
from protocols.h02.framing import Frame, Framer, is_time

ECHOED = frozenset(("V0", "HTBT"))

WORDS_KEPT = 16
"""Command words of one connection whose ``V4`` is still read as a command answer (late ones too)."""

LAYOUTS: dict[str, Callable[[str], Fields | None]] = {
    "NBR": text.decode_nbr,
    "LINK": text.decode_link,
    "V3": text.decode_v3,
    "VP1": text.decode_vp1,
    "SMS": text.decode_sms,
}
"""Sentence types with a layout of their own; other ``V...`` types are the main report."""

_IDENT = re.compile(r"\d{0,20}", re.A)
_TYPE = re.compile(r"[A-Za-z0-9_]{1,16}", re.A)
"""What a sentence type looks like (``V1``, ``NBR``, ``HTBT``, vendor words such as ``XT``, ``BASE``)."""


class ServerSession(BufferedSession[Frame]):
    """Decodes one device's stream; remembers its id after the first identified frame.

    ``binary_length`` fixes the length of ``$`` frames (32 or 45, Traccar's ``h02.messageLength``)
    instead of detecting it; ``now`` is a clock for the answers that carry the server time.
    """

    def __init__(
        self,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        binary_length: int | None = None,
        ack: bool = False,
        now: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(max_frame)
        self.ack = ack
        self._now = now
        self._framer = Framer(max_frame, binary_length)
        self._awaiting = False
        """A command was sent and nothing has answered it yet (an ``SMS`` answer is then its answer)."""
        self._words: deque[str] = deque(maxlen=WORDS_KEPT)
        """Command words sent on this connection: a ``V4`` of one of them is a command answer."""
        self.command_reference: str | None = None
        """Word and time of the last command written (``S20,010203``), which its ``V4`` echoes."""

    def encode_command(self, text: str, now: float) -> bytes:
        """``*HQ,<id>,<CMD>,<HHMMSS>[,<params>]#`` for ``text`` (``S20,1,1``); the device's ``V4``
        confirmation then comes out as a ``CommandResponse``."""
        if self.imei is None:
            raise ValueError("the H02 device has not said who it is yet")
        data = commands.encode_command(self.imei, text, now)
        word = commands.split_command(text)[0]
        self._awaiting = True
        if word not in self._words:
            self._words.append(word)
        self.command_reference = f"{word},{commands.command_time(now)}"
        return data

    def _answer(self, kind: str, fields: Fields) -> tuple[str, str | None] | None:
        """(answer text, reference) when this sentence answers a command sent on this connection,
        else None. A ``V4`` names its command's word and time; an ``SMS`` names nothing and is taken
        as the answer only while a command waits for one."""
        if not self._words:  # no command on this connection: a position pays for nothing more
            return None
        result = fields.a.get("result")
        if not isinstance(result, str):
            return None
        if kind == "V4":
            word, _, rest = result.partition(",")
            if word not in self._words:
                return None
            self._awaiting = False
            stamp = rest.rpartition(",")[2]
            if len(stamp) == 6 and stamp.isdigit():
                return result.removesuffix("," + stamp), f"{word},{stamp}"
            return result, None
        if kind == "SMS" and self._awaiting:
            self._awaiting = False
            return result, None
        return None

    def _next_frame(self) -> Frame | None:
        return or_raise(self._framer.next(self._buf))

    def _malformed(self, frame: Frame, error: Exception) -> ProtocolError:
        return ProtocolError(f"malformed H02 {frame.kind} frame: {error}", excerpt=frame.raw)

    def _identify(self, ident: str, raw: bytes, out: list[Message]) -> str:
        """The device id to stamp records with; a Login first when it is new."""
        if not ident:
            if self.imei is None:
                raise ProtocolError("H02 frame without device id before any identified frame", excerpt=raw)
            return self.imei
        if ident != self.imei:
            self.imei = ident
            out.append(Login(ident, accept=None, reject=None))
        return ident

    def _clock(self, fmt: str) -> str | None:
        if self._now is None:
            return None
        return time.strftime(fmt, time.gmtime(self._now()))

    def _decode(self, frame: Frame, out: list[Message]) -> None:
        if frame.kind == "x":  # nothing Traccar decodes either: kept raw for the device on this connection
            if self.imei is None:
                raise ProtocolError("H02 X frame before any identified frame", excerpt=frame.raw)
            out.append(Report("x", (Fields().keep_raw("x", frame.raw).build(self.imei),), None))
            return
        if frame.kind == "binary":
            long_id = not is_time(frame.raw, 6) and is_time(frame.raw, 9)
            ident = self._identify(binary.device_id(frame.raw, long_id), frame.raw, out)
            out.append(Report("binary", (binary.decode(frame.raw, long_id).build(ident),), self._r12(ident)))
            return
        sentence = text.split(frame.raw)
        kind = sentence.type
        if not _IDENT.fullmatch(sentence.ident):
            raise ProtocolError(f"H02 device id {sentence.ident[:24]!r} is not digits", excerpt=frame.raw)
        if not _TYPE.fullmatch(kind):
            raise ProtocolError(f"H02 sentence type {kind[:24]!r} is not a type", excerpt=frame.raw)
        ident = self._identify(sentence.ident, frame.raw, out)
        reply: bytes | None = None
        if kind in ECHOED:  # a heartbeat: answered, with a record only when it carries a battery level
            reply = (sentence.head + "#").encode("latin-1")
            heartbeat = text.decode_htbt(sentence.text)
            out.append(Report(kind.lower(), (heartbeat.build(ident),) if heartbeat is not None else (), reply))
            return
        decoder = LAYOUTS.get(kind)
        if decoder is not None:
            fields = decoder(sentence.text)
            if kind == "NBR" and fields is not None:
                reply = self._v4(ident, "NBR")
        elif kind.startswith("V"):  # the main report family (V1, V2, V4, V5, V6, V8, V19, VI1...)
            fields, matched = text.decode_main(sentence.text)
            if fields is not None:
                reply = self._v4(ident, "V1") if matched == "V1" else self._r12(ident)
        else:  # a type no layout here knows (Traccar returns nothing for it either): kept raw
            fields = Fields().keep_raw(kind, sentence.text)
        if fields is None:
            raise ProtocolError(f"H02 {kind} sentence does not match its layout", excerpt=frame.raw)
        answer = self._answer(kind, fields)
        if answer is not None:
            out.append(CommandResponse(answer[0], (fields.build(ident),), reply, answer[1]))
            return
        out.append(Report(kind.lower(), (fields.build(ident),), reply))

    def _v4(self, ident: str, kind: str) -> bytes | None:
        stamp = self._clock("%Y%m%d%H%M%S")
        return None if stamp is None else f"*HQ,{ident},V4,{kind},{stamp}#".encode()

    def _r12(self, ident: str) -> bytes | None:
        stamp = self._clock("%H%M%S") if self.ack else None
        return None if stamp is None else f"*HQ,{ident},R12,{stamp}#".encode()
