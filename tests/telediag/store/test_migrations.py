"""Schema migrations: numbered SQL scripts per backend, each run whole in its own transaction."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from telediag.store.schema import MIGRATIONS_ROOT, StoreTooNew, load_migrations, script_statements
from telediag.store.sqlite import MIGRATIONS, connect, migrate

pytestmark = pytest.mark.sqlite_only  # PostgreSQL's scripts: tests/telediag/store/test_postgresql.py

LATEST = MIGRATIONS[-1].version


def _schema(db: sqlite3.Connection) -> list[tuple[str, str, str | None]]:
    return sorted(db.execute("SELECT type, name, sql FROM sqlite_master"))


def _version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def _scripts(folder: Path, **scripts: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in scripts.items():
        (folder / f"{name}.sql").write_text(text)
    return folder


def _memory() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", isolation_level=None)


def test_the_shipped_scripts_are_numbered_from_one_without_gaps_or_duplicates() -> None:
    names = sorted(entry.name for entry in (MIGRATIONS_ROOT / "sqlite").iterdir() if entry.name.endswith(".sql"))
    assert [int(name[:4]) for name in names] == list(range(1, len(names) + 1))
    assert all(re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", name) for name in names)
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1)) and LATEST == len(names)


def test_a_gap_a_duplicate_or_a_misnamed_script_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no script for version 2"):
        load_migrations(_scripts(tmp_path / "gap", **{"0001_a": "", "0003_c": ""}))
    with pytest.raises(ValueError, match="version 1 is also"):
        load_migrations(_scripts(tmp_path / "twice", **{"0001_a": "", "0001_b": ""}))
    with pytest.raises(ValueError, match="NNNN_lowercase_words"):
        load_migrations(_scripts(tmp_path / "name", **{"1_a": ""}))
    assert load_migrations(_scripts(tmp_path / "none")) == ()


def test_a_fresh_store_reaches_the_latest_version(tmp_path: Path) -> None:
    db = connect(tmp_path / "telediag.sqlite3")
    try:
        assert _version(db) == LATEST
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"records", "devices", "tickets", "export_cursors", "users", "web_sessions"} <= tables
    finally:
        db.close()
    again = connect(tmp_path / "telediag.sqlite3")  # at the latest version: nothing runs twice
    assert _version(again) == LATEST
    again.close()


def test_a_store_written_by_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "telediag.sqlite3"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {LATEST + 1}")
    raw.close()
    with pytest.raises(StoreTooNew, match=f"schema version {LATEST + 1}, newer than this telediag knows"):
        connect(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST + 1
    raw.close()


@pytest.mark.parametrize("older", range(1, LATEST))
def test_a_store_at_an_older_version_is_upgraded_with_its_rows(tmp_path: Path, older: int) -> None:
    path = tmp_path / "telediag.sqlite3"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:older]:
        db.executescript(migration.script)
    db.execute(f"PRAGMA user_version = {older}")
    db.execute("INSERT INTO devices (imei, protocol, registered_at, source) "
               "VALUES ('356307042441013', 'gt06', 1, 'test')")
    db.execute("INSERT INTO records (imei, protocol, fix_time, server_time, digest, lat, lon) "
               "VALUES ('356307042441013', 'gt06', 1.7e9, 1.7e9, x'00', 54.7, 25.3)")
    db.commit()
    db.close()

    upgraded = connect(path)
    fresh = connect(tmp_path / "fresh.sqlite3")
    try:
        assert _version(upgraded) == LATEST
        assert upgraded.execute("SELECT imei, protocol, source FROM devices").fetchall() == [
            ("356307042441013", "gt06", "test")]
        assert upgraded.execute("SELECT imei, lat, lon, valid, attributes FROM records").fetchall() == [
            ("356307042441013", 54.7, 25.3, None, "{}")]
        assert _schema(upgraded) == _schema(fresh)
    finally:
        upgraded.close()
        fresh.close()


def test_a_semicolon_inside_a_string_a_comment_or_a_trigger_does_not_end_a_statement(tmp_path: Path) -> None:
    folder = _scripts(tmp_path / "sqlite", **{"0001_semicolons": """
        -- a comment; with a semicolon
        CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL DEFAULT '{;}');
        /* a block comment; also with one */
        CREATE TABLE history (name TEXT, value TEXT);
        CREATE TRIGGER settings_history AFTER UPDATE ON settings BEGIN
            INSERT INTO history VALUES (old.name, old.value || ';');
            UPDATE history SET name = name WHERE name = ';';
        END;
        INSERT INTO settings (name) VALUES ('a;b'); INSERT INTO settings VALUES ('c', 'd;')
    """})
    db = _memory()
    assert migrate(db, load_migrations(folder)) == 1
    assert db.execute("SELECT name, value FROM settings ORDER BY name").fetchall() == [("a;b", "{;}"), ("c", "d;")]
    db.execute("UPDATE settings SET value = 'new' WHERE name = 'c'")
    assert db.execute("SELECT name, value FROM history").fetchall() == [("c", "d;;")]


def test_statements_are_cut_only_where_complete() -> None:
    script = "CREATE TABLE t (a TEXT DEFAULT ';'); -- x;\nINSERT INTO t VALUES ('1;2');\n-- trailing comment\n"
    assert [s.strip() for s in script_statements(script)] == [
        "CREATE TABLE t (a TEXT DEFAULT ';');", "-- x;\nINSERT INTO t VALUES ('1;2');", "-- trailing comment"]


def test_a_failing_script_leaves_the_store_at_the_version_before_it(tmp_path: Path) -> None:
    folder = _scripts(tmp_path / "sqlite", **{
        "0001_first": "CREATE TABLE first (a INTEGER); INSERT INTO first VALUES (1);",
        "0002_broken": "CREATE TABLE second (a INTEGER); UPDATE first SET a = 2; INSERT INTO missing VALUES (1);",
    })
    db = _memory()
    with pytest.raises(sqlite3.OperationalError, match="no such table: missing") as failure:
        migrate(db, load_migrations(folder))
    assert any("0002_broken.sql" in note for note in failure.value.__notes__)
    assert _version(db) == 1 and not db.in_transaction
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'second'").fetchall() == []
    assert db.execute("SELECT a FROM first").fetchall() == [(1,)]

    _scripts(folder, **{"0002_broken": "CREATE TABLE second (a INTEGER); UPDATE first SET a = 2;"})
    assert migrate(db, load_migrations(folder)) == 2
    assert db.execute("SELECT a FROM first").fetchall() == [(2,)]


def test_a_script_that_ends_its_own_transaction_is_refused(tmp_path: Path) -> None:
    folder = _scripts(tmp_path / "sqlite", **{"0001_commits": "CREATE TABLE t (a INTEGER); COMMIT;"})
    with pytest.raises(sqlite3.ProgrammingError, match="ended the transaction"):
        migrate(_memory(), load_migrations(folder))


def test_opening_an_up_to_date_store_does_not_wait_for_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "telediag.sqlite3"
    writer = connect(path)
    writer.execute("BEGIN IMMEDIATE")
    try:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        assert migrate(other) == LATEST
        other.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
