"""The webhook outbox: ticket events waiting to be POSTed, kept in the store's own SQLite file.

Pure and synchronous, no Twisted. ``enqueue`` runs inside the caller's transaction, so a ticket
change and its notification commit together or not at all (the transactional outbox pattern); the
deliverer reads and marks rows on its own thread and connection.

One row per (event, URL): every receiver has its own attempts, backoff and order. The table has no
``url`` column, so a row's ``payload`` is ``{"url": ..., "data": ...}`` as JSON. A row that will never
be retried (``max_attempts`` reached) keeps ``delivered_at`` NULL, gets ``next_attempt_at`` = +inf,
which takes it out of every due range, and a ``last_error`` that starts with ``gave up``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from telediag.store.database import Connection

GAVE_UP = float("inf")
"""``next_attempt_at`` of a row that is never retried."""

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
MAX_ERROR_CHARS = 500

_DUE = """
SELECT o.id, o.event, o.payload, o.created_at, o.attempts FROM webhook_outbox AS o
WHERE o.delivered_at IS NULL AND o.next_attempt_at <= :now
  AND NOT EXISTS (
      SELECT 1 FROM webhook_outbox AS w
      WHERE w.delivered_at IS NULL AND w.next_attempt_at > :now AND w.next_attempt_at < :never
        AND w.id < o.id AND json_extract(w.payload, '$.url') = json_extract(o.payload, '$.url'))
ORDER BY o.id
LIMIT :limit
"""
"""Due rows, oldest first, except those queued behind an older row of the same URL that waits for
its backoff: that keeps each receiver's events in creation order and lets one dead receiver block
only itself."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: an event for one receiver."""

    id: int
    event: str
    url: str
    data: Any
    created_at: float
    attempts: int


def enqueue(
    db: Connection, event: str, payload: dict[str, Any], now: float, urls: Sequence[str]
) -> int:
    """Queue ``event`` for every URL; returns how many rows were added (0 when no URL is configured).

    Opens no transaction and never commits: call it inside the transaction of the change it reports.
    A payload that cannot be serialised raises here, before anything is written.
    """
    rows = [
        (event, orjson.dumps({"url": url, "data": payload}, option=_JSON_OPTIONS).decode(), now, now)
        for url in urls
    ]
    db.executemany(
        "INSERT INTO webhook_outbox (event, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?)",
        rows,
    )
    return len(rows)


def due(db: Connection, now: float, limit: int) -> list[Delivery]:
    """Up to ``limit`` rows to attempt now, oldest first (see ``_DUE`` for the per-URL order)."""
    deliveries = []
    for row_id, event, payload, created_at, attempts in db.execute(
        _DUE, {"now": now, "never": GAVE_UP, "limit": limit}
    ):
        document = orjson.loads(payload)
        deliveries.append(Delivery(row_id, event, document["url"], document["data"], created_at, attempts))
    return deliveries


def mark_delivered(db: Connection, id: int, now: float) -> None:
    """The receiver answered 2xx; the row stays (for inspection) until ``prune`` removes it."""
    db.execute(
        "UPDATE webhook_outbox SET delivered_at = ?, attempts = attempts + 1 "
        "WHERE id = ? AND delivered_at IS NULL",
        (now, id),
    )


def mark_failed(db: Connection, id: int, now: float, error: str, next_attempt_at: float) -> None:
    """One more failed attempt: due again at ``next_attempt_at`` (not before ``now``; ``GAVE_UP``: never)."""
    db.execute(
        "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
        "WHERE id = ? AND delivered_at IS NULL",
        (error[:MAX_ERROR_CHARS], max(next_attempt_at, now), id),
    )


def give_up(db: Connection, id: int, now: float, error: str) -> None:
    """The last allowed attempt failed: keep the row, never retry it (``requeue_given_up`` undoes it)."""
    mark_failed(db, id, now, f"gave up: {error}", GAVE_UP)


def requeue_given_up(db: Connection, now: float) -> int:
    """Make every given-up row due again (an operator's fix once a receiver is back); returns the count."""
    cursor = db.execute(
        "UPDATE webhook_outbox SET next_attempt_at = ?, attempts = 0 "
        "WHERE delivered_at IS NULL AND next_attempt_at = ?",
        (now, GAVE_UP),
    )
    return cursor.rowcount


def prune(db: Connection, now: float, keep_s: float) -> int:
    """Delete rows delivered more than ``keep_s`` ago; undelivered and given-up rows are never pruned."""
    cursor = db.execute(
        "DELETE FROM webhook_outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?", (now - keep_s,)
    )
    return cursor.rowcount


def pending_count(db: Connection) -> int:
    """Rows still to be delivered (due now or waiting for their backoff), given-up rows excluded."""
    return db.execute(
        "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at < ?", (GAVE_UP,)
    ).fetchone()[0]


def given_up_count(db: Connection) -> int:
    """Rows that reached ``max_attempts`` and wait for an operator."""
    return db.execute(
        "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at = ?", (GAVE_UP,)
    ).fetchone()[0]
