"""H02 server commands ``*HQ,<id>,<CMD>,<HHMMSS>[,<params>]#`` and the device's ``V4`` answer.

The command carries the server's time of sending (Traccar's ``H02ProtocolEncoder``); the device
confirms with ``*HQ,<id>,V4,<CMD>,<params or result>,<that time>,<its time>,<position...>#``,
which the session reads as a position whose ``result`` is the answer. Command text is what
follows the id: ``S20,1,1`` (engine stop), ``SCF,0,0`` (arm), ``S71,22,60`` (interval), ``D1,60``.
The session remembers the command word and time it sent so the ``V4`` that answers it comes out
as a ``CommandResponse``; the device side (``device.ServerReceiver``, ``device.encode_answer``)
drives the simulators.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MAX_COMMAND = 512
"""Longest command text sent (devices take SMS-sized commands)."""

REPLY_TYPES = frozenset(("V4", "R12", "V0", "HTBT"))
"""Sentence types a server sends that are answers to the device's reports, not commands."""


def command_time(now: float) -> str:
    """The ``HHMMSS`` (UTC) a command carries and its answer echoes."""
    return time.strftime("%H%M%S", time.gmtime(int(now)))


def split_command(text: str) -> tuple[str, str]:
    """``S20,1,1`` -> (``S20``, ``1,1``); ``ValueError`` for text a sentence cannot carry."""
    if not text or len(text) > MAX_COMMAND or not text.isascii() or any(c in text for c in "*#\r\n"):
        raise ValueError(f"an H02 command is 1 to {MAX_COMMAND} ASCII characters without * # or line breaks")
    word, _, params = text.partition(",")
    if not word:
        raise ValueError("an H02 command starts with its command word")
    return word, params


def encode_command(ident: str, text: str, now: float) -> bytes:
    """``*HQ,<ident>,<CMD>,<HHMMSS>[,<params>]#`` for command ``text`` (``CMD[,params]``)."""
    word, params = split_command(text)
    tail = f",{params}" if params else ""
    return f"*HQ,{ident},{word},{command_time(now)}{tail}#".encode("ascii")


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """A command as the device receives it: the word, the server's time and the parameters."""

    word: str
    stamp: str
    params: str

    @property
    def text(self) -> str:
        """The command as the server was asked to send it (``S20,1,1``)."""
        return f"{self.word},{self.params}" if self.params else self.word
