"""The PostgreSQL store against a real PostgreSQL 15 on 127.0.0.1: schema scripts, the batch writer with
COPY and month partitions, the same readings as SQLite, retention by partition; and the SQL translation
(pure, no server)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from protocols.record import Record
from telediag.store.database import transaction
from telediag.store.postgresql import MIGRATIONS, PostgresDatabase, describe_dsn, migrate
from telediag.store.postgresql_records import COPY_TYPES, Partition, record_partitions
from telediag.store.postgresql_sql import UnsupportedStatement, translate
from telediag.store.reader import Reader
from telediag.store.retention import DAY_S, Dropped, drop_expired_partitions
from telediag.store.rows import ROW_COLUMNS, record_row
from telediag.store.schema import StoreTooNew
from telediag.store.sqlite import SQLiteDatabase, connect
from telediag.store.writer import ConnectionChange, IngestError, RecordBatch, Registration, Store
from tests import postgres_server
from tests.postgres_server import PostgresMissing, PostgresServer, fresh_database, server

IMEI = "356307042441013"
OTHER = "862104051234567"
NOW = 1_780_000_000.0  # 2026-05-28
LATEST = MIGRATIONS[-1].version


@pytest.fixture()
def dsn() -> str:
    """A new empty database on this process's test server."""
    return fresh_database()


def sample(fix_time: float | None, **overrides: Any) -> Record:
    values: dict[str, Any] = dict(
        imei=IMEI, protocol="teltonika", fix_time=fix_time, valid=True, lat=54.6872, lon=25.2797,
        altitude_m=112.0, speed_kmh=57.0, course_deg=270.0, satellites=11, hdop=0.9, ignition=True, motion=True,
        ext_voltage_v=13.912, battery_voltage_v=4.05, gsm_signal_pct=80, operator=24602, roaming=False,
        odometer_m=123456.0, event=None, attributes={"io66": 13912},
    )
    values.update(overrides)
    return Record(**values)


def partition_rows(db: Any) -> dict[str, int]:
    """Rows per partition of ``records``."""
    return dict(db.execute("SELECT tableoid::regclass::text, count(*) FROM records GROUP BY 1").fetchall())


# -- the SQL translation (no server) ---------------------------------------------------------------


def test_qmark_parameters_and_percent_signs_outside_literals() -> None:
    statement = translate("SELECT 'a?%', \"b?\" FROM t WHERE x = ? AND y LIKE ? -- what?\n AND z = ?")
    assert statement.text == "SELECT 'a?%%', \"b?\" FROM t WHERE x = %s AND y ILIKE %s -- what?\n AND z = %s"
    assert statement.query == statement.text.encode() and not statement.changes
    assert translate("SELECT 'it''s ?' , ?").text == "SELECT 'it''s ?' , %s"
    assert translate("SELECT x % 2 FROM t").text == "SELECT x %% 2 FROM t"
    assert translate("SELECT 1 WHERE name NOT LIKE 'LIKE' AND unlike = 1").text == (
        "SELECT 1 WHERE name NOT ILIKE 'LIKE' AND unlike = 1")


def test_sqlite_statements_become_postgresql_ones() -> None:
    assert translate("BEGIN IMMEDIATE").text == "BEGIN"
    assert translate("  begin deferred transaction;").text == "BEGIN"
    assert translate("BEGIN").text == "BEGIN"
    ignore = translate("INSERT OR IGNORE INTO devices (imei, source) VALUES (?, ?);")
    assert ignore.text == "INSERT INTO devices (imei, source) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    assert ignore.changes
    returning = translate("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING id")
    assert returning.text == "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id"
    assert translate("UPDATE t SET a = 'RETURNING'").changes and translate("delete from t").changes


def test_pragma_and_replace_are_refused_with_a_reason() -> None:
    with pytest.raises(UnsupportedStatement, match="PRAGMA is SQLite's own"):
        translate("PRAGMA user_version")
    with pytest.raises(UnsupportedStatement, match="ON CONFLICT DO UPDATE instead of REPLACE"):
        translate("INSERT OR REPLACE INTO t (a) VALUES (?)")


def test_many_rows_of_a_values_insert_have_a_bulk_form() -> None:
    bulk = translate("INSERT INTO device_state AS s (imei, last_seen) VALUES (?, ?)\n"
                     "ON CONFLICT (imei) DO UPDATE SET last_seen = excluded.last_seen").bulk
    assert bulk is not None
    assert bulk.copy == f"COPY {bulk.staging} (imei, last_seen) FROM STDIN"
    assert bulk.move == (f"INSERT INTO device_state AS s (imei, last_seen) SELECT imei, last_seen FROM {bulk.staging}"
                         "\nON CONFLICT (imei) DO UPDATE SET last_seen = excluded.last_seen")
    assert translate("INSERT INTO t (a, b) VALUES (?, 1)").bulk is None  # not one parameter per column
    assert translate("INSERT INTO t (a) VALUES (?) RETURNING id").bulk is None
    assert translate("INSERT INTO t (a) SELECT ?").bulk is None


def test_a_description_never_shows_the_password() -> None:
    assert describe_dsn("postgresql://telediag:s3cret@db.example:5433/fleet") == (
        "PostgreSQL database fleet on db.example:5433 as telediag")
    assert "s3cret" not in describe_dsn("host=db user=telediag password=s3cret dbname=fleet")
    assert "s3cret" not in repr(PostgresDatabase("postgresql://telediag:s3cret@db/fleet"))


def test_month_partitions() -> None:
    december = Partition.of_time(1_765_000_000.0)  # 2025-12-06
    assert december is not None and december.name == "records_y2025m12"
    assert (december.lower, december.upper) == (1_764_547_200.0, 1_767_225_600.0)  # 1 Dec 2025, 1 Jan 2026
    assert Partition.of_time(december.upper) == Partition.of_month(2026, 1)
    assert Partition.of_time(946_684_799.0) is None and Partition.of_time(4_102_444_800.0) is None
    assert Partition.of_name("records_y2025m12") == december and Partition.of_name("records_default") is None


# -- the test server ------------------------------------------------------------------------------


def test_the_test_server_runs_unprivileged_on_loopback_and_copies_a_migrated_template() -> None:
    import psutil

    running = server()
    assert running.process is not None and psutil.Process(running.process.pid).username() != "root"
    migrated, empty = fresh_database(migrated=True), fresh_database()
    assert migrated.startswith("postgresql://postgres@127.0.0.1:")
    db = PostgresDatabase(migrated)
    assert db.exists() and not PostgresDatabase(empty).exists()
    connection = db.connect()
    assert db.schema_version(connection) == LATEST
    assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_the_test_server_names_make_servers_when_postgresql_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setattr(postgres_server, "BIN_DIR", tmp_path)
    with pytest.raises(PostgresMissing, match="run `make servers`"):
        PostgresServer()


# -- schema ----------------------------------------------------------------------------------------


def test_the_schema_has_the_tables_and_columns_of_sqlite(dsn: str, tmp_path: Path) -> None:
    database = PostgresDatabase(dsn)
    assert not database.exists()
    db = database.connect()
    assert database.exists() and database.schema_version(db) == LATEST
    lite = connect(tmp_path / "telediag.sqlite3")
    # SQLite's full-text indexes (FTS5 virtual tables and their shadow tables) are PostgreSQL GIN indexes
    virtual = [name for (name,) in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")]
    expected = {
        table: [row[1] for row in lite.execute(f"PRAGMA table_info({table})")]
        for (table,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not any(table == name or table.startswith(name + "_") for name in virtual)
    }
    columns = db.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name IN (SELECT tablename FROM pg_tables WHERE schemaname = 'public') "
        "AND table_name NOT LIKE 'records_%' AND table_name <> 'schema_version' ORDER BY table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in columns:
        found.setdefault(table, []).append(column)
    found["records"] = [c for (c,) in db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'records' ORDER BY ordinal_position")]
    assert found == expected
    types = dict(db.execute("SELECT column_name, udt_name FROM information_schema.columns "
                            "WHERE table_name = 'records'").fetchall())
    assert COPY_TYPES == tuple(types[name] for name in ROW_COLUMNS)
    assert database.size_bytes() > 0
    db.close()


def test_scripts_run_once_even_when_two_processes_open_the_store_at_once(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    start = threading.Barrier(4)
    versions: list[int] = []
    failures: list[BaseException] = []

    def open_store() -> None:
        db = database._open()
        try:
            start.wait()
            versions.append(migrate(db))
        except BaseException as error:
            failures.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and versions == [LATEST] * 4
    db = database.connect()
    assert db.execute("SELECT count(*), max(version) FROM schema_version").fetchone() == (1, LATEST)
    assert migrate(db) == LATEST


def test_a_store_from_a_newer_telediag_is_refused_untouched(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    db = database.connect()
    db.execute("UPDATE schema_version SET version = ?", (LATEST + 1,))
    with pytest.raises(StoreTooNew, match=f"schema version {LATEST + 1}, newer than this telediag knows"):
        database.connect()
    assert database.schema_version(db) == LATEST + 1


def test_a_reader_needs_the_schema_and_cannot_write(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    with pytest.raises(FileNotFoundError, match="run `telediag serve` first"):
        Reader(database)
    Store(database).close()
    reader = Reader(database)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.connection.execute("DELETE FROM records")
    reader.close()


# -- the connection adapter ------------------------------------------------------------------------


def test_values_come_back_as_sqlite_gives_them(dsn: str) -> None:
    db = PostgresDatabase(dsn).connect()
    changes = db.total_changes
    db.execute("INSERT INTO accounts (name, vip) VALUES (?, ?)", ("acme", True))
    assert db.execute("SELECT vip, CASE WHEN ? THEN 'yes' END FROM accounts", (True,)).fetchone() == (1, "yes")
    db.executemany("INSERT INTO export_cursors (name, last_id) VALUES (?, ?)", [("a", 2**40), ("b", 3)])
    row = db.execute("SELECT sum(last_id), avg(last_id), count(*) FROM export_cursors").fetchone()
    assert row == (2**40 + 3, (2**40 + 3) / 2, 2) and [type(v) for v in row] == [int, float, int]
    assert db.execute("SELECT name FROM accounts WHERE name LIKE 'AC%'").fetchall() == [("acme",)]
    assert db.total_changes - changes == 3


def test_many_rows_are_copied_and_a_key_met_twice_goes_row_by_row(dsn: str) -> None:
    db = PostgresDatabase(dsn).connect()
    upsert = ("INSERT INTO device_evidence AS e (imei, name, value, at) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (imei, name) DO UPDATE SET value = excluded.value, at = excluded.at")
    rows = [(f"{n:015d}", "apn", None if n % 2 else "internet", float(n)) for n in range(40)]
    assert db.executemany(upsert, rows).rowcount == 40
    twice = [(IMEI, "apn", "first", 1.0), *rows[:20], (IMEI, "apn", "second", 2.0)]
    db.executemany(upsert, twice)  # one statement cannot update a row twice: the rows go one by one
    assert db.execute("SELECT value, at FROM device_evidence WHERE imei = ?", (IMEI,)).fetchone() == ("second", 2.0)
    assert db.execute("SELECT count(*), count(value) FROM device_evidence").fetchone() == (41, 21)
    assert not db.in_transaction


def test_transaction_rolls_back_on_an_error(dsn: str) -> None:
    db = PostgresDatabase(dsn).connect()
    with pytest.raises(RuntimeError), transaction(db) as tx:
        tx.execute("INSERT INTO accounts (name) VALUES ('acme')")
        assert db.in_transaction
        raise RuntimeError("abandon")
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM accounts").fetchone() == (0,)
    with transaction(db) as tx:
        tx.execute("INSERT INTO accounts (name) VALUES ('acme')")
    with db:
        db.execute("BEGIN")
        db.execute("INSERT INTO accounts (name) VALUES ('initech')")
    assert db.execute("SELECT count(*) FROM accounts").fetchone() == (2,)


# -- records ---------------------------------------------------------------------------------------


def test_batches_land_in_month_partitions_and_duplicates_are_dropped(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    store = Store(database)
    may, june, untimed, ancient = sample(NOW - 40 * DAY_S), sample(NOW + 5 * DAY_S), sample(None), sample(1e8)
    assert store.commit([RecordBatch(IMEI, "teltonika", [may, june, untimed, ancient, may], NOW)]) == 4
    assert store.commit([RecordBatch(IMEI, "teltonika", [june, sample(NOW + 5 * DAY_S, lat=1.0)], NOW + 1)]) == 1
    assert store.commit([RecordBatch(IMEI, "teltonika", [sample(NOW)], NOW + 2)]) == 1
    db = database.connect()
    assert [p.name for p in record_partitions(db)] == ["records_y2026m04", "records_y2026m05", "records_y2026m06"]
    assert partition_rows(db) == {"records_y2026m04": 1, "records_y2026m05": 1, "records_y2026m06": 2,
                                  "records_default": 2}
    ids = [i for (i,) in db.execute("SELECT id FROM records ORDER BY id")]
    assert len(ids) == 6 and ids == sorted(set(ids))
    store.close()


def test_concurrent_writers_store_each_record_once(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    stores = [Store(database), Store(PostgresDatabase(dsn))]
    batches = [RecordBatch(IMEI, "teltonika", [sample(NOW - n * 60.0 * DAY_S / 50) for n in range(k, k + 60)], NOW)
               for k in range(0, 40, 10)]
    start = threading.Barrier(2)
    counts: list[int] = []

    def write(store: Store) -> None:
        start.wait()
        counts.extend(store.commit([batch]) for batch in batches)

    threads = [threading.Thread(target=write, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 90  # fix times 0..89: the batches overlap
    assert Reader(database).count_records() == 90
    for store in stores:
        store.close()


def test_a_month_written_into_the_default_by_hand_moves_into_its_new_partition(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    db = database.connect()
    db.execute("INSERT INTO records (imei, protocol, fix_time, server_time, digest) VALUES (?, 'teltonika', ?, ?, ?)",
               (IMEI, NOW, NOW, b"by hand"))
    assert partition_rows(db) == {"records_default": 1}
    Store(database).commit([RecordBatch(IMEI, "teltonika", [sample(NOW + 60)], NOW + 60)])
    assert partition_rows(db) == {"records_y2026m05": 2}


def test_readings_equal_those_of_sqlite_for_the_same_batches(dsn: str, tmp_path: Path) -> None:
    batches = [
        Registration(IMEI, "teltonika", NOW - 100, "auto"),
        ConnectionChange(IMEI, "teltonika", True, "127.0.0.1:4000", NOW - 90),
        RecordBatch(IMEI, "teltonika", [sample(NOW - 80.5), sample(NOW - 70, ignition=None, attributes={}),
                                        sample(None, valid=False, attributes={"raw_fix_time": 9e18}),
                                        sample(NOW - 60, event="alarm", attributes={"io1": 1, "text": "ä ☃ %?"})],
                    NOW - 50),
        RecordBatch(OTHER, "gt06", [sample(NOW - 40, imei=OTHER, protocol="gt06", satellites=None, lat=-33.9)],
                    NOW - 30),
        IngestError(IMEI, "teltonika", "127.0.0.1:4000", NOW - 20, "CRC mismatch", "00ff"),
        ConnectionChange(IMEI, "teltonika", False, "127.0.0.1:4000", NOW - 10),
    ]
    databases = [SQLiteDatabase(tmp_path / "telediag.sqlite3"), PostgresDatabase(dsn)]
    readings = []
    for database in databases:
        store = Store(database)
        assert store.commit(batches) == 5
        assert store.commit(batches[2:4]) == 1  # the untimed one: NULL is no key (on both backends)
        store.close()
        reader = Reader(database)
        readings.append((
            [list(reader.records(imei)) for imei in (IMEI, OTHER)],
            list(reader.records(IMEI, since=NOW - 75, until=NOW - 55)),
            [reader.device_state(imei) for imei in (IMEI, OTHER)],
            reader.count_records(), reader.count_records(OTHER),
            reader.connection.execute("SELECT imei, protocol, message, excerpt FROM ingest_errors").fetchall(),
        ))
        reader.close()
    assert readings[0] == readings[1]
    assert [r["fix_time"] is None for r in readings[0][0][0]] == [False, False, False, True, True]


def test_sqlite_and_postgresql_errors_share_their_classes(dsn: str) -> None:
    from telediag.store.database import INTEGRITY_ERRORS

    db = PostgresDatabase(dsn).connect()
    db.execute("INSERT INTO accounts (name) VALUES ('acme')")
    with pytest.raises(INTEGRITY_ERRORS):
        db.execute("INSERT INTO accounts (name) VALUES ('acme')")
    assert issubclass(sqlite3.IntegrityError, INTEGRITY_ERRORS)


# -- retention -------------------------------------------------------------------------------------


def test_retention_drops_old_months_whole_and_old_rows_elsewhere(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    store = Store(database)

    def received(age_days: float, *records: Record) -> None:
        store.commit([RecordBatch(IMEI, "teltonika", list(records), NOW - age_days * DAY_S)])

    received(100, sample(NOW - 100 * DAY_S), sample(NOW - 99 * DAY_S))  # February: goes whole
    received(70, sample(NOW - 70 * DAY_S))  # March: received 70 days ago, but ...
    received(5, sample(NOW - 69 * DAY_S))  # ... a backlog of March arrived 5 days ago: March stays
    received(90, sample(None))  # no time: the default partition, in batches
    received(3, sample(None, lat=1.0))
    received(20, sample(NOW - 20 * DAY_S))  # May: young
    db = database.connect()
    assert drop_expired_partitions(db, NOW, 30, batch=1) == Dropped(records=4)
    assert [p.name for p in record_partitions(db)] == ["records_y2026m03", "records_y2026m05"]
    ages = sorted(round((NOW - t) / DAY_S) for (t,) in db.execute("SELECT server_time FROM records"))
    assert ages == [3, 5, 20]
    assert drop_expired_partitions(db, NOW, 30) == Dropped()
    assert drop_expired_partitions(db, NOW + 30 * DAY_S, 30) == Dropped(records=2)  # March whole, one untimed
    assert [p.name for p in record_partitions(db)] == ["records_y2026m05"]
    store.close()


def test_retention_keeps_what_the_export_has_not_sent_and_ingest_errors_go_too(dsn: str) -> None:
    database = PostgresDatabase(dsn)
    store = Store(database)
    store.commit([RecordBatch(IMEI, "teltonika", [sample(NOW - 100 * DAY_S)], NOW - 100 * DAY_S),
                  IngestError(IMEI, "teltonika", None, NOW - 90 * DAY_S, "bad CRC", "00")])
    store.commit([RecordBatch(IMEI, "teltonika", [sample(NOW - 99 * DAY_S), sample(None)], NOW - 99 * DAY_S),
                  IngestError(IMEI, "teltonika", None, NOW - 1, "bad CRC", "00")])
    db = database.connect()
    first = db.execute("SELECT min(id) FROM records").fetchone()[0]
    assert drop_expired_partitions(db, NOW, 30, keep_after_id=first) == Dropped(records=1, ingest_errors=1)
    assert partition_rows(db) == {"records_y2026m02": 1, "records_default": 1}
    assert drop_expired_partitions(db, NOW, 30, keep_after_id=first + 10) == Dropped(records=2)
    assert partition_rows(db) == {} and db.execute("SELECT count(*) FROM ingest_errors").fetchone() == (1,)
    assert drop_expired_partitions(db, NOW, 0) == Dropped()
    store.close()


def test_the_settled_record_id_waits_for_a_writer_that_drew_lower_ids(dsn: str) -> None:
    """Writer A draws ids and has not committed; writer B commits higher ids: a reader following ids
    must not pass A's rows, so the settled id is known only once A has committed."""
    database = PostgresDatabase(dsn)
    slow, fast = Store(database), Store(PostgresDatabase(dsn))
    assert fast.commit([RecordBatch(IMEI, "teltonika", [sample(NOW - 120.0)], NOW)]) == 1  # the month's partition
    slow_db = slow._db
    with transaction(slow_db, "BEGIN"):
        database.insert_records(slow_db, [record_row(IMEI, sample(NOW - 3600.0), NOW)])
        assert fast.commit([RecordBatch(IMEI, "teltonika", [sample(NOW - 60.0)], NOW)]) == 1
        settled: list[int] = []
        reader = threading.Thread(target=lambda: settled.append(database.settled_record_id(database.connect())))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and not settled  # held back while A's rows are not visible
    reader.join(10.0)
    ids = [i for (i,) in database.connect().execute("SELECT id FROM records ORDER BY id")]
    assert settled == [max(ids)] and len(ids) == 3
    slow.close()
    fast.close()


def test_the_settled_record_id_of_sqlite_is_its_newest(tmp_path: Path) -> None:
    database = SQLiteDatabase(tmp_path / "s.sqlite3")
    store = Store(database)
    db = database.connect()
    assert database.settled_record_id(db) == 0
    store.commit([RecordBatch(IMEI, "teltonika", [sample(NOW), sample(NOW + 1.0)], NOW)])
    assert database.settled_record_id(db) == db.execute("SELECT max(id) FROM records").fetchone()[0]
    store.close()
