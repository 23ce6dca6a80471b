"""The per-device command queue in the store: every state change is one conditional UPDATE.

Synchronous and clock-free (callers pass ``now``); runs on a store thread. Each change names the
state it expects (``WHERE state = ?``), so of two processes racing for one row exactly one sees its
UPDATE touch it: that is the row claim, on SQLite and PostgreSQL alike. Moves are checked against
:data:`telediag.commands.model.MOVES` before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telediag.commands.model import COLUMNS, CommandRefused, check_move, document
from telediag.store.database import Connection

MAX_ERROR_CHARS = 500
MAX_ANSWER_CHARS = 2000
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM device_commands"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A command a channel took: what to send, where."""

    id: int
    imei: str
    text: str


def _move(db: Connection, command_id: int, current: str, new: str, **changes: Any) -> bool:
    """``current -> new`` with ``changes``, if the row is still ``current``; whether it was."""
    check_move(current, new)
    assignments = ", ".join(["state = ?", *(f"{name} = ?" for name in changes)])
    cursor = db.execute(f"UPDATE device_commands SET {assignments} WHERE id = ? AND state = ?",
                        (new, *changes.values(), command_id, current))
    return int(cursor.rowcount) == 1


def enqueue(db: Connection, imei: str, text: str, by: str, now: float, expires_in_s: float, *,
            max_waiting: int, ticket_id: int | None = None, fix_code: str | None = None,
            proof_due: float | None = None) -> dict[str, Any]:
    """Queue ``text`` for ``imei``; CommandRefused when ``max_waiting`` already wait. Opens no
    transaction: call it inside the caller's (with a ticket's timeline entry, for a fix)."""
    (waiting,) = db.execute("SELECT COUNT(*) FROM device_commands WHERE imei = ? AND state = 'queued'",
                            (imei,)).fetchone()
    if waiting >= max_waiting:
        raise CommandRefused([f"device {imei} already has {waiting} commands waiting (the limit is {max_waiting})"])
    (command_id,) = db.execute(
        "INSERT INTO device_commands (imei, text, state, created_by, created_at, expires_at, ticket_id, fix_code, "
        "proof, proof_due) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (imei, text, by, now, now + expires_in_s, ticket_id, fix_code,
         "waiting" if proof_due is not None else None, proof_due),
    ).fetchone()
    found = get(db, int(command_id))
    assert found is not None
    return found


def get(db: Connection, command_id: int) -> dict[str, Any] | None:
    """One command's document, or None."""
    row = db.execute(f"{_SELECT} WHERE id = ?", (command_id,)).fetchone()
    return None if row is None else document(row)


def history(db: Connection, imei: str, limit: int) -> list[dict[str, Any]]:
    """A device's commands, newest first."""
    rows = db.execute(f"{_SELECT} WHERE imei = ? ORDER BY id DESC LIMIT ?", (imei, limit)).fetchall()
    return [document(row) for row in rows]


def claim_for(db: Connection, imeis: Sequence[str], node: str, now: float, lease_s: float,
              limit: int) -> list[Claimed]:
    """Take the oldest queued, unexpired command of each of ``imeis`` (devices connected to this
    process, none with a command of ours in flight), at most ``limit``: each becomes ``sent`` over
    TCP, held by ``node`` until ``now + lease_s``. A row another process took first is skipped."""
    if not imeis or limit <= 0:
        return []
    claimed: list[Claimed] = []
    for start in range(0, len(imeis), 500):  # bounded parameter lists on both engines
        chunk = imeis[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = db.execute(
            "SELECT id, imei, text FROM device_commands c WHERE state = 'queued' AND expires_at > ? "
            f"AND imei IN ({marks}) AND id = (SELECT MIN(id) FROM device_commands o "
            "WHERE o.imei = c.imei AND o.state IN ('queued', 'sent') AND (o.state = 'queued' OR o.channel = 'tcp')) "
            "ORDER BY id LIMIT ?", (now, *chunk, limit - len(claimed)),
        ).fetchall()
        for command_id, imei, text in rows:
            if _move(db, int(command_id), "queued", "sent", channel="tcp", claimed_by=node,
                     claim_until=now + lease_s, sent_at=now, error=None):
                claimed.append(Claimed(int(command_id), imei, text))
        if len(claimed) >= limit:
            break
    return claimed


def answered(db: Connection, command_id: int, answer: str, now: float) -> bool:
    """The device answered the command (its answer kept, cut at MAX_ANSWER_CHARS)."""
    return _move(db, command_id, "sent", "answered", answered_at=now, answer=answer[:MAX_ANSWER_CHARS],
                 claim_until=None)


def failed(db: Connection, command_id: int, error: str, now: float) -> bool:
    """The channel took the command and it came to nothing (written and unanswered, refused)."""
    return _move(db, command_id, "sent", "failed", error=error[:MAX_ERROR_CHARS], claim_until=None)


def released(db: Connection, command_id: int, why: str, now: float) -> bool:
    """The command was never written (the device stayed busy or left): queued again, safe to resend."""
    return _move(db, command_id, "sent", "queued", channel=None, claimed_by=None, claim_until=None, sent_at=None,
                 error=why[:MAX_ERROR_CHARS])


def cancel(db: Connection, command_id: int, now: float, by: str) -> bool:
    """Withdraw a command no channel has taken yet."""
    return _move(db, command_id, "queued", "cancelled", error=f"cancelled by {by}"[:MAX_ERROR_CHARS])


def expire(db: Connection, now: float) -> int:
    """Mark queued commands past their expiry ``expired``, and fail TCP sends whose claim lapsed (the
    process delivering them stopped without an outcome). Returns how many rows changed."""
    changed = db.execute(
        "UPDATE device_commands SET state = 'expired', error = COALESCE(error, 'not delivered before it expired') "
        "WHERE state = 'queued' AND expires_at <= ?", (now,)).rowcount
    changed += db.execute(
        "UPDATE device_commands SET state = 'failed', claim_until = NULL, "
        "error = 'no outcome recorded: the process sending it stopped' "
        "WHERE state = 'sent' AND claim_until IS NOT NULL AND claim_until < ?", (now,)).rowcount
    return int(changed)


def due_for_sms(db: Connection, now: float, delay_s: float, limit: int) -> list[tuple[int, str, str, str]]:
    """``(id, imei, text, msisdn)`` of queued commands asked for at least ``delay_s`` ago, unexpired,
    whose SIM has a number and whose SMS is not waiting for a retry; oldest first."""
    return [(int(i), imei, text, msisdn) for i, imei, text, msisdn in db.execute(
        "SELECT c.id, c.imei, c.text, s.msisdn FROM device_commands c JOIN devices d ON d.imei = c.imei "
        "JOIN sim_profiles s ON s.iccid = d.iccid WHERE c.state = 'queued' AND c.created_at <= ? "
        "AND c.expires_at > ? AND (c.sms_next_at IS NULL OR c.sms_next_at <= ?) "
        "AND s.msisdn IS NOT NULL AND s.msisdn <> '' ORDER BY c.id LIMIT ?",
        (now - delay_s, now, now, limit)).fetchall()]


def claim_sms(db: Connection, command_id: int, node: str, now: float, lease_s: float) -> bool:
    """Take a queued command for the SMS gateway (False: a device connection took it first)."""
    return _move(db, command_id, "queued", "sent", channel="sms", claimed_by=node, claim_until=now + lease_s,
                 sent_at=now)


def sms_accepted(db: Connection, command_id: int, now: float) -> bool:
    """The gateway took the SMS: the command is sent (no answer comes back over this channel)."""
    return _move(db, command_id, "sent", "sent", sent_at=now, claim_until=None, error=None,
                 sms_attempts=_attempts(db, command_id) + 1)


def sms_failed(db: Connection, command_id: int, error: str, retry_at: float) -> bool:
    """The POST failed: queued again (TCP may still deliver it), SMS retried at ``retry_at`` (inf: never)."""
    return _move(db, command_id, "sent", "queued", channel=None, claimed_by=None, claim_until=None, sent_at=None,
                 error=error[:MAX_ERROR_CHARS], sms_attempts=_attempts(db, command_id) + 1, sms_next_at=retry_at)


def sms_attempts(db: Connection, command_id: int) -> int:
    """How many SMS POSTs of the command failed or succeeded so far."""
    return _attempts(db, command_id)


def _attempts(db: Connection, command_id: int) -> int:
    row = db.execute("SELECT sms_attempts FROM device_commands WHERE id = ?", (command_id,)).fetchone()
    return int(row[0]) if row else 0

