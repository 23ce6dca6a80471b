"""Server side of one GPS103 TCP connection: bytes in, Login/Report messages out.

Sentences end at ``;``, ``*`` or a line feed (Traccar's ``CharacterDelimiterFrameDecoder``), the
terminator kept. The server answers only three things: the ``##,imei:...,A;`` login with ``LOAD``,
the bare ``<imei>;`` heartbeat with ``ON``, and an SOS (``help me``) with ``**,imei:<imei>,E;`` so
the tracker stops repeating it. Positions are never acknowledged.

The device is identified by the first sentence that decodes (login, heartbeat or report): that
yields a :class:`Login` before anything else. A sentence for another IMEI yields another Login,
which the service refuses on a connection that already has a device.

A sentence that cannot be decoded is a ``ProtocolError(close=False)``: the stream is already
resynchronised at the next terminator. Only a run of bytes longer than ``max_frame`` without any
terminator asks to close. When good sentences precede a bad one in the same chunk, ``feed``
returns their messages first and raises on its next call (``pending`` says so).
"""

from __future__ import annotations

import re

from protocols.core import DEFAULT_MAX_FRAME, BufferedSession, Login, Message, ProtocolError, Report
from protocols.gps103 import sentences
from protocols.gps103.fields import Fields

LOAD = b"LOAD"
ON = b"ON"
DELIMITERS = (b";", b"*", b"\n")

_DIGITS = re.compile(r"\d+", re.A)
_HEARTBEAT_IMEI = re.compile(r"\d{6,20}", re.A)


def sos_ack(imei: str) -> bytes:
    """What the server sends back for a ``help me`` alarm."""
    return b"**,imei:" + imei.encode("ascii") + b",E;"


class ServerSession(BufferedSession[bytes]):
    """Decodes one device's stream; remembers its IMEI and the time zone its clock runs in."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)
        self.tz_offset_min: int | None = None
        """Minutes the device's local clock is ahead of UTC, learnt from its last GPS sentence."""
        self._scanned = 0

    def _next_frame(self) -> bytes | None:
        buf = self._buf
        ends = [i for i in (buf.find(d, self._scanned) for d in DELIMITERS) if i >= 0]
        if not ends:
            self._scanned = len(buf)
            if len(buf) > self.max_frame:
                excerpt = buf.peek(32) or b""
                buf.clear()
                self._scanned = 0
                raise ProtocolError(
                    f"no sentence terminator within {self.max_frame} bytes", close=True, excerpt=excerpt
                )
            return None
        end = min(ends) + 1
        self._scanned = 0
        frame = buf.read(end)
        buf.commit()
        assert frame is not None
        if end > self.max_frame:
            raise ProtocolError(f"sentence of {end} bytes over the limit", close=False, excerpt=frame)
        return frame

    def _malformed(self, frame: bytes, error: Exception) -> ProtocolError:
        return ProtocolError(f"malformed GPS103 sentence: {error}", excerpt=frame)

    def _on_error(self, error: ProtocolError) -> None:
        super()._on_error(error)
        if error.close:
            self._scanned = 0

    def _decode(self, frame: bytes, out: list[Message]) -> None:
        text = frame.decode("latin-1").strip()
        if text == "":
            return  # a blank line between sentences
        if text.strip(";*") == "":
            raise ProtocolError("empty GPS103 sentence", excerpt=frame)
        if "imei:" in text and len(text) <= 30:
            m = sentences.IMEI_PREFIX.search(text)
            if m is None:
                raise ProtocolError("login without an IMEI", excerpt=frame)
            self.imei = m.group(1)
            out.append(Login(self.imei, accept=LOAD, reject=None))
            return
        m = _DIGITS.match(text)  # ASCII digits only: str.isdigit() takes '²' for one
        if m is not None:
            rest = text[m.end():]
            glued = rest.startswith("imei:")
            if (rest not in ("", ";") and not glued) or not _HEARTBEAT_IMEI.fullmatch(m.group(0)):
                raise ProtocolError("malformed heartbeat", excerpt=frame)
            self._identified(m.group(0), out, ON, "heartbeat")
            if not glued:
                return
            text = rest  # a report glued to the heartbeat
        if not text.startswith("imei:"):
            raise ProtocolError("not a GPS103 sentence", excerpt=frame)
        self._report(text, frame, out)

    def _identified(self, imei: str, out: list[Message], answer: bytes | None, kind: str) -> None:
        """Emit the Login for a new device id, else a record-less Report carrying ``answer``."""
        if imei != self.imei:
            self.imei = imei
            out.append(Login(imei, accept=answer, reject=None))
        elif answer is not None:
            out.append(Report(kind, (), answer))

    def _report(self, text: str, frame: bytes, out: list[Message]) -> None:
        head = sentences.IMEI_PREFIX.match(text)
        if head is None:
            raise ProtocolError("sentence without a valid IMEI", excerpt=frame)
        keyword = text[head.end():].split(",", 1)[0]
        decoded: tuple[str, Fields] | None
        if keyword == "vr":
            # a photo chunk: no layout decodes it; kept raw (cut to RAW_MESSAGE_LIMIT), never dropped
            imei = head.group(1)
            self._identified(imei, out, None, "photo")
            out.append(Report("photo", (Fields().keep_raw("vr", text).build(imei),), None))
            return
        if keyword == "OBD":
            kind = "obd"
            decoded = sentences.obd(text, self.tz_offset_min)
        elif text.endswith("*"):
            kind = "position"
            decoded = sentences.alternative(text)
        else:
            result = sentences.regular(text, self.tz_offset_min)
            decoded = None
            kind = "position"
            if result is not None:
                imei, rec, learnt = result
                if learnt is not None:
                    self.tz_offset_min = learnt
                if rec.f.get("lat") is None and rec.f.get("valid") is False and "speed_kmh" not in rec.f:
                    kind = "cell"
                decoded = imei, rec
        if decoded is None:
            raise ProtocolError(f"malformed GPS103 {kind} sentence", excerpt=frame)
        imei, rec = decoded
        self._identified(imei, out, None, kind)
        if self.tz_offset_min:
            rec.a["device_tz_offset_min"] = self.tz_offset_min
        ack = sos_ack(imei) if keyword == "help me" else None
        out.append(Report(kind, (rec.build(imei),), ack))
