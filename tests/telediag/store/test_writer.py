"""The store: exact round trip of records, duplicates dropped, device state kept (and SQLite's own file
mode, column types and insert chunks)."""

from pathlib import Path

import pytest

from protocols.record import Record
from telediag.store.reader import Reader
from telediag.store.writer import ConnectionChange, IngestError, RecordBatch, Registration, Store
from tests.stores import absent_store, database_at


def sample(fix_time: float, **overrides) -> Record:
    values = dict(
        imei="356307042441013", protocol="teltonika", fix_time=fix_time, valid=True, lat=54.6872,
        lon=25.2797, altitude_m=112.0, speed_kmh=57.0, course_deg=270.0, satellites=11, hdop=0.9,
        ignition=True, motion=True, ext_voltage_v=13.912, battery_voltage_v=4.05, gsm_signal_pct=80,
        operator=24602, roaming=False, odometer_m=123456.0, event=None, attributes={"io66": 13912},
    )
    values.update(overrides)
    return Record(**values)


def test_records_round_trip_in_the_normalised_form(tmp_path: Path) -> None:
    store = Store(database_at(tmp_path / "db.sqlite3"))
    first, second = sample(1_700_000_000.5), sample(1_700_000_010.0, ignition=None, attributes={})
    assert store.commit([RecordBatch("356307042441013", "teltonika", [second, first], 1_700_000_020.0)]) == 2
    store.close()
    reader = Reader(database_at(tmp_path / "db.sqlite3"))
    rows = list(reader.records("356307042441013"))
    assert [r["fix_time"] for r in rows] == ["2023-11-14T22:13:20.500Z", "2023-11-14T22:13:30.000Z"]
    assert rows[0]["server_time"] == "2023-11-14T22:13:40.000Z"
    assert rows[0]["lat"] == 54.6872 and rows[0]["ignition"] is True and rows[0]["valid"] is True
    assert rows[0]["attributes"] == {"io66": 13912}
    assert rows[1]["ignition"] is None and rows[1]["attributes"] == {}
    assert list(rows[0]) [:4] == ["imei", "protocol", "fix_time", "server_time"]
    window = list(reader.records("356307042441013", since=1_700_000_001.0, until=1_700_000_011.0))
    assert len(window) == 1


def test_duplicates_are_dropped_but_changed_content_is_kept(tmp_path: Path) -> None:
    store = Store(database_at(tmp_path / "db.sqlite3"))
    record = sample(1_700_000_000.0)
    assert store.commit([RecordBatch("356307042441013", "teltonika", [record], 1.0)]) == 1
    assert store.commit([RecordBatch("356307042441013", "teltonika", [record], 2.0)]) == 0
    batch = RecordBatch("356307042441013", "teltonika", [sample(1_700_000_000.0, speed_kmh=58.0)], 3.0)
    assert store.commit([batch]) == 1
    reader = Reader(database_at(tmp_path / "db.sqlite3"))
    assert reader.count_records("356307042441013") == 2


def test_device_state_connection_last_fix_and_errors(tmp_path: Path) -> None:
    store = Store(database_at(tmp_path / "db.sqlite3"))
    imei = "356307042441013"
    store.commit([
        Registration(imei, "teltonika", 5.0, "auto"),
        ConnectionChange(imei, "teltonika", True, "127.0.0.1:4000", 10.0),
        RecordBatch(imei, "teltonika", [sample(100.0, lat=1.0), sample(90.0, lat=2.0)], 11.0),
        RecordBatch(imei, "teltonika", [sample(95.0, lat=3.0), sample(120.0, valid=False, lat=9.0)], 12.0),
        IngestError(imei, "teltonika", "127.0.0.1:4000", 13.0, "CRC mismatch", "00ff"),
    ])
    reader = Reader(database_at(tmp_path / "db.sqlite3"))
    state = reader.device_state(imei)
    assert state is not None
    assert state["connected"] == 1 and state["remote"] == "127.0.0.1:4000"
    assert state["last_fix_time"] == 100.0 and state["last_lat"] == 1.0
    assert state["last_seen"] == 12.0 and state["first_seen"] == 10.0
    assert state["protocol_errors"] == 1 and state["last_error"] == "CRC mismatch"
    assert store.registered_imeis() == {imei}
    store.commit([ConnectionChange(imei, "teltonika", False, "127.0.0.1:4000", 20.0)])
    state = reader.device_state(imei)
    assert state["connected"] == 0 and state["last_disconnected_at"] == 20.0
    assert state["last_connected_at"] == 10.0
    store.commit([ConnectionChange(imei, "teltonika", True, "127.0.0.1:4001", 30.0)])
    store.mark_all_disconnected(40.0)
    assert reader.device_state(imei)["connected"] == 0


@pytest.mark.sqlite_only
def test_the_sqlite_store_is_wal(tmp_path: Path) -> None:
    Store(database_at(tmp_path / "db.sqlite3")).close()
    db = database_at(tmp_path / "db.sqlite3").connect()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_reader_needs_an_existing_store(tmp_path: Path) -> None:
    try:
        Reader(database_at(absent_store(tmp_path / "missing.sqlite3")))
    except FileNotFoundError as error:
        assert "telediag serve" in str(error)
    else:
        raise AssertionError("a missing store must be reported")


@pytest.mark.sqlite_only
def test_stored_form_and_natural_key_are_those_of_earlier_versions(tmp_path: Path) -> None:
    """A store written before rows were bound as 0/1 and bytearray drops the same resent record.

    The digest is pinned to its formula (blake2b-96 of the JSON of protocol, fix time and values,
    then the sorted attributes), and the columns keep their SQLite types.
    """
    import hashlib

    import orjson

    from telediag.store.rows import VALUE_COLUMNS

    record = sample(1_700_000_000.0, attributes={"io66": 13912, "io1": 1, "priority": 0})
    values = tuple(getattr(record, name) for name in VALUE_COLUMNS)
    attributes = orjson.dumps(record.attributes, option=orjson.OPT_SORT_KEYS)
    expected = hashlib.blake2b(orjson.dumps(("teltonika", 1_700_000_000.0, values)) + attributes,
                               digest_size=12).digest()
    path = tmp_path / "db.sqlite3"
    store = Store(database_at(path))
    db = database_at(path).connect()
    db.execute(  # a row as an earlier version bound it: booleans and the digest as Python bool/bytes
        "INSERT INTO records (imei, protocol, fix_time, server_time, digest, valid, ignition, motion, roaming, "
        "attributes) VALUES (?, 'teltonika', ?, 1.0, ?, ?, ?, ?, ?, ?)",
        (record.imei, record.fix_time, expected, True, True, True, False, attributes.decode()),
    )
    assert store.commit([RecordBatch(record.imei, "teltonika", [record], 2.0)]) == 0
    other = sample(1_700_000_001.0)
    assert store.commit([RecordBatch(other.imei, "teltonika", [other], 3.0)]) == 1
    row = db.execute(
        "SELECT typeof(digest), length(digest), typeof(valid), valid, typeof(ignition), typeof(roaming), roaming, "
        "typeof(attributes) FROM records WHERE fix_time = 1700000001.0").fetchone()
    assert row == ("blob", 12, "integer", 1, "integer", "integer", 0, "text")
    store.close()


@pytest.mark.sqlite_only
def test_many_rows_per_statement_insert_each_once(tmp_path: Path) -> None:
    """Chunked inserts: every count around the chunk sizes, duplicates in a chunk and across chunks."""
    from telediag.store.rows import record_row
    from telediag.store.sqlite import INSERT_CHUNKS, insert_records

    db = database_at(tmp_path / "db.sqlite3").connect()
    imei = "356307042441013"
    fix_time = 1_700_000_000.0
    counts = (0, 1, 7, 8, 9, 63, 64, 73, 512 + 64 + 8 + 3)
    for count in counts:
        records = [sample(fix_time + i) for i in range(count)]
        fix_time += count
        rows = [record_row(imei, r, 1.0) for r in records]
        before = db.total_changes
        db.execute("BEGIN")
        insert_records(db, rows + rows[: count // 2])  # half of them twice, in other chunks
        db.execute("COMMIT")
        assert db.total_changes - before == count
    assert db.execute("SELECT count(*), count(DISTINCT fix_time) FROM records").fetchone() == (sum(counts), sum(counts))
    assert INSERT_CHUNKS[-1] == 1


@pytest.mark.sqlite_only
def test_chunks_respect_the_connections_parameter_limit(tmp_path: Path) -> None:
    """Built against an SQLite with the old limit of 999 parameters, only 8 rows go in one statement."""
    import sqlite3

    from telediag.store.rows import record_row
    from telediag.store.sqlite import insert_records

    db = database_at(tmp_path / "db.sqlite3").connect()
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    rows = [record_row("356307042441013", sample(1_700_000_000.0 + i), 1.0) for i in range(80)]
    db.execute("BEGIN")
    insert_records(db, rows)
    db.execute("COMMIT")
    assert db.execute("SELECT count(*) FROM records").fetchone() == (80,)
