"""The outbox: rows queued inside the ticket change's transaction, one per destination, read by the
webhook deliverer and by MQTT out each for their own destinations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telediag.store.database import Connection, Database, transaction
from telediag.tickets import outbox
from tests.stores import database_at

START = 1_790_000_000.0
TICKET = {"id": 7, "title": "Tracker silent", "state": "open", "devices": ["356307042441013"]}
URLS = ("http://a.example/h", "http://b.example/h")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Database, Connection]]:
    database = database_at(tmp_path / "telediag.sqlite3")
    db = database.connect()
    yield database, db
    db.close()


def test_rows_queued_in_a_transaction_that_rolls_back_are_gone(store: tuple[Database, Any]) -> None:
    database, db = store
    with pytest.raises(RuntimeError), transaction(db):
        db.execute("INSERT INTO accounts (name) VALUES ('ACME')")
        assert outbox.enqueue(db, "ticket.created", TICKET, START, (*URLS, outbox.MQTT)) == 3
        raise RuntimeError("the ticket change failed after its notification was queued")
    assert outbox.pending_count(db) == 0
    assert outbox.mqtt_due(db, database.dialect, 0, 10) == []
    assert db.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0

    with transaction(db):
        outbox.enqueue(db, "ticket.created", TICKET, START, URLS)
    assert [d.url for d in outbox.due(db, database.dialect, START, 10)] == list(URLS)
    assert outbox.enqueue(db, "ticket.created", TICKET, START, ()) == 0


def test_an_unserialisable_payload_fails_before_anything_is_written(store: tuple[Database, Any]) -> None:
    _, db = store
    with pytest.raises(TypeError):
        outbox.enqueue(db, "ticket.created", {"x": object()}, START, URLS)
    assert outbox.pending_count(db) == 0


def test_the_notifier_queues_for_every_destination_in_the_callers_transaction(store: tuple[Database, Any]) -> None:
    database, db = store
    assert outbox.notifier(()) is None
    notify = outbox.notifier((URLS[0], outbox.MQTT))
    assert notify is not None
    with transaction(db):
        notify(db, "ticket.commented", TICKET, START)
    [delivery] = outbox.due(db, database.dialect, START, 10)
    assert (delivery.event, delivery.url, delivery.data, delivery.attempts) == (
        "ticket.commented", URLS[0], TICKET, 0)
    [event] = outbox.mqtt_due(db, database.dialect, 0, 10)
    assert (event.event, event.data) == ("ticket.commented", TICKET)


def test_due_keeps_each_urls_order_behind_a_row_waiting_for_its_backoff(store: tuple[Database, Any]) -> None:
    database, db = store
    for n in range(3):
        outbox.enqueue(db, "ticket.updated", {"n": n}, START, ("http://a/", "http://b/"))
    outbox.mark_failed(db, 1, START, "HTTP 500", START + 10)  # a's oldest waits
    due = outbox.due(db, database.dialect, START + 1, 10)
    assert [(d.id, d.url) for d in due] == [(2, "http://b/"), (4, "http://b/"), (6, "http://b/")]
    assert [d.id for d in outbox.due(db, database.dialect, START + 10, 10)] == [1, 2, 3, 4, 5, 6]
    assert [d.id for d in outbox.due(db, database.dialect, START + 10, 2)] == [1, 2]


def test_webhooks_and_mqtt_each_read_only_their_own_rows(store: tuple[Database, Any]) -> None:
    database, db = store
    for n in range(3):
        outbox.enqueue(db, "ticket.updated", {"n": n}, START, ("http://a/", outbox.MQTT))
    assert [d.id for d in outbox.due(db, database.dialect, START, 10)] == [1, 3, 5]
    mqtt = outbox.mqtt_due(db, database.dialect, 0, 10)
    assert [(e.id, e.data["n"]) for e in mqtt] == [(2, 0), (4, 1), (6, 2)]
    assert [e.id for e in outbox.mqtt_due(db, database.dialect, 2, 1)] == [4]  # after a row, in order
    outbox.remove(db, [2, 4])
    assert [e.id for e in outbox.mqtt_due(db, database.dialect, 0, 10)] == [6]
    assert [d.id for d in outbox.due(db, database.dialect, START, 10)] == [1, 3, 5]


def test_prune_removes_only_old_delivered_rows(store: tuple[Database, Any]) -> None:
    _, db = store
    outbox.enqueue(db, "ticket.created", {}, START, ("http://a/", "http://b/", "http://c/"))
    outbox.mark_delivered(db, 1, START)
    outbox.give_up(db, 2, START, "after 3 attempts: HTTP 500")
    assert outbox.prune(db, START + 100, keep_s=200) == 0
    assert outbox.prune(db, START + 300, keep_s=200) == 1
    assert [r[0] for r in db.execute("SELECT id FROM webhook_outbox ORDER BY id")] == [2, 3]
    assert (outbox.pending_count(db), outbox.given_up_count(db)) == (1, 1)
