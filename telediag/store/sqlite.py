"""The embedded store: one SQLite file in WAL mode under the data directory.

Writes happen on one writer thread in batches (see ``telediag.store.committer``); readers (CLI, API)
open their own connections, which WAL lets run beside the writer.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from protocols.record import Record
from telediag.store.permissions import private_database
from telediag.store.rows import ROW_COLUMNS, insert_records, normalised_records, record_row

WRITER_CHECKPOINT_PAGES = 10_000
"""WAL pages (4 KiB) after which a commit of the ingest writer copies the WAL into the database.

Each commit with records of N devices dirties about N pages of the natural-key index (one per
device); a checkpoint writes every page once however often the WAL holds it, and ends with two
fsyncs. SQLite's default of 1000 pages checkpointed every few commits under load: 10,000 (a WAL of
up to 40 MiB) cuts the writes and fsyncs of checkpoints about tenfold. Durability is unchanged: a
commit is durable once in the WAL (``synchronous``), whenever the checkpoint comes.
"""

MAX_STORED_ERRORS = 10_000
"""Protocol errors kept in ``ingest_errors``; older ones are trimmed so a noisy peer cannot fill the disk."""

MIGRATIONS_FOLDER: Traversable = files("telediag.store") / "migrations" / "sqlite"
"""The SQLite schema, one script per version: ``NNNN_what_it_does.sql``, numbered from 0001 without gaps.

``PRAGMA user_version`` holds the number of the last script a database has run; a script never
changes once released, a new one is added instead. Other backends get their own folder beside it.
"""

_SCRIPT_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: once ``script`` has run, the database is at ``version``."""

    version: int
    name: str
    script: str


def load_migrations(folder: Traversable = MIGRATIONS_FOLDER) -> tuple[Migration, ...]:
    """The ``.sql`` scripts of ``folder`` in order; a misnamed script, a gap or a duplicate number is refused."""
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _SCRIPT_NAME.fullmatch(entry.name)
        if match is None:
            raise ValueError(f"migration {entry.name}: the name is not NNNN_lowercase_words.sql")
        version = int(match[1])
        if version in found:
            raise ValueError(f"migration {entry.name}: version {version} is also {found[version].name}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    missing = sorted(set(range(1, len(found) + 1)) - found.keys())
    if missing:
        raise ValueError(f"migrations in {folder}: no script for version {missing[0]}")
    return tuple(found[version] for version in sorted(found))


MIGRATIONS: tuple[Migration, ...] = load_migrations()


def script_statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, each whole.

    A ";" ends a statement only where ``sqlite3.complete_statement`` says the text before it is
    complete, so one inside a string literal, a comment or a trigger's body does not.
    """
    start = 0
    end = script.find(";")
    while end != -1:
        if sqlite3.complete_statement(script[start : end + 1]):
            yield script[start : end + 1]
            start = end + 1
        end = script.find(";", end + 1)
    if script[start:].strip():
        yield script[start:]


_UPSERT_SEEN = """
INSERT INTO device_state (imei, protocol, first_seen, last_seen, last_fix_time, last_lat, last_lon)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (imei) DO UPDATE SET
    protocol = excluded.protocol,
    first_seen = coalesce(first_seen, excluded.first_seen),
    last_seen = max(coalesce(last_seen, 0), excluded.last_seen),
    last_lat = CASE WHEN excluded.last_fix_time >= coalesce(last_fix_time, -1e18)
                    THEN excluded.last_lat ELSE last_lat END,
    last_lon = CASE WHEN excluded.last_fix_time >= coalesce(last_fix_time, -1e18)
                    THEN excluded.last_lon ELSE last_lon END,
    last_fix_time = CASE WHEN excluded.last_fix_time >= coalesce(last_fix_time, -1e18)
                         THEN excluded.last_fix_time ELSE last_fix_time END
"""

_UPSERT_CONNECTION = """
INSERT INTO device_state (imei, protocol, connected, remote, first_seen, last_connected_at,
                          last_disconnected_at)
VALUES (?, ?, ?, ?, ?, CASE WHEN ? THEN ? END, CASE WHEN ? THEN NULL ELSE ? END)
ON CONFLICT (imei) DO UPDATE SET
    protocol = excluded.protocol, connected = excluded.connected, remote = excluded.remote,
    first_seen = coalesce(first_seen, excluded.first_seen),
    last_connected_at = coalesce(excluded.last_connected_at, last_connected_at),
    last_disconnected_at = coalesce(excluded.last_disconnected_at, last_disconnected_at)
"""

_UPSERT_ERROR = """
INSERT INTO device_state (imei, protocol, protocol_errors, last_error, last_error_at)
VALUES (?, ?, 1, ?, ?)
ON CONFLICT (imei) DO UPDATE SET
    protocol_errors = protocol_errors + 1, last_error = excluded.last_error,
    last_error_at = excluded.last_error_at
"""


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """Records from one device received at one moment."""

    imei: str
    protocol: str
    records: Sequence[Record]
    server_time: float


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """A device connected or went away."""

    imei: str
    protocol: str
    connected: bool
    remote: str | None
    at: float


@dataclass(frozen=True, slots=True)
class IngestError:
    """A frame that could not be decoded."""

    imei: str | None
    protocol: str
    remote: str | None
    at: float
    message: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class Registration:
    """A device added to the registry (automatically on first contact, or by hand)."""

    imei: str
    protocol: str | None
    at: float
    source: str


Change = RecordBatch | ConnectionChange | IngestError | Registration


def _merge_seen(seen: dict[str, list[Any]], batch: RecordBatch) -> None:
    """Fold a batch into ``seen[imei]`` = [protocol, first_seen, last_seen, fix_time, lat, lon]."""
    fix_time = lat = lon = None
    for record in batch.records:
        if record.valid and record.lat is not None and record.fix_time is not None:
            if fix_time is None or record.fix_time >= fix_time:
                fix_time, lat, lon = record.fix_time, record.lat, record.lon
    state = [batch.protocol, batch.server_time, batch.server_time, fix_time, lat, lon]
    known = seen.get(batch.imei)
    seen[batch.imei] = state if known is None else _merged(known, state)


def _merged(old: list[Any], new: list[Any]) -> list[Any]:
    """Two seen-states of one device combined: earliest first seen, latest last seen and fix."""
    merged = [new[0], min(old[1], new[1]), max(old[2], new[2]), *old[3:]]
    if new[3] is not None and (old[3] is None or new[3] >= old[3]):
        merged[3:] = new[3:]
    return merged


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


@contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """The store's one transaction: ``begin`` ... COMMIT, rolled back on any error (every connection is
    in autocommit mode, so nothing else opens one). IMMEDIATE takes the write lock at once, so a
    read-then-write never fails halfway on a lock another writer took meanwhile."""
    db.execute(begin)
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class StoreTooNew(Exception):
    """The store was written by a newer telediag: this version does not know its schema and must not
    write to it (an older writer could break what the newer one relies on)."""


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
    return connection.execute("PRAGMA user_version").fetchone()[0]


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


class Store:
    """Writer side of the store: batch commits, registry and device state."""

    def __init__(self, path: Path, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._db = connect(path, synchronous)
        self._db.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")
        self._seen: dict[str, list[Any]] = {}

    def close(self) -> None:
        """Write the pending device state, then close."""
        if self._seen:
            self.commit((), flush_state=True)
        self._db.close()

    def mark_all_disconnected(self, at: float) -> None:
        """After a restart no device is connected any more."""
        self._db.execute(
            "UPDATE device_state SET connected = 0, last_disconnected_at = ? WHERE connected = 1", (at,)
        )

    def registered_imeis(self) -> set[str]:
        """Every IMEI in the registry."""
        return {row[0] for row in self._db.execute("SELECT imei FROM devices")}

    def commit(self, changes: Iterable[Change], flush_state: bool = True) -> int:
        """Apply ``changes`` in one transaction; returns how many new records were stored.

        "Last seen" and "last fix" of each device are merged in memory and written only when
        ``flush_state`` is true (the committer asks about once a second, and at close): one row per
        device per commit would cost more than the records themselves.
        """
        db = self._db
        rows: list[tuple[Any, ...]] = []
        seen: dict[str, list[Any]] = {}
        with transaction(db, "BEGIN"):  # the only writer: no need to take the lock before the first write
            for change in changes:
                if isinstance(change, RecordBatch):
                    rows.extend(record_row(change.imei, r, change.server_time) for r in change.records)
                    _merge_seen(seen, change)
                elif isinstance(change, ConnectionChange):
                    self._apply_connection(change)
                elif isinstance(change, IngestError):
                    self._insert_error(change)
                else:
                    db.execute(
                        "INSERT OR IGNORE INTO devices (imei, protocol, registered_at, source) "
                        "VALUES (?, ?, ?, ?)",
                        (change.imei, change.protocol, change.at, change.source),
                    )
            before = db.total_changes
            if rows:
                insert_records(db, rows)
            inserted = db.total_changes - before
            pending = dict(self._seen)
            for imei, state in seen.items():
                known = pending.get(imei)
                pending[imei] = state if known is None else _merged(known, state)
            if flush_state and pending:
                db.executemany(_UPSERT_SEEN, [(imei, *state) for imei, state in pending.items()])
                pending = {}
        self._seen = pending
        return inserted

    def _apply_connection(self, change: ConnectionChange) -> None:
        c = change.connected
        self._db.execute(
            _UPSERT_CONNECTION,
            (change.imei, change.protocol, int(c), change.remote, change.at, c, change.at, c, change.at),
        )

    def _insert_error(self, error: IngestError) -> None:
        db = self._db
        cursor = db.execute(
            "INSERT INTO ingest_errors (at, imei, protocol, remote, message, excerpt) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (error.at, error.imei, error.protocol, error.remote, error.message, error.excerpt),
        )
        if cursor.lastrowid and cursor.lastrowid % 1000 == 0:
            db.execute("DELETE FROM ingest_errors WHERE id <= ?", (cursor.lastrowid - MAX_STORED_ERRORS,))
        if error.imei is not None:
            db.execute(_UPSERT_ERROR, (error.imei, error.protocol, error.message, error.at))


class Reader:
    """Read side of the store for the CLI and the API."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path, readonly=True)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The read-only connection, for read helpers of other rooms (registry, diagnostics)."""
        return self._db

    def records(
        self, imei: str, since: float | None = None, until: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Normalised records of one device, oldest fix first, within ``[since, until)``."""
        query = f"SELECT {', '.join(ROW_COLUMNS)} FROM records WHERE imei = ?"
        params: list[Any] = [imei]
        if since is not None:
            query += " AND coalesce(fix_time, server_time) >= ?"
            params.append(since)
        if until is not None:
            query += " AND coalesce(fix_time, server_time) < ?"
            params.append(until)
        query += " ORDER BY coalesce(fix_time, server_time), id"
        return normalised_records(self._db.execute(query, params), ROW_COLUMNS)

    def device_state(self, imei: str) -> dict[str, Any] | None:
        """The persisted state of one device, or None if it was never seen."""
        cursor = self._db.execute("SELECT * FROM device_state WHERE imei = ?", (imei,))
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip((d[0] for d in cursor.description), row, strict=True))

    def count_records(self, imei: str | None = None) -> int:
        """How many records are stored (for one device, or in all)."""
        if imei is None:
            return self._db.execute("SELECT count(*) FROM records").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM records WHERE imei = ?", (imei,)).fetchone()[0]
