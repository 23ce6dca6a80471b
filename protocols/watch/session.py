"""Server side of one watch (3G/SeTracker) TCP connection: bytes in, Login/Report messages out.

The device id in the first frame identifies the device: the session emits a ``Login`` with
nothing to answer (``accept`` None) before that frame's report, and again if the id changes.

Answers, as Traccar sends them, in the frame's own maker and index:
``LK`` -> ``[MF*id*0002*LK]``; ``AL...`` (alarm) -> ``[MF*id*0002*AL]``; ``INIT`` -> ``INIT,1``;
``TKQ``/``TKQ2`` echoed; each voice chunk ``JXTK`` -> ``JXTKR,1``. Positions (``UD``...) get no
answer, so none acknowledges a position. Voice and images are not stored: their size is.

A position frame that does not match its layout is a ``ProtocolError`` (an alarm's is still
answered, so the watch stops repeating it); a frame of a type nothing here decodes or answers is
kept as a record without a fix carrying its raw content (``message_type``, ``raw_message``).
"""

from __future__ import annotations

from protocols.core import DEFAULT_MAX_FRAME, BufferedSession, Login, Message, ProtocolError, Report, or_raise
from protocols.watch import content
from protocols.watch.content import Fields
from protocols.watch.framing import Frame, Framer

ECHOED = frozenset(("TKQ", "TKQ2"))


def reply(frame: Frame, text: str) -> bytes:
    """An answer in the frame's maker, id and index: ``[MF*id*[index*]len*text]``."""
    index = f"{frame.index}*" if frame.index is not None else ""
    return f"[{frame.maker}*{frame.ident}*{index}{len(text):04x}*{text}]".encode("latin-1")


class ServerSession(BufferedSession[Frame]):
    """Decodes one watch's stream; remembers its id after the first frame."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)
        self._framer = Framer(max_frame)
        self._audio = 0
        """Bytes of a multi-part voice message (``JXTK``) received so far."""

    def _next_frame(self) -> Frame | None:
        return or_raise(self._framer.next(self._buf))

    def _decode(self, frame: Frame, out: list[Message]) -> None:
        if frame.ident != self.imei:
            self.imei = frame.ident
            out.append(Login(frame.ident, accept=None, reject=None))
        out.append(self._report(frame))

    def _malformed(self, frame: Frame, error: Exception) -> ProtocolError:
        return ProtocolError(f"malformed watch frame: {error}", excerpt=frame.raw)

    def _report(self, frame: Frame) -> Report:
        body = frame.content
        comma = body.find(b",")
        kind = (body if comma < 0 else body[:comma]).decode("latin-1")
        rest = b"" if comma < 0 else body[comma + 1 :]
        ident = frame.ident
        answer: bytes | None = None
        fields: Fields | None = None
        lower = kind.lower()
        if kind == "INIT":
            answer = reply(frame, "INIT,1")
        elif kind == "LK":
            answer = reply(frame, "LK")
            if rest:
                fields = content.decode_link(rest.decode("latin-1").split(","))
        elif kind.startswith(("UD", "AL", "WT")):
            fields = content.decode_position(rest.decode("latin-1"))
            if kind.startswith("AL"):
                answer = reply(frame, "AL")
                if fields is not None and fields.f.get("event") is None:
                    fields.f["event"] = "general"
        elif kind in ECHOED:
            answer = reply(frame, kind)
        elif lower in content.HEALTH:
            fields = content.decode_health(lower, rest.decode("latin-1").split(",")) if rest else None
        elif kind == "img":
            fields = Fields()
            fields.a["image_bytes"] = max(len(rest) - rest.find(b",") - 1, 0)
        elif kind == "JXTK":
            fields = self._voice_part(rest)
            answer = reply(frame, "JXTKR,1")
        elif kind == "TK" and len(rest) > 1:
            fields = Fields()
            fields.a["audio_bytes"] = len(rest)
        if fields is None and kind.startswith(("UD", "AL", "WT")):
            raise ProtocolError(f"watch {kind} frame does not match the position layout", reply=answer,
                                excerpt=frame.raw)
        if fields is None and answer is None:  # nothing decoded, nothing to answer: kept raw, never dropped
            fields = Fields().keep_raw(kind or "empty", body.decode("latin-1"))
        records = (fields.build(ident),) if fields is not None else ()
        return Report(lower or "empty", records, answer)

    def _voice_part(self, rest: bytes) -> Fields | None:
        """``JXTK,<n>,<name>,<part>,<parts>,<audio>``: a record once the last part is in."""
        head = rest.split(b",", 4)
        if len(head) < 5:
            raise ValueError("voice part without its part counters")
        part, parts = int(head[2]), int(head[3])
        self._audio += len(head[4])
        if part < parts:
            return None
        fields = Fields()
        fields.a["audio_bytes"] = self._audio
        self._audio = 0
        return fields
