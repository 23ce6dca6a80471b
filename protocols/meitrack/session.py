"""Server side of one Meitrack TCP connection: bytes in, Login/Report/CommandResponse out.

The IMEI in the first frame identifies the device (``Login`` with nothing to answer, and again
if it changes). Answers, as Traccar gives them:

* ``CCC`` binary reports: ``@@<flag><len>,<imei>,CCC,<records>*<sum>\\r\\n``, which tells the
  device to delete that many cached records, so it is sent only after they are committed;
* ``AAC`` (clock request): ``@@z27,<imei>,AAC,1*<sum>\\r\\n``;
* ``AAA`` text reports and ``CCE`` binary reports get no answer (Traccar sends none for ``CCE``).

``D82`` and other command answers become a ``CommandResponse``. A frame nothing here decodes and
nothing answers (photo transfer ``D00``/``D03``, an unknown type) is kept as a record without a fix
carrying its type and raw content (``message_type``, ``raw_message``), never dropped unseen.
"""

from __future__ import annotations

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


BINARY_TYPES = frozenset(("CCC", "CCE", "D00"))
"""Frame types whose data is binary (kept as hex when it cannot be decoded)."""


class ServerSession(BufferedSession[Frame]):
    """Decodes one Meitrack device's stream; remembers its IMEI after the first frame.

    ``model`` (e.g. "MVT380", "T1", "T366") selects how hex analog values of text reports scale
    to volts, as Traccar's per-device model setting does.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, model: str | None = None) -> None:
        super().__init__(max_frame)
        self.model = model
        self._framer = Framer(max_frame)

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
