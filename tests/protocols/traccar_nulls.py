"""What "Traccar decodes no position from this payload" means here.

Traccar returns null for a login, a heartbeat, a command answer, and for layouts it does not decode.
telediag answers the first ones, and keeps what it cannot decode as a record without a fix (its
type and raw content in ``message_type``/``raw_message``) instead of dropping it: so a null payload
may give records, but never one with a position, a fix time or a valid fix.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.core import CommandResponse, Message, Report
from protocols.record import Record


def records(messages: Iterable[Message]) -> list[Record]:
    return [r for m in messages if isinstance(m, (Report, CommandResponse)) for r in m.records]


def assert_no_position(messages: Iterable[Message], where: object) -> None:
    """No record of ``messages`` is a position; ``where`` names the payload in the failure."""
    for rec in records(messages):
        assert (rec.lat, rec.lon, rec.fix_time) == (None, None, None) and not rec.valid, (where, rec)
