"""Server side of one Meitrack TCP connection: bytes in, Login/Report/CommandResponse out.

The IMEI in the first frame identifies the device (``Login`` with nothing to answer, and again
if it changes). Answers, as Traccar gives them:

* ``CCC`` binary reports: ``@@<flag><len>,<imei>,CCC,<records>*<sum>\\r\\n``, which tells the
  device to delete that many cached records, so it is sent only after they are committed;
* ``AAC`` (clock request): ``@@z27,<imei>,AAC,1*<sum>\\r\\n``;
* ``AAA`` text reports and ``CCE`` binary reports get no answer (Traccar sends none for ``CCE``).

``D82`` and other command answers become a ``CommandResponse``. A server command
(:meth:`ServerSession.encode_command`, ``@@<flag><len>,<imei>,<code>[,<params>]*<sum>\r\n`` as in
Traccar's ``MeitrackProtocolEncoder``) is answered by a frame with the same command code (``A10``
with a position, ``C01,OK``...) and the same data identifier (``<flag>``: "The data identifier in
the reply command must be the same as that of the sending command", MEITRACK T622 GPRS Protocol
1.1; the MVT100/MVT340/MVT380 protocol's example answers ``@@Q25,...,A10`` with ``$$Q...``): a
frame with a code this connection sent comes out as a ``CommandResponse`` with whatever records it
carries, its ``reference`` the identifier and code (``aC01``), the session's ``command_reference``
when it wrote that command. A frame nothing here decodes and
nothing answers (photo transfer ``D00``/``D03``, an unknown type) is kept as a record without a fix
carrying its type and raw content (``message_type``, ``raw_message``), never dropped unseen.
"""

from __future__ import annotations

import random

from protocols.core import (
    CONTENT_ERRORS,
    DEFAULT_MAX_FRAME,
    BufferedSession,
    CommandResponse,
    Login,
    Message,
    ProtocolError,
    Report,
    or_raise,
)
from protocols.meitrack import binary, text
from protocols.meitrack.fields import Fields, checksum
from protocols.meitrack.framing import Frame, Framer

COMMAND_ANSWERS = frozenset(("D82",))
"""Answers to server commands whose text Traccar keeps as ``result``."""


def server_command(flag: str, imei: str, text: str) -> bytes:
    """``@@<flag><len>,<imei>,<text>*<sum>\\r\\n`` (length from the first comma through CRLF)."""
    length = 1 + len(imei) + 1 + len(text) + 1 + 2 + 2
    head = f"@@{flag}{length},{imei},{text}*".encode("latin-1")
    return head + checksum(head) + b"\r\n"


def ccc_ack(flag: str, imei: str, records: int) -> bytes:
    """The answer to a ``CCC`` report of ``records`` records."""
    return server_command(flag, imei, f"CCC,{records}")


REPORT_TYPES = frozenset(("AAA", "CCC", "CCE", "AAC"))
"""Frame types that are the device's own reports, never the answer to a command of that code."""
CODES_KEPT = 16
"""Command codes of one connection whose frames are still read as answers (late ones too)."""

BINARY_TYPES = frozenset(("CCC", "CCE", "D00"))
"""Frame types whose data is binary (kept as hex when it cannot be decoded)."""

MAX_COMMAND = 512
"""Longest command text sent."""
_FLAGS = "abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXY"
"""Data identifiers of server commands, in turn (0x41 to 0x7A are allowed; ``z`` is the clock answer's)."""


def command_code(text: str) -> str:
    """``C01,0,12222`` -> ``C01``; ``ValueError`` for text a frame cannot carry.

    The code is 3 characters of ``0-9A-Z`` (the device answers with a frame of that type, and a
    frame type is 3 such characters).
    """
    code = text.split(",", 1)[0]
    if (not text.isascii() or len(text) > MAX_COMMAND or any(c in text for c in "*\r\n")
            or len(code) != 3 or not all(c.isdigit() or "A" <= c <= "Z" for c in code)):
        raise ValueError(
            f"a Meitrack command is a 3-character code (A10, C01...) and its parameters, ASCII, up to "
            f"{MAX_COMMAND} characters; got {text[:40]!r}"
        )
    return code


class ServerSession(BufferedSession[Frame]):
    """Decodes one Meitrack device's stream; remembers its IMEI after the first frame.

    ``model`` (e.g. "MVT380", "T1", "T366") selects how hex analog values of text reports scale
    to volts, as Traccar's per-device model setting does.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, model: str | None = None) -> None:
        super().__init__(max_frame)
        self.model = model
        self._framer = Framer(max_frame)
        self._codes: dict[str, None] = {}
        """Codes of the commands sent on this connection (the last :data:`CODES_KEPT`): a frame of
        one of them is a command answer."""
        self._commands = random.randrange(len(_FLAGS))
        """Commands sent, from a random start: the next data identifier, so an answer from an earlier
        connection of the device is unlikely to carry the identifier of a command on this one."""
        self.command_reference: str | None = None
        """Data identifier and code of the last command written (``aC01``), which its answer echoes."""

    def encode_command(self, text: str, now: float) -> bytes:
        """``@@<flag><len>,<imei>,<text>*<sum>\\r\\n`` (``A10``, ``C01,0,12222``, ``B21,1``)."""
        if self.imei is None:
            raise ValueError("the Meitrack device has not said who it is yet")
        code = command_code(text)
        flag = _FLAGS[self._commands % len(_FLAGS)]
        self._commands += 1
        self._codes.pop(code, None)
        self._codes[code] = None
        if len(self._codes) > CODES_KEPT:
            del self._codes[next(iter(self._codes))]
        self.command_reference = flag + code
        return server_command(flag, self.imei, text)

    def _command_answer(self, frame: Frame) -> CommandResponse:
        """A frame answering a command sent on this connection: its text, and its position if it has one."""
        data = frame.data.decode("latin-1")
        answer = f"{frame.type},{data}" if frame.data_start < frame.star else frame.type
        fields: list[Fields] = []
        if "," in data:
            try:
                fields = [text.decode_report(data.split(","), self.model)]
            except CONTENT_ERRORS:
                fields = []  # not a position: the answer is kept as text
        if not fields:
            rec = Fields()
            rec.a["result"] = answer
            fields = [rec]
        return CommandResponse(answer, tuple(rec.build(frame.imei) for rec in fields), None, frame.flag + frame.type)

    def _next_frame(self) -> Frame | None:
        return or_raise(self._framer.next(self._buf))

    def _decode(self, frame: Frame, out: list[Message]) -> None:
        if frame.imei != self.imei:
            self.imei = frame.imei
            out.append(Login(frame.imei, accept=None, reject=None))
        out.append(self._message(frame))

    def _malformed(self, frame: Frame, error: Exception) -> ProtocolError:
        return ProtocolError(f"malformed Meitrack {frame.type} frame: {error}", excerpt=frame.raw)

    def _message(self, frame: Frame) -> Message:
        kind = frame.type
        imei = frame.imei
        fields: list[Fields]
        ack: bytes | None = None
        if kind in self._codes and kind not in REPORT_TYPES:
            return self._command_answer(frame)
        if kind == "CCC":
            fields = binary.decode_ccc(frame.data)
            ack = ccc_ack(frame.flag, imei, len(fields))
        elif kind == "CCE":
            fields = binary.decode_cce(frame.data)
        elif kind == "AAC":
            fields = []
            ack = server_command("z", imei, "AAC,1")
        elif kind in COMMAND_ANSWERS:
            data = frame.data.decode("latin-1")
            answer = f"{kind},{data}" if frame.data_start < frame.star else kind
            rec = Fields()
            rec.a["result"] = answer
            return CommandResponse(answer, (rec.build(imei),))
        elif kind in ("D00", "D03"):  # photo data and the photo list: kept raw below
            fields = []
        else:
            data = frame.data.decode("latin-1")
            fields = [text.decode_report(data.split(","), self.model)] if data and "," in data else []
        if not fields and ack is None:  # nothing decoded and nothing to answer: kept raw, never dropped
            raw = frame.data if kind in BINARY_TYPES else frame.data.decode("latin-1")
            fields = [Fields().keep_raw(kind, raw)]
        records = []
        for rec in fields:
            if not frame.checksum_ok:
                rec.a["checksum_ok"] = False
            records.append(rec.build(imei))
        return Report(kind.lower(), tuple(records), ack)
