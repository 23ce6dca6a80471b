"""Server side of one TK103 TCP connection: bytes in, Login/Report/CommandResponse messages out.

Answers (classic frames, where the 12-character id is glued to the command word):

* ``BP00`` handshake -> ``(<id>AP01HSO)`` (no record);
* ``BP05`` login -> ``(<id>AP05)`` (with the position it carries, if any);
* ``BO01`` alarm -> ``(<id>AS01<alarm digit>)`` once the record is committed.

Positions (BR00, BR01, BR02, ...) are not acknowledged. The id of the first frame that decodes is
the device's ``imei`` (a :class:`Login` comes first); a frame for another id yields another
Login, which the service refuses on a connection that already has a device.

A frame that cannot be decoded is a ``ProtocolError(close=False)``; a well-formed frame of a
command no layout here knows is reported as ``unsupported_<cmd>`` with one record that keeps the
frame's text (``message_type``, ``raw_message``) and no fix: nothing is dropped unseen. Good frames
before a bad one in the same chunk are returned first, the error on the next call.
"""

from __future__ import annotations

import re

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
from protocols.tk103 import layouts
from protocols.tk103.fields import Fields
from protocols.tk103.framing import FrameScanner

KNOWN_POSITION_COMMANDS = frozenset(("BR00", "BR01", "BR02", "BO01", "BQ81"))
"""Commands whose frame must decode as a position; anything else unknown is just unsupported."""

_LOGIN_ONLY = re.compile(r"\((?:\w{12}|\d{11,15})BP05(\d{15})?\)", re.A)


def handshake_answer(device_id: str) -> bytes:
    return f"({device_id}AP01HSO)".encode("latin-1")


def login_answer(device_id: str) -> bytes:
    return f"({device_id}AP05)".encode("latin-1")


def alarm_answer(device_id: str, alarm: str) -> bytes:
    return f"({device_id}AS01{alarm})".encode("latin-1")


class ServerSession(BufferedSession[bytes]):
    """Decodes one device's stream; remembers the device id (12 characters on classic trackers)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)
        self._scanner = FrameScanner(self._buf, max_frame)

    def _next_frame(self) -> bytes | None:
        return or_raise(self._scanner.next())

    def _malformed(self, frame: bytes, error: Exception) -> ProtocolError:
        return ProtocolError(f"malformed TK103 frame: {error}", excerpt=frame)

    def _identify(self, device_id: str, out: list[Message], answer: bytes | None) -> bytes | None:
        """Emit the Login for a new id (carrying ``answer``); returns the answer still to send."""
        if device_id != self.imei:
            self.imei = device_id
            out.append(Login(device_id, accept=answer, reject=None))
            return None
        return answer

    def _decode(self, frame: bytes, out: list[Message]) -> None:
        text = frame.decode("latin-1")
        head = layouts.header(text)
        if head is None:
            raise ProtocolError("not a TK103 frame", excerpt=frame)
        device_id, command = head.device_id, head.command
        if head.classic and command == "BP00":
            rest = self._identify(device_id, out, handshake_answer(device_id))
            if rest is not None:
                out.append(Report("handshake", (), rest))
            return
        answer: bytes | None = None
        if head.classic and command == "BP05":
            answer = login_answer(device_id)
            if _LOGIN_ONLY.fullmatch(text):
                rest = self._identify(device_id, out, answer)
                if rest is not None:
                    out.append(Report("login", (), rest))
                return
        kind = "position"
        text_answer: str | None = None
        rec: Fields | None
        if "{" in text and "}" in text:
            rec, kind = layouts.cells(text), "cells"
        elif command == "ZC20":
            rec, kind = layouts.battery(text), "battery"
        elif command == "BZ00":
            rec, kind = layouts.network(text), "cells"
        elif command == "ZC03":
            result = layouts.command_result(text)
            rec, kind = (result[1], "command_result") if result else (None, "command_result")
            text_answer = result[0] if result else None
        elif command.startswith("DW5"):
            rec, kind = layouts.lbs_wifi(text, command), "wifi"
        elif command == "BV00":
            rec, kind = layouts.vin(text), "vin"
        elif command in ("BS50", "BS51"):
            rec, kind = layouts.bms(text, command), "bms"
        else:
            rec = layouts.main(text, head)
            if rec is not None and head.classic and command == "BO01":
                alarm = str(rec.a.get("data", ""))[:1]
                if alarm:
                    answer = alarm_answer(device_id, alarm)
        if rec is None:
            if kind != "position" or command in KNOWN_POSITION_COMMANDS or command == "BP05":
                raise ProtocolError(f"malformed TK103 {command} frame", excerpt=frame)
            kind = f"unsupported_{command}"  # no layout here (Traccar has none either): kept raw
            rec = Fields().keep_raw(command, text)
        if command == "BP05":
            answer = self._identify(device_id, out, answer)
        else:
            self._identify(device_id, out, None)
        record = rec.build(device_id)
        if text_answer is not None:
            out.append(CommandResponse(text_answer, (record,), answer))
        else:
            out.append(Report(kind, (record,), answer))
