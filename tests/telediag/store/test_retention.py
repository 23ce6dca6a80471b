"""Retention: on SQLite, old records and ingest errors go in bounded batches, recent ones, records the
InfluxDB export has not sent and everything else stay (``drop_expired``, the SQLite path: PostgreSQL
drops whole months, ``tests/telediag/store/test_postgresql.py``); the service runs on either store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from telediag.app import makeService
from telediag.config import Config, ConfigError, parse_config
from telediag.store.retention import DAY_S, Dropped, RetentionService, drop_batch, drop_expired
from tests.stores import database_at

NOW = 1_780_000_000.0


@pytest.fixture()
def db(tmp_path: Path) -> sqlite3.Connection:
    connection = database_at(tmp_path / "telediag.sqlite3").connect()
    yield connection
    connection.close()


def add_records(db: sqlite3.Connection, ages_days: list[float]) -> None:
    with db:
        db.executemany(
            "INSERT INTO records (imei, protocol, fix_time, server_time, digest) VALUES (?, ?, ?, ?, ?)",
            [("356307042441013", "teltonika", NOW - age * DAY_S, NOW - age * DAY_S, bytes([n % 256, n // 256]))
             for n, age in enumerate(ages_days)])


def add_errors(db: sqlite3.Connection, ages_days: list[float]) -> None:
    with db:
        db.executemany("INSERT INTO ingest_errors (at, protocol, message) VALUES (?, 'gt06', 'bad CRC')",
                       [(NOW - age * DAY_S,) for age in ages_days])


def ages(db: sqlite3.Connection, table: str, column: str) -> list[float]:
    return [round((NOW - at) / DAY_S, 3) for (at,) in db.execute(f"SELECT {column} FROM {table} ORDER BY id")]


@pytest.mark.sqlite_only
def test_old_rows_go_in_batches_and_recent_ones_stay(db: sqlite3.Connection) -> None:
    add_records(db, [40, 39, 35, 31, 30.5, 29, 10, 1, 0])
    add_errors(db, [90, 45, 2])
    with db:
        db.execute("INSERT INTO findings (imei, code, first_seen, last_seen, count, active, evidence) "
                   "VALUES ('356307042441013', 'DEVICE_SILENT', ?, ?, 1, 1, '{}')", (NOW - 60 * DAY_S, NOW))
    dropped = drop_expired(db, NOW, 30, batch=2)
    assert dropped == Dropped(records=5, ingest_errors=2)
    assert ages(db, "records", "server_time") == [29, 10, 1, 0]
    assert ages(db, "ingest_errors", "at") == [2]
    assert db.execute("SELECT count(*) FROM findings").fetchone()[0] == 1  # findings are kept
    assert drop_expired(db, NOW, 30, batch=2) == Dropped()


@pytest.mark.sqlite_only
def test_zero_days_keeps_everything(db: sqlite3.Connection) -> None:
    add_records(db, [4000, 1])
    assert drop_expired(db, NOW, 0) == Dropped()
    assert len(ages(db, "records", "server_time")) == 2


@pytest.mark.sqlite_only
def test_records_not_yet_exported_stay(db: sqlite3.Connection) -> None:
    add_records(db, [50, 49, 48, 47])
    first_two = db.execute("SELECT id FROM records ORDER BY id LIMIT 2").fetchall()[-1][0]
    assert drop_expired(db, NOW, 30, keep_after_id=first_two, batch=10) == Dropped(records=2)
    assert ages(db, "records", "server_time") == [48, 47]


@pytest.mark.sqlite_only
def test_a_batch_looks_only_at_the_lowest_ids(db: sqlite3.Connection) -> None:
    """Nothing past the lowest ids is read; young rows among them (a clock that jumped back) hold the old
    ones behind them only while they fill a whole batch."""
    add_records(db, [40, 5, 40, 40, 3, 40])
    assert drop_batch(db, "records", "server_time", NOW - 30 * DAY_S, 2) == (1, True)
    assert ages(db, "records", "server_time") == [5, 40, 40, 3, 40]
    assert drop_expired(db, NOW, 30, batch=2) == Dropped(records=2)
    assert ages(db, "records", "server_time") == [5, 3, 40]  # two young rows fill the batch of two
    assert drop_expired(db, NOW, 30, batch=3) == Dropped(records=1)
    assert ages(db, "records", "server_time") == [5, 3]
    with pytest.raises(ValueError):
        drop_batch(db, "findings", "first_seen", NOW, 2)


def test_the_service_runs_against_the_store_file(tmp_path: Path) -> None:
    config = parse_config({"store": {"data_dir": str(tmp_path), "retention_days": 7}})
    db = database_at(config.database_path).connect()
    add_records(db, [8, 6])
    db.close()

    class Clock:
        @staticmethod
        def seconds() -> float:
            return NOW

    service = RetentionService(config.store, database_at(config.database_path), Clock(), exporting=False)
    assert service._run(NOW) == Dropped(records=1)
    assert service.step == config.store.retention_check_s


def test_retention_settings_are_checked_and_wired() -> None:
    assert Config().store.retention_days == 0
    elected = makeService(parse_config({"store": {"retention_days": 30}})).getServiceNamed("elected")
    assert [child.name for child in elected][0] == "retention"  # first of the once-per-deployment work
    assert "retention" not in [child.name for child in makeService(Config()).getServiceNamed("elected")]
    with pytest.raises(ConfigError, match="retention_days"):
        parse_config({"store": {"retention_days": -1}})
