"""What a message handler gets (the frame and the session's settings) and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from protocols.gt06.fields import Fields, alarm_table
from protocols.gt06.framing import Frame


@dataclass(frozen=True, slots=True)
class Ctx:
    """One frame plus what the session knows: the device model override and the login time zone."""

    frame: Frame
    model: str | None
    tz: int

    @property
    def alarms(self) -> dict[int, str]:
        """Alarm-code table for this device model."""
        return alarm_table(self.model)


STANDARD_ACK = True
"""Handler says: answer with the generic ACK (same type and serial)."""

Ack = bytes | bool | None
"""Explicit reply bytes, ``STANDARD_ACK``, or None/False for no reply."""


class Outcome(NamedTuple):
    """A handler's result; ``text`` set means a command answer (``CommandResponse``), ``reference``
    the server flag it echoes (hex)."""

    kind: str
    records: tuple[Fields, ...]
    ack: Ack
    text: str | None = None
    reference: str | None = None


Handler = Callable[[Ctx], Outcome]


def report(kind: str, rec: Fields | None, ack: Ack = STANDARD_ACK) -> Outcome:
    """One record (or none) and an ACK policy."""
    return Outcome(kind, (rec,) if rec is not None else (), ack)


def nothing(kind: str, ack: Ack = None) -> Outcome:
    """No record: an echo, an unsupported layout, a request the server only answers."""
    return Outcome(kind, (), ack)
