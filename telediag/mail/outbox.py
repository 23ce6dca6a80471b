"""The mail outbox: whole messages waiting for the SMTP server, one row per recipient.

Pure and synchronous. A message is rendered once, when it is queued (inside the transaction of
whatever decided to send it), so every attempt sends the same bytes with the same ``Message-ID`` and
a restart loses nothing: the sender reads due rows after the commit and marks each one. A row that
will never be retried keeps ``sent_at`` NULL, gets ``next_attempt_at`` = +inf and a ``last_error``
starting with ``gave up``. One recipient per row, so a refused address never holds back the others
and no recipient sees another's address.
"""

from __future__ import annotations

from dataclasses import dataclass

from telediag.store.database import Connection

GAVE_UP = float("inf")
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One row: the message for one recipient."""

    id: int
    purpose: str
    recipient: str
    message: bytes
    attempts: int


def enqueue(db: Connection, purpose: str, recipient: str, message: bytes, now: float) -> int:
    """Queue ``message`` (ASCII RFC 5322 bytes) for ``recipient``; returns the row id. Opens no
    transaction: call it inside the one of the change that sends it."""
    (row_id,) = db.execute(
        "INSERT INTO mail_outbox (purpose, recipients, message, created_at, next_attempt_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (purpose, recipient, message.decode("ascii"), now, now),
    ).fetchone()
    return int(row_id)


def due(db: Connection, now: float, limit: int) -> list[Outgoing]:
    """Up to ``limit`` rows to attempt now, oldest first."""
    rows = db.execute(
        "SELECT id, purpose, recipients, message, attempts FROM mail_outbox "
        "WHERE sent_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?", (now, limit),
    ).fetchall()
    return [Outgoing(int(i), purpose, recipient, message.encode("ascii"), attempts)
            for i, purpose, recipient, message, attempts in rows]


def mark_sent(db: Connection, row_id: int, now: float) -> None:
    """The server took the message; the row stays until ``prune`` removes it."""
    db.execute("UPDATE mail_outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ? AND sent_at IS NULL",
               (now, row_id))


def mark_failed(db: Connection, row_id: int, now: float, error: str, next_attempt_at: float) -> None:
    """One more failed attempt: due again at ``next_attempt_at`` (``GAVE_UP``: never)."""
    db.execute(
        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
        "WHERE id = ? AND sent_at IS NULL",
        (error[:MAX_ERROR_CHARS], max(next_attempt_at, now), row_id),
    )


def give_up(db: Connection, row_id: int, now: float, error: str) -> None:
    """A permanent refusal or the last allowed attempt: kept for inspection, never retried."""
    mark_failed(db, row_id, now, f"gave up: {error}", GAVE_UP)


def prune(db: Connection, now: float, keep_s: float) -> int:
    """Delete rows sent more than ``keep_s`` ago; unsent and given-up rows stay."""
    return int(db.execute("DELETE FROM mail_outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                          (now - keep_s,)).rowcount)


def counts(db: Connection) -> dict[str, int]:
    """Rows waiting, sent (not yet pruned) and given up."""
    waiting, sent, given_up = db.execute(
        "SELECT "
        "COALESCE(SUM(CASE WHEN sent_at IS NULL AND next_attempt_at < ? THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN sent_at IS NULL AND next_attempt_at = ? THEN 1 ELSE 0 END), 0) FROM mail_outbox",
        (GAVE_UP, GAVE_UP),
    ).fetchone()
    return {"waiting": int(waiting), "sent": int(sent), "given_up": int(given_up)}
