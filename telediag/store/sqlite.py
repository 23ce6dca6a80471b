"""The embedded store: one SQLite file in WAL mode under the data directory.

Writes happen on one writer thread in batches (see ``telediag.store.committer``); readers (CLI, API)
open their own connections, which WAL lets run beside the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from telediag.store.database import Dialect
from telediag.store.permissions import private_database
from telediag.store.rows import ROW_COLUMNS
from telediag.store.schema import MIGRATIONS_ROOT, Migration, StoreTooNew, load_migrations, script_statements

WRITER_CHECKPOINT_PAGES = 10_000
"""WAL pages (4 KiB) after which a commit of the ingest writer copies the WAL into the database.

Each commit with records of N devices dirties about N pages of the natural-key index (one per
device); a checkpoint writes every page once however often the WAL holds it, and ends with two
fsyncs. SQLite's default of 1000 pages checkpointed every few commits under load: 10,000 (a WAL of
up to 40 MiB) cuts the writes and fsyncs of checkpoints about tenfold. Durability is unchanged: a
commit is durable once in the WAL (``synchronous``), whenever the checkpoint comes.
"""

MIGRATIONS: tuple[Migration, ...] = load_migrations(MIGRATIONS_ROOT / "sqlite")
"""The SQLite schema; ``PRAGMA user_version`` holds the number of the last script a database has run."""

SQLITE = Dialect(name="sqlite", title="SQLite", json_text="json_extract({column}, '$.{key}')",
                 truncate_text="CAST({value} AS INTEGER)")


class SQLiteDatabase:
    """The store as one SQLite file (``[store] backend = "sqlite"``, the default)."""

    backend = "sqlite"
    dialect = SQLITE

    def __init__(self, path: Path, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous

    def connect(self, readonly: bool = False) -> sqlite3.Connection:
        return connect(self.path, self.synchronous, readonly)

    def connect_writer(self) -> sqlite3.Connection:
        db = connect(self.path, self.synchronous)
        db.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")
        return db

    def exists(self) -> bool:
        return self.path.exists()

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    def size_bytes(self) -> int | None:
        try:
            return sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                       if p.exists())
        except OSError:
            return None

    def insert_records(self, db: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> int:
        return insert_records(db, rows)

    def readable(self, db: sqlite3.Connection) -> None:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def schema_version(self, db: sqlite3.Connection) -> int:
        return _user_version(db)

    def settled_record_id(self, db: sqlite3.Connection) -> int:
        """SQLite's writers take turns under one lock and a row's id is assigned under it, so every id
        up to the newest visible one is settled."""
        newest: int | None = db.execute("SELECT max(id) FROM records").fetchone()[0]
        return newest or 0

    def __repr__(self) -> str:
        return f"SQLiteDatabase({str(self.path)!r})"


def connect(path: Path, synchronous: str = "NORMAL", readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with the schema migrated (read-only ones skip the migration)."""
    if readonly:
        if not path.exists():
            raise FileNotFoundError(f"no store at {path}; run `telediag serve` first or pass --data-dir")
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout = 5000")
        return connection
    private_database(path)
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    connection.execute("PRAGMA busy_timeout = 5000")
    migrate(connection)
    return connection


def migrate(connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Run the ``migrations`` this database has not run yet; returns its version afterwards.

    Each script runs whole in its own ``BEGIN IMMEDIATE`` transaction together with the new
    ``user_version``, so a script that fails leaves the database at the version before it. The
    version is read again under the write lock, so two processes opening one store at once do not
    both run a script. (``executescript`` is not used: it commits first and cannot run inside a
    transaction of the caller.)
    """
    by_version = {migration.version: migration for migration in migrations}
    version = _user_version(connection)
    known = max(by_version, default=0)
    if version > known:
        raise StoreTooNew(f"the store has schema version {version}, newer than this telediag knows ({known}); "
                          "run the telediag version that wrote it, or a newer one")
    while version + 1 in by_version:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _user_version(connection)
            migration = by_version.get(version + 1)
            if migration is not None:
                _run_script(connection, migration)
                connection.execute(f"PRAGMA user_version = {migration.version}")
                version = migration.version
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    return version


def _user_version(connection: sqlite3.Connection) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def _run_script(connection: sqlite3.Connection, migration: Migration) -> None:
    for statement in script_statements(migration.script):
        try:
            connection.execute(statement)
        except sqlite3.Error as error:
            error.add_note(f"in migration {migration.name}: {statement.strip()}")
            raise
        if not connection.in_transaction:
            raise sqlite3.ProgrammingError(
                f"migration {migration.name} ended the transaction it runs in: {statement.strip()}"
            )




INSERT_CHUNKS = (512, 64, 8, 1)
"""Rows per ``INSERT`` statement, largest first (512 rows x 23 columns stays under SQLite's default
limit of 32,766 parameters; sizes over the connection's own limit are skipped); a few fixed sizes
keep the prepared statements in the connection's cache."""


@lru_cache(maxsize=len(INSERT_CHUNKS))
def _insert_sql(rows: int) -> str:
    values = f"({', '.join('?' * len(ROW_COLUMNS))})"
    return f"INSERT OR IGNORE INTO records ({', '.join(ROW_COLUMNS)}) VALUES {', '.join([values] * rows)}"


def insert_records(db: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> int:
    """``INSERT OR IGNORE`` of :func:`record_row` rows, many rows per statement.

    ``executemany`` runs one ``sqlite3_step`` per row and gives the GIL up around each: with the
    reactor thread busy, every row then waits for the GIL again (commits of 132 rows beside a busy
    thread: 27 µs of wall time a row, 19 µs this way). One statement per 512/64/8 rows gives the GIL
    up once per chunk.
    A duplicate is ignored row by row; returns how many rows were inserted (``total_changes``).
    """
    before = db.total_changes
    at, total = 0, len(rows)
    most = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(ROW_COLUMNS)  # an older SQLite: 999
    for size in INSERT_CHUNKS:
        count = (total - at) // size
        if not count or size > most:
            continue
        if size == 1:
            db.executemany(_insert_sql(1), rows[at:])
        else:
            db.executemany(_insert_sql(size), [
                list(chain.from_iterable(rows[start : start + size]))
                for start in range(at, at + count * size, size)
            ])
        at += count * size
    return db.total_changes - before
