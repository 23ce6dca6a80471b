"""A queued server command's states, the moves between them, and the checks on what a person asks.

Pure: no store, no clock. ``queued`` waits for a channel; ``sent`` is handed to one (written on the
device's connection, or accepted by the SMS gateway); ``answered`` carries the device's answer;
``expired`` ran out of time before any channel took it; ``failed`` was taken and came to nothing
(written and unanswered, refused by the protocol); ``cancelled`` was withdrawn by staff. A command
handed to a connection that could not write it (the device stayed busy, or left) goes back to
``queued``: it was never written, so asking again is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocols.record import iso_utc

STATES = ("queued", "sent", "answered", "expired", "failed", "cancelled")
FINAL_STATES = frozenset({"answered", "expired", "failed", "cancelled"})
MOVES: dict[str, frozenset[str]] = {
    "queued": frozenset({"sent", "expired", "cancelled"}),
    "sent": frozenset({"answered", "failed", "queued", "sent"}),
    "answered": frozenset(),
    "expired": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
"""The only legal moves; ``sent -> sent`` is an SMS the gateway accepted (the claim becomes the send)."""
CHANNELS = ("tcp", "sms")


class CommandRefused(ValueError):
    """What was asked cannot be queued; ``problems`` names every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class IllegalMove(RuntimeError):
    """A state change the table does not allow (a bug in the caller, never a user's mistake)."""


def check_move(current: str, new: str) -> None:
    """IllegalMove unless ``current -> new`` is in :data:`MOVES`."""
    if new not in MOVES.get(current, frozenset()):
        raise IllegalMove(f"a command cannot go from {current} to {new}")


def is_expired(state: str, expires_at: float, now: float) -> bool:
    """Whether a command in ``state`` is expired at ``now``: only one no channel has taken yet."""
    return state == "queued" and expires_at <= now


@dataclass(frozen=True, slots=True)
class Request:
    """A command as asked for, checked."""

    text: str
    expires_in_s: float


def parse_request(body: Mapping[str, Any], *, default_expires_in_s: float, min_expires_in_s: float,
                  max_expires_in_s: float, max_text_chars: int) -> Request:
    """``{"text", "expires_in_s"}`` checked; CommandRefused naming every problem."""
    problems: list[str] = []
    unknown = sorted(set(body) - {"text", "expires_in_s"})
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}; a command has text and expires_in_s")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("text is required: the command as the tracker takes it, e.g. \"getstatus\"")
        text = ""
    elif len(text) > max_text_chars:
        problems.append(f"text must be at most {max_text_chars} characters (got {len(text)})")
    elif not (text.isascii() and text.isprintable()):
        problems.append("text must be printable ASCII (tracker commands are), without line breaks")
    expires = body.get("expires_in_s", default_expires_in_s)
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) or not (
            min_expires_in_s <= expires <= max_expires_in_s):
        problems.append(f"expires_in_s must be a number of seconds from {min_expires_in_s:g} to {max_expires_in_s:g}")
        expires = default_expires_in_s
    if problems:
        raise CommandRefused(problems)
    return Request(text, float(expires))


COLUMNS = ("id", "imei", "text", "state", "channel", "created_by", "created_at", "expires_at", "sent_at",
           "answered_at", "answer", "error", "ticket_id", "fix_code", "proof", "proof_due", "proof_evidence")
"""What a command document is read from (``SELECT`` in this order)."""
_TIMES = ("created_at", "expires_at", "sent_at", "answered_at", "proof_due")


def document(row: tuple[Any, ...]) -> dict[str, Any]:
    """A command as the API, the CLI and the console show it (times as ISO 8601 UTC)."""
    found = dict(zip(COLUMNS, row, strict=True))
    for name in _TIMES:
        found[name] = iso_utc(found[name])
    return found
