"""Copy a SQLite store into an empty PostgreSQL database: every row with its id, all or nothing.

A fleet that outgrows the embedded store moves to PostgreSQL without losing anything: records,
registry, tickets, findings, users, tokens, the knowledge base, queued commands, and the positions of
everything that follows the store by id (the InfluxDB export's cursor, the diagnostics change feed's
watermarks in ``export_cursors``). Ids are kept, so those positions stay true, and every identity
sequence is moved past the highest copied id, so new rows carry on after the old ones.

The tables are the target schema's (what PostgreSQL's migration scripts define; a test holds them to
SQLite's). Derived data is not copied: SQLite's FTS5 index of the knowledge base is a GIN index on
PostgreSQL that fills as the articles land, and ``schema_version`` is the target's own. The registry
change log is filled by triggers, but it is copied as it was, ids and all (:data:`TRIGGER_FILLED`):
the diagnostics feed's watermark points into it. Tables are
copied parents first (foreign keys), each in batches of :data:`BATCH_ROWS` read with a cursor and
written with binary ``COPY``; records land in month partitions created as a batch needs one.

All of it is one PostgreSQL transaction: a copy that fails anywhere (a value PostgreSQL refuses, the
connection lost, Ctrl-C) leaves the target as empty as it was. Only the schema, created by the
store's own migrations before the copy starts when the database had none, stays; a new attempt
copies into it. The source is read in one SQLite read transaction, so the copy is one moment of it.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from telediag.store.database import transaction
from telediag.store.postgresql import MIGRATIONS as POSTGRESQL_MIGRATIONS
from telediag.store.postgresql import PostgresConnection, PostgresDatabase
from telediag.store.postgresql_records import Partition
from telediag.store.schema import StoreTooNew
from telediag.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from telediag.store.sqlite import connect as connect_sqlite

BATCH_ROWS = 10_000
"""Rows read from SQLite and copied to PostgreSQL at a time (a batch of records is a few MiB): memory
stays the same whatever the store's size."""

TRIGGER_FILLED: dict[str, tuple[str, ...]] = {"registry_changes": ("accounts", "devices", "sim_profiles")}
"""Tables that PostgreSQL's triggers write to while the tables named after them are copied. Such a
table is copied after those, its trigger-written rows removed first: the source's rows, with their
ids, are the true log (the diagnostics feed's watermark in ``export_cursors`` points into it)."""

SCHEMA_TABLE = "schema_version"
"""The target's own version row: not a store table."""

Progress = Callable[[str, int, int], None]
"""``progress(table, rows copied so far, rows of the table)``, after each batch (once for an empty table)."""


class TransferRefused(Exception):
    """The copy cannot start (a one-line reason); no row was written."""


class TransferFailed(Exception):
    """The copy failed part-way; its transaction was rolled back, the target holds no rows."""


@dataclass(frozen=True, slots=True)
class Table:
    """One store table as the target defines it."""

    name: str
    columns: tuple[str, ...]
    copy_types: tuple[str, ...]
    """Each column's type for a binary ``COPY`` (text-like types, ``citext`` too, as ``text``)."""
    identity: str | None
    """The column numbered by an identity sequence."""
    key: str | None
    """The primary key's column, when it has one column."""
    parents: frozenset[str]
    """Tables this one's foreign keys refer to (itself excluded)."""
    self_references: tuple[str, ...]
    """Columns referring to rows of this table (a ticket's parent): filled once all its rows are in."""


def open_source(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite store at ``path``, refused unless it is one at this
    telediag's schema version whose references all hold (PostgreSQL enforces them, SQLite does not)."""
    if not path.is_file():
        raise TransferRefused(f"no SQLite store at {path}; give the store's --data-dir or --config")
    db = connect_sqlite(path, readonly=True)
    try:
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise TransferRefused(f"{path} is not a SQLite store ({error})") from None
        latest = SQLITE_MIGRATIONS[-1].version
        if version < latest:
            raise TransferRefused(
                f"the SQLite store {path} is at schema version {version}, this telediag at {latest}: start "
                "`telediag serve` on it once with this version (it upgrades the store), stop it, then copy")
        if version > latest:
            raise TransferRefused(f"the SQLite store {path} has schema version {version}, newer than this "
                                  f"telediag knows ({latest}); copy it with the telediag version that wrote it")
        broken = db.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            table, rowid, parent, _ = broken[0]
            raise TransferRefused(
                f"the SQLite store has {len(broken)} row(s) referring to rows that do not exist (the first: "
                f"{table} row {rowid} refers to a missing {parent} row), which PostgreSQL refuses")
    except BaseException:
        db.close()
        raise
    return db


def source_tables(db: sqlite3.Connection) -> list[str]:
    """The store tables of a SQLite store, by name: every table but the full-text index (FTS5 virtual
    tables and their shadow tables), which PostgreSQL keeps as an index."""
    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")]
    virtual = [name for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")]
    return [t for t in tables if not any(t == v or t.startswith(v + "_") for v in virtual)]


def count_rows(db: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    """Rows of each of ``tables`` in the SQLite store."""
    return {table: int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]) for table in tables}


def check_target(database: PostgresDatabase) -> bool:
    """Refuse a target that cannot be reached, is newer than this telediag or holds any row; whether
    it has the store's schema already. Reads only."""
    try:
        has_schema = database.exists()
        if not has_schema:
            return False
        db = database.connect(readonly=True)
    except psycopg.Error as error:
        raise TransferRefused(f"cannot reach {database.describe()}: {_first_line(error)}") from None
    try:
        version = database.schema_version(db)
        latest = POSTGRESQL_MIGRATIONS[-1].version
        if version > latest:
            raise TransferRefused(f"{database.describe()} has schema version {version}, newer than this "
                                  f"telediag knows ({latest}); give an empty database")
        _refuse_rows(database, db)
    finally:
        db.close()
    return True


def target_tables(db: PostgresConnection) -> list[Table]:
    """The store tables of the target's schema, each after the tables it refers to (and after the tables
    whose triggers fill it, :data:`TRIGGER_FILLED`); ties by name."""
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, copy_type, identity in db.execute(
        "SELECT c.relname, a.attname, CASE WHEN t.typcategory = 'S' THEN 'text' ELSE t.typname END, "
        "a.attidentity <> '' FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
        "JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
        "AND NOT c.relispartition AND c.relname <> ? AND a.attnum > 0 AND NOT a.attisdropped "
        "AND a.attgenerated = '' ORDER BY c.relname, a.attnum", (SCHEMA_TABLE,),
    ).fetchall():
        columns.setdefault(table, []).append((column, copy_type, identity))
    keys: dict[str, list[str]] = {}
    for table, column in db.execute(
        "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
        "WHERE i.indisprimary AND c.relnamespace = current_schema()::regnamespace"
    ).fetchall():
        keys.setdefault(table, []).append(column)
    parents: dict[str, set[str]] = {table: set(TRIGGER_FILLED.get(table, ())) for table in columns}
    self_references: dict[str, list[str]] = {}
    for child, parent, column in db.execute(
        "SELECT child.relname, parent.relname, a.attname FROM pg_constraint f "
        "JOIN pg_class child ON child.oid = f.conrelid JOIN pg_class parent ON parent.oid = f.confrelid "
        "JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = f.conkey[1] "
        "WHERE f.contype = 'f' AND child.relnamespace = current_schema()::regnamespace ORDER BY a.attnum"
    ).fetchall():
        if child == parent:
            self_references.setdefault(child, []).append(column)
        elif child in parents:
            parents[child].add(parent)
    tables = {
        name: Table(
            name=name, columns=tuple(c for c, _, _ in found), copy_types=tuple(t for _, t, _ in found),
            identity=next((c for c, _, identity in found if identity), None),
            key=keys[name][0] if len(keys.get(name, ())) == 1 else None,
            parents=frozenset(parents[name] & columns.keys()), self_references=tuple(self_references.get(name, ())),
        )
        for name, found in columns.items()
    }
    return [tables[name] for name in _parents_first({name: t.parents for name, t in tables.items()})]


def copy_store(source: sqlite3.Connection, database: PostgresDatabase, progress: Progress,
               batch_rows: int = BATCH_ROWS) -> dict[str, int]:
    """Copy every store table of ``source`` (from :func:`open_source`) into the empty ``database``
    (checked by :func:`check_target`), in one transaction; returns the rows copied per table, in the
    order copied. The schema is created first when the database has none."""
    try:
        db = database.connect()
    except StoreTooNew as error:
        raise TransferRefused(str(error)) from None
    except psycopg.OperationalError as error:
        raise TransferRefused(f"cannot reach {database.describe()}: {_first_line(error)}") from None
    except psycopg.Error as error:  # a table of another application in the way of a schema script
        raise TransferRefused(f"cannot create the store's tables in {database.describe()}: "
                              f"{_first_line(error)}") from None
    try:
        tables = target_tables(db)
        _check_same_tables(source, tables)
        with _snapshot(source):
            counts = count_rows(source, [table.name for table in tables])
            copied: dict[str, int] = {}
            with transaction(db, "BEGIN"):
                db.execute(f"LOCK TABLE {', '.join(t.name for t in tables)} IN EXCLUSIVE MODE")
                _refuse_rows(database, db)
                for table in tables:
                    try:
                        copied[table.name] = _copy_table(source, database, db, table, counts[table.name],
                                                         batch_rows, progress)
                    except (psycopg.Error, TypeError, ValueError, OverflowError) as error:
                        raise TransferFailed(f"copying {table.name} failed ({_first_line(error)}); "
                                             f"{database.describe()} was left without rows") from error
                _check_counts(db, tables, counts)
                _move_sequences(db, tables)
        db.execute("ANALYZE")  # planner statistics for tables that went from nothing to millions of rows
    finally:
        db.close()
    return copied


def _copy_table(source: sqlite3.Connection, database: PostgresDatabase, db: PostgresConnection, table: Table,
                total: int, batch_rows: int, progress: Progress) -> int:
    """Stream one table from SQLite into PostgreSQL in batches; self-references are set afterwards.

    One ``COPY`` runs on over the batches, so PostgreSQL stores a batch while the next is read from
    SQLite (a third faster than a ``COPY`` per batch on two cores); it ends only where records need a
    month partition that does not exist yet (creating one is a statement of its own)."""
    if table.name in TRIGGER_FILLED:
        db.execute(f"DELETE FROM {table.name}")
    listed = ", ".join(table.columns)
    rows = source.execute(f'SELECT {listed} FROM "{table.name}"')
    fix_time = table.columns.index("fix_time") if table.name == "records" else None
    months: set[Partition] = set()
    deferred = [table.columns.index(column) for column in table.self_references]
    later: list[tuple[Any, ...]] = []
    cursor = db.cursor()
    copied = 0
    with ExitStack() as copying:
        copy: psycopg.Copy | None = None
        while batch := rows.fetchmany(batch_rows):
            if fix_time is not None:
                missing = _missing_months((row[fix_time] for row in batch), months)
                if missing:
                    copying.close()
                    copy = None
                    database.partitions.ensure(db, (month.lower for month in missing))
                    months |= missing
            if deferred:
                later.extend(_take_references(batch, deferred, table))
                batch = [tuple(None if i in deferred else value for i, value in enumerate(row)) for row in batch]
            if copy is None:
                copy = copying.enter_context(cursor.copy(f"COPY {table.name} ({listed}) FROM STDIN (FORMAT BINARY)"))
                copy.set_types(table.copy_types)
            for row in batch:
                copy.write_row(row)
            copied += len(batch)
            progress(table.name, copied, total)
    if copied == 0:
        progress(table.name, 0, total)
    for column in table.self_references:
        updates = [(value, key) for name, key, value in later if name == column]
        if updates:
            db.executemany(f"UPDATE {table.name} SET {column} = ? WHERE {table.key} = ?", updates)
    return copied


def _missing_months(fix_times: Iterator[float | None], known: set[Partition]) -> set[Partition]:
    """The month partitions ``fix_times`` land in that are not in ``known`` (rows come in id order, so
    mostly in the month of the row before: that one is checked first)."""
    missing: set[Partition] = set()
    last: Partition | None = None
    for fix_time in fix_times:
        if fix_time is None or (last is not None and last.lower <= fix_time < last.upper):
            continue
        last = Partition.of_time(fix_time)
        if last is not None and last not in known:
            missing.add(last)
    return missing


def _take_references(batch: list[Any], deferred: list[int], table: Table) -> Iterator[tuple[str, Any, Any]]:
    """``(column, key, value)`` of the self-references in ``batch`` that are set."""
    if table.key is None:
        raise TransferFailed(f"{table.name} refers to itself but has no one-column primary key to set it by")
    key = table.columns.index(table.key)
    for row in batch:
        for i in deferred:
            if row[i] is not None:
                yield table.columns[i], row[key], row[i]


def _check_same_tables(source: sqlite3.Connection, tables: list[Table]) -> None:
    """The two schemas of one version have the same tables and columns (a test holds the scripts to
    it); a difference here means a broken store, refused before anything is copied."""
    expected = set(source_tables(source))
    found = {table.name for table in tables}
    if expected != found:
        raise TransferRefused(f"the stores' tables differ (only in SQLite: {sorted(expected - found)}, "
                              f"only in PostgreSQL: {sorted(found - expected)})")
    for table in tables:
        present = {row[1] for row in source.execute(f'PRAGMA table_info("{table.name}")')}
        missing = [column for column in table.columns if column not in present]
        if missing:
            raise TransferRefused(f"the SQLite store's {table.name} has no column {', '.join(missing)}")


def _check_counts(db: PostgresConnection, tables: list[Table], counts: dict[str, int]) -> None:
    """Every table holds exactly the source's rows (a trigger writing into a table copied earlier would
    add some): otherwise nothing is kept."""
    for table in tables:
        found = _value(db, f"SELECT count(*) FROM {table.name}")
        if found != counts[table.name]:
            raise TransferFailed(f"{table.name} holds {found} rows after the copy, the SQLite store "
                                 f"{counts[table.name]}; nothing was kept")


def _move_sequences(db: PostgresConnection, tables: list[Table]) -> None:
    """Each identity sequence gives the next id after the highest copied one (1 for an empty table), as
    SQLite would have."""
    for table in tables:
        if table.identity is not None:
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{table.identity}'), "
                       f"coalesce(max({table.identity}), 0) + 1, false) FROM {table.name}").fetchone()


def _refuse_rows(database: PostgresDatabase, db: PostgresConnection) -> None:
    """Refuse the target when any of its tables holds a row."""
    names = [name for (name,) in db.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
        "AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> ? ORDER BY relname", (SCHEMA_TABLE,))]
    filled = [name for name in names if _value(db, f"SELECT EXISTS (SELECT 1 FROM {name})")]
    if filled:
        raise TransferRefused(f"{database.describe()} is not empty ({', '.join(filled[:3])}"
                              f"{' ...' if len(filled) > 3 else ''} hold rows); give an empty database")


def _parents_first(parents: dict[str, frozenset[str]]) -> list[str]:
    """Table names ordered so that each comes after its parents (ties by name)."""
    waiting = {name: set(found) for name, found in parents.items()}
    ready = [name for name, found in waiting.items() if not found]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for child, found in waiting.items():
            if name in found:
                found.discard(name)
                if not found:
                    heapq.heappush(ready, child)
    if len(order) != len(waiting):
        raise TransferFailed(f"the tables refer to each other in a cycle: {sorted(set(waiting) - set(order))}")
    return order


@contextmanager
def _snapshot(source: sqlite3.Connection) -> Iterator[None]:
    """One read transaction over the source: every table is read as of one moment."""
    source.execute("BEGIN")
    try:
        yield
    finally:
        source.execute("ROLLBACK")


def _value(db: PostgresConnection, sql: str) -> Any:
    """The one value of a query that always returns one row."""
    row = db.execute(sql).fetchone()
    assert row is not None, sql
    return row[0]


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
