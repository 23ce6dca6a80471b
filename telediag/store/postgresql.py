"""The store for scale: one PostgreSQL database that every ingest worker and host writes to directly.

Code above the store writes one SQL dialect (qmark ``?`` parameters, SQLite's ``LIKE`` and ``INSERT OR
IGNORE``): :class:`PostgresConnection` wraps a psycopg 3 connection in autocommit mode so that it reads
like an ``sqlite3`` one, translating each statement text once (``telediag.store.postgresql_sql``).
Values come back as SQLite gives them: booleans are bound as 0/1 (flag columns are integers on both
backends) and ``numeric`` results (a ``sum`` of bigints, an ``avg``) load as int or float. Records are
partitioned by month and written with ``COPY`` (``telediag.store.postgresql_records``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg.adapt import Buffer, Dumper, Loader
from psycopg.pq import TransactionStatus

from telediag.store.database import Dialect, transaction
from telediag.store.postgresql_records import RecordPartitions, insert_records
from telediag.store.postgresql_sql import BulkInsert, translate
from telediag.store.schema import MIGRATIONS_ROOT, Migration, StoreTooNew, load_migrations, script_statements

MIGRATIONS: tuple[Migration, ...] = load_migrations(MIGRATIONS_ROOT / "postgresql")
"""The PostgreSQL schema; the one row of ``schema_version`` holds the number of the last script run."""

POSTGRESQL = Dialect(name="postgresql", title="PostgreSQL", json_text="(({column})::jsonb ->> '{key}')",
                     truncate_text="CAST(trunc({value}) AS BIGINT)")

MIGRATION_LOCK = 0x7465_6C65_6469_6167  # "telediag"
"""Advisory lock id held while a migration script runs: processes opening one store at once run each
script once."""

BULK_ROWS = 16
"""From this many rows on, ``executemany`` of an ``INSERT ... VALUES`` copies them (below, the staging
table costs more than it saves)."""


class PostgresDatabase:
    """The store as one PostgreSQL database (``[store] backend = "postgresql"``, ``dsn``)."""

    backend = "postgresql"
    dialect = POSTGRESQL

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.partitions = RecordPartitions()

    def connect(self, readonly: bool = False) -> PostgresConnection:
        if readonly:
            db = self._open("-c default_transaction_read_only=on")
            if not _has_schema(db):
                db.close()
                raise FileNotFoundError(f"no store in {self.describe()}; run `telediag serve` first")
            return db
        db = self._open()
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def connect_writer(self) -> PostgresConnection:
        return self.connect()

    def exists(self) -> bool:
        db = self._open()
        try:
            return _has_schema(db)
        finally:
            db.close()

    def describe(self) -> str:
        return describe_dsn(self.dsn)

    def size_bytes(self) -> int | None:
        try:
            db = self._open()
        except psycopg.Error:
            return None
        try:
            return int(_value(db, "SELECT pg_database_size(current_database())"))
        finally:
            db.close()

    def insert_records(self, db: PostgresConnection, rows: Sequence[Sequence[Any]]) -> int:
        self.partitions.ensure(db, (row[2] for row in rows))
        return insert_records(db, rows)

    def readable(self, db: PostgresConnection) -> None:
        db.execute("SELECT version FROM schema_version").fetchone()

    def schema_version(self, db: PostgresConnection) -> int:
        return _schema_version(db)

    def settled_record_id(self, db: PostgresConnection) -> int:
        """Writers commit concurrently and draw ids before they commit, so a lower id can become
        visible after a higher one. A SHARE lock waits until every transaction writing records has
        ended (and holds new ones back for one index lookup): the newest id then is settled."""
        with transaction(db, "BEGIN"):
            db.execute("LOCK TABLE records IN SHARE MODE")
            newest: int | None = _value(db, "SELECT max(id) FROM records")
        return newest or 0

    def _open(self, options: str = "") -> PostgresConnection:
        dsn = conninfo.make_conninfo(self.dsn, options=options) if options else self.dsn
        connection = psycopg.connect(dsn, autocommit=True)
        connection.adapters.register_dumper(bool, _BoolDumper)
        connection.adapters.register_loader("numeric", _NumericLoader)
        return PostgresConnection(connection)

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.describe()!r})"


def describe_dsn(dsn: str) -> str:
    """Where ``dsn`` points, for people: database, host, port and user, never the password."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "PostgreSQL (a dsn that does not parse)"
    where = str(params.get("host") or "the local socket")
    if params.get("port"):
        where += f":{params['port']}"
    user = f" as {params['user']}" if params.get("user") else ""
    return f"PostgreSQL database {params.get('dbname') or '(default)'} on {where}{user}"


class PostgresConnection:
    """A psycopg connection (autocommit) with the part of ``sqlite3.Connection`` telediag uses."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.total_changes = 0
        """Rows written by INSERT, UPDATE and DELETE over the connection's life, as in sqlite3."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        statement = translate(sql)
        cursor = self.connection.cursor()
        cursor.execute(statement.query, params)
        if statement.changes and cursor.rowcount > 0:
            self.total_changes += cursor.rowcount
        return cursor

    def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        """As sqlite3's. Many rows of an ``INSERT ... VALUES`` (device state at each flush, one row per
        device) go through ``COPY`` and one ``INSERT ... SELECT``: a third of the CPU of a statement
        per row. Should that refuse them (an ``ON CONFLICT DO UPDATE`` meeting one key twice, a value
        its column refuses in text), the statement per row decides, as with sqlite3."""
        statement = translate(sql)
        rows = seq_of_params if isinstance(seq_of_params, Sequence) else list(seq_of_params)
        cursor = self.connection.cursor()
        if statement.bulk is None or len(rows) < BULK_ROWS or not self._bulk(cursor, statement.bulk, rows):
            cursor.executemany(statement.query, rows)
        if statement.changes and cursor.rowcount > 0:
            self.total_changes += cursor.rowcount
        return cursor

    def _bulk(self, cursor: psycopg.Cursor[Any], bulk: BulkInsert, rows: Sequence[Sequence[Any]]) -> bool:
        try:
            with savepoint(self, "bulk_insert"):
                cursor.execute(bulk.create)
                cursor.execute(f"TRUNCATE {bulk.staging}")
                with cursor.copy(bulk.copy) as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(bulk.move)
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError):
            return False
        return True

    def cursor(self) -> psycopg.Cursor[Any]:
        """A plain psycopg cursor (PostgreSQL's own SQL with ``%s`` parameters, ``copy``)."""
        return self.connection.cursor()

    @property
    def in_transaction(self) -> bool:
        return self.connection.info.transaction_status != TransactionStatus.IDLE

    def commit(self) -> None:
        if self.in_transaction:
            self.connection.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.connection.execute("ROLLBACK")

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> PostgresConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """As ``with`` an sqlite3 connection: commit an open transaction, or roll it back on an error."""
        if kind is None:
            self.commit()
        else:
            self.rollback()


@contextmanager
def savepoint(db: PostgresConnection, name: str) -> Iterator[None]:
    """A part of the caller's transaction that can fail alone (or a transaction of its own)."""
    if not db.in_transaction:
        with transaction(db, "BEGIN"):
            yield
        return
    cursor = db.cursor()
    cursor.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
        cursor.execute(f"RELEASE SAVEPOINT {name}")
        raise
    cursor.execute(f"RELEASE SAVEPOINT {name}")


class _BoolDumper(Dumper):
    """``True``/``False`` as ``'1'``/``'0'`` of no declared type: an integer column or comparison takes
    it as 0/1, as SQLite stores it, and ``CASE WHEN ?`` as a boolean."""

    oid = 0

    def dump(self, obj: bool) -> Buffer:
        return b"1" if obj else b"0"


class _NumericLoader(Loader):
    """``numeric`` (a ``sum`` of bigints, an ``avg``) as the int or float SQLite would return."""

    def load(self, data: Buffer) -> int | float:
        text = bytes(data)
        return int(text) if text.lstrip(b"-").isdigit() else float(text)


def _value(db: PostgresConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The one value of a query that always returns one row."""
    row = db.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def _has_schema(db: PostgresConnection) -> bool:
    return bool(_value(db, "SELECT to_regclass('schema_version') IS NOT NULL"))


def _schema_version(db: PostgresConnection) -> int:
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(db: PostgresConnection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Run the ``migrations`` this database has not run yet; returns its version afterwards.

    Each script runs whole in its own transaction together with the new version, under an advisory
    lock: a second process opening the store at once waits, then finds the script done. A store
    newer than ``migrations`` is refused untouched (:class:`StoreTooNew`).
    """
    by_version = {migration.version: migration for migration in migrations}
    known = max(by_version, default=0)
    version = _schema_version(db) if _has_schema(db) else 0
    while True:
        if version > known:
            raise StoreTooNew(f"the store has schema version {version}, newer than this telediag knows ({known}); "
                              "run the telediag version that wrote it, or a newer one")
        if version + 1 not in by_version:
            return version
        with transaction(db, "BEGIN"):
            db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                       "one_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one_row), version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING")
            version = _schema_version(db)
            migration = by_version.get(version + 1)
            if migration is not None:
                _run_script(db, migration)
                db.execute("UPDATE schema_version SET version = ?", (migration.version,))
                version = migration.version


def _run_script(db: PostgresConnection, migration: Migration) -> None:
    cursor = db.cursor()
    for statement in script_statements(migration.script):
        try:
            cursor.execute(statement)
        except psycopg.Error as error:
            error.add_note(f"in migration {migration.name}: {statement.strip()}")
            raise
