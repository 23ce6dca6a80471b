"""The change feed reads what changed past its watermarks, and a new feed goes on where the last stopped."""

from __future__ import annotations

from protocols.record import iso_utc
from telediag.diagnostics.changes import ChangeFeed
from telediag.diagnostics.connectivity_events import parse_event
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.connectivity import save_events
from telediag.store.writer import ConnectionChange, RecordBatch, Store
from tests.telediag.diagnostics.test_engine import IMEI, START, healthy

OTHER = "356307042441021"


def test_events_registry_connections_and_records_are_read_once_and_resumed(store: Store) -> None:
    feed = ChangeFeed()
    first = feed.poll(store._db)
    assert first.registry == {IMEI} and not first.events  # the fixture's import, from the log's start
    assert not feed.poll(store._db)

    event = parse_event({"iccid": "8948000000000000001", "at": iso_utc(START), "type": "pdp_reject", "cause": 33})
    save_events(store._db, [event], START)  # by ICCID only: its device is found through the registry
    save(store._db, [parse_entry({"imei": OTHER, "account": "Acme"})], START, "api")
    save(store._db, [parse_entry({"imei": IMEI, "account": "Acme", "coverage": "eu", "home_country": "PL"})],
         START, "api")  # an account edit concerns every device of the account
    store.commit([ConnectionChange(OTHER, "teltonika", True, "127.0.0.1:9", START + 5),
                  RecordBatch(OTHER, "teltonika", [healthy(START, imei=OTHER)], START + 6)], flush_state=True)
    changes = feed.poll(store._db)
    assert changes.events == {IMEI}
    assert changes.registry == {IMEI, OTHER}
    assert changes.connections == {OTHER: START + 5}
    assert changes.records == {OTHER: START + 6}
    assert not feed.poll(store._db)
    assert store._db.execute("SELECT count(*) FROM registry_changes").fetchone()[0] == 1  # read: trimmed to the mark

    save_events(store._db, [parse_event({"imei": OTHER, "at": iso_utc(START), "type": "attach"})], START)
    again = ChangeFeed()  # another node elected, or a restart: events go on from the kept watermark
    resumed = again.poll(store._db)
    assert resumed.events == {OTHER} and not resumed.registry and not resumed.records
