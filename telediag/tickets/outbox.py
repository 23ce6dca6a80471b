"""The outbox: ticket events waiting to be sent (POSTed to webhooks, published over MQTT), kept in
the store beside the tickets.

Pure and synchronous, no Twisted. ``enqueue`` runs inside the caller's transaction, so a ticket
change and its notification commit together or not at all (the transactional outbox pattern): a
change that rolls back never reaches anybody. The senders read and mark rows on their own thread
and connection, after the commit.

One row per (event, destination): every webhook URL has its own attempts, backoff and order, and
MQTT out has its rows under the destination :data:`MQTT`. The table (``webhook_outbox``, from when
webhooks were its only reader) has no destination column, so a row's ``payload`` is
``{"url": <destination>, "data": ...}`` as JSON. A webhook row that will never be retried
(``max_attempts`` reached) keeps ``delivered_at`` NULL, gets ``next_attempt_at`` = +inf, which takes
it out of every due range, and a ``last_error`` that starts with ``gave up``. MQTT rows are deleted
once the broker has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from telediag.store.database import Connection, Dialect
from telediag.tickets.lifecycle import Notify

GAVE_UP = float("inf")
"""``next_attempt_at`` of a row that is never retried."""
MQTT = "mqtt:"
"""The destination of MQTT out's rows (never a webhook URL: those are http or https)."""

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
MAX_ERROR_CHARS = 500

_DUE = """
SELECT o.id, o.event, o.payload, o.created_at, o.attempts FROM webhook_outbox AS o
WHERE o.delivered_at IS NULL AND o.next_attempt_at <= ? AND {o_url} <> ?
  AND NOT EXISTS (
      SELECT 1 FROM webhook_outbox AS w
      WHERE w.delivered_at IS NULL AND w.next_attempt_at > ? AND w.next_attempt_at < ?
        AND w.id < o.id AND {w_url} = {o_url})
ORDER BY o.id
LIMIT ?
"""
"""Due webhook rows, oldest first, except those queued behind an older row of the same URL that
waits for its backoff: that keeps each receiver's events in creation order and lets one dead
receiver block only itself."""

_MQTT_DUE = """
SELECT id, event, payload FROM webhook_outbox
WHERE delivered_at IS NULL AND {url} = ? AND id > ?
ORDER BY id
LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: an event for one receiver."""

    id: int
    event: str
    url: str
    data: Any
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class Event:
    """One row of MQTT out: the event and the ticket document."""

    id: int
    event: str
    data: Any


def enqueue(
    db: Connection, event: str, payload: dict[str, Any], now: float, destinations: Sequence[str]
) -> int:
    """Queue ``event`` for every destination; returns how many rows were added (0 without any).

    Opens no transaction and never commits: call it inside the transaction of the change it reports.
    A payload that cannot be serialised raises here, before anything is written.
    """
    rows = [
        (event, orjson.dumps({"url": destination, "data": payload}, option=_JSON_OPTIONS).decode(), now, now)
        for destination in destinations
    ]
    db.executemany(
        "INSERT INTO webhook_outbox (event, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?)",
        rows,
    )
    return len(rows)


def notifier(destinations: Sequence[str]) -> Notify | None:
    """``notify(db, event, payload, now)`` for the ticket lifecycle, queueing a row per destination
    inside its transaction (None without destinations, so nothing is queued that nobody would send)."""
    if not destinations:
        return None
    chosen = tuple(destinations)

    def notify(db: Connection, event: str, payload: dict[str, Any], now: float) -> None:
        enqueue(db, event, payload, now, chosen)

    return notify


def due(db: Connection, dialect: Dialect, now: float, limit: int) -> list[Delivery]:
    """Up to ``limit`` webhook rows to attempt now, oldest first (see ``_DUE`` for the per-URL order)."""
    query = _DUE.format(o_url=dialect.json_field("o.payload", "url"), w_url=dialect.json_field("w.payload", "url"))
    deliveries = []
    for row_id, event, payload, created_at, attempts in db.execute(query, (now, MQTT, now, GAVE_UP, limit)):
        document = orjson.loads(payload)
        deliveries.append(Delivery(row_id, event, document["url"], document["data"], created_at, attempts))
    return deliveries


def mqtt_due(db: Connection, dialect: Dialect, after_id: int, limit: int) -> list[Event]:
    """Up to ``limit`` rows of MQTT out with ids above ``after_id``, in the order they were queued."""
    query = _MQTT_DUE.format(url=dialect.json_field("payload", "url"))
    return [Event(row_id, event, orjson.loads(payload)["data"])
            for row_id, event, payload in db.execute(query, (MQTT, after_id, limit))]


def remove(db: Connection, ids: Sequence[int]) -> None:
    """Delete rows that need no record once sent (MQTT out's, once the broker has them)."""
    db.executemany("DELETE FROM webhook_outbox WHERE id = ?", [(row_id,) for row_id in ids])


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
    return int(cursor.rowcount)


def prune(db: Connection, now: float, keep_s: float) -> int:
    """Delete rows delivered more than ``keep_s`` ago; undelivered and given-up rows are never pruned."""
    cursor = db.execute(
        "DELETE FROM webhook_outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?", (now - keep_s,)
    )
    return int(cursor.rowcount)


def pending_count(db: Connection) -> int:
    """Rows still to be delivered (due now or waiting for their backoff), given-up rows excluded;
    MQTT out's rows count too while the broker is away."""
    return int(db.execute(
        "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at < ?", (GAVE_UP,)
    ).fetchone()[0])


def given_up_count(db: Connection) -> int:
    """Rows that reached ``max_attempts`` and wait for an operator."""
    return int(db.execute(
        "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at = ?", (GAVE_UP,)
    ).fetchone()[0])
