"""The embedded store: one SQLite file in WAL mode under the data directory.

Writes happen on one writer thread in batches (see ``telediag.store.committer``); readers (CLI, API)
open their own connections, which WAL lets run beside the writer.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

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

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        imei TEXT NOT NULL, protocol TEXT NOT NULL, fix_time REAL, server_time REAL NOT NULL,
        digest BLOB NOT NULL,
        valid INTEGER, lat REAL, lon REAL, altitude_m REAL, speed_kmh REAL, course_deg REAL,
        satellites INTEGER, hdop REAL, ignition INTEGER, motion INTEGER, ext_voltage_v REAL,
        battery_voltage_v REAL, gsm_signal_pct INTEGER, operator INTEGER, roaming INTEGER,
        odometer_m REAL, event TEXT, attributes TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX records_natural_key ON records (imei, fix_time, digest);
    CREATE TABLE devices (
        imei TEXT PRIMARY KEY, protocol TEXT, registered_at REAL NOT NULL, source TEXT NOT NULL
    );
    CREATE TABLE device_state (
        imei TEXT PRIMARY KEY, protocol TEXT, connected INTEGER NOT NULL DEFAULT 0, remote TEXT,
        first_seen REAL, last_seen REAL, last_connected_at REAL, last_disconnected_at REAL,
        last_fix_time REAL, last_lat REAL, last_lon REAL,
        protocol_errors INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_error_at REAL
    );
    CREATE TABLE ingest_errors (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, imei TEXT, protocol TEXT NOT NULL, remote TEXT,
        message TEXT NOT NULL, excerpt TEXT
    );
    """,
    """
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY, contact_name TEXT, email TEXT, phone TEXT,
        vip INTEGER NOT NULL DEFAULT 0, home_country TEXT,
        coverage TEXT CHECK (coverage IN ('domestic', 'eu', 'world'))
    );
    CREATE TABLE sim_profiles (
        iccid TEXT PRIMARY KEY, msisdn TEXT, apn TEXT, roaming_allowed INTEGER
    );
    ALTER TABLE devices ADD COLUMN account TEXT REFERENCES accounts (name);
    ALTER TABLE devices ADD COLUMN vehicle_plate TEXT;
    ALTER TABLE devices ADD COLUMN iccid TEXT REFERENCES sim_profiles (iccid);
    ALTER TABLE devices ADD COLUMN activated_at REAL;
    ALTER TABLE devices ADD COLUMN report_interval_s REAL;
    ALTER TABLE devices ADD COLUMN install_profile TEXT;
    CREATE INDEX devices_by_account ON devices (account);
    """,
    """
    CREATE TABLE connectivity_events (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, iccid TEXT, imei TEXT, type TEXT NOT NULL,
        cause INTEGER, apn TEXT, mcc INTEGER, mnc INTEGER, rat TEXT, received_at REAL NOT NULL,
        digest BLOB NOT NULL UNIQUE
    );
    CREATE INDEX connectivity_by_iccid ON connectivity_events (iccid, at);
    CREATE INDEX connectivity_by_imei ON connectivity_events (imei, at);
    """,
    """
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY, imei TEXT NOT NULL, code TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
        count INTEGER NOT NULL DEFAULT 1, evidence TEXT NOT NULL DEFAULT '{}', cleared_at REAL
    );
    CREATE UNIQUE INDEX findings_one_active ON findings (imei, code) WHERE active = 1;
    CREATE INDEX findings_by_code ON findings (code, active);
    CREATE TABLE device_evidence (
        imei TEXT NOT NULL, name TEXT NOT NULL, value TEXT, at REAL NOT NULL,
        PRIMARY KEY (imei, name)
    );
    """,
    """
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, role TEXT NOT NULL,
        account TEXT, label TEXT, created_at REAL NOT NULL, revoked_at REAL
    );
    """,
    """
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY, title TEXT NOT NULL, origin TEXT NOT NULL, category TEXT NOT NULL,
        topic TEXT NOT NULL, team TEXT NOT NULL, priority TEXT NOT NULL, state TEXT NOT NULL,
        account TEXT, problem TEXT, parent_id INTEGER REFERENCES tickets (id), description TEXT,
        language TEXT, created_by TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        first_response_due REAL, resolution_due REAL, first_response_at REAL, resolved_at REAL,
        closed_at REAL, paused_since REAL, paused_business_s REAL NOT NULL DEFAULT 0,
        breached TEXT NOT NULL DEFAULT '[]', rating TEXT, rating_reason TEXT,
        quality_flag INTEGER NOT NULL DEFAULT 0, correlation_key TEXT
    );
    CREATE INDEX tickets_by_problem ON tickets (problem, state);
    CREATE INDEX tickets_by_parent ON tickets (parent_id);
    CREATE INDEX tickets_by_account ON tickets (account, state);
    CREATE TABLE ticket_devices (
        ticket_id INTEGER NOT NULL REFERENCES tickets (id), imei TEXT NOT NULL,
        PRIMARY KEY (ticket_id, imei)
    );
    CREATE INDEX ticket_devices_by_imei ON ticket_devices (imei);
    CREATE TABLE ticket_findings (
        ticket_id INTEGER NOT NULL REFERENCES tickets (id), imei TEXT NOT NULL, code TEXT NOT NULL,
        first_seen REAL NOT NULL, last_seen REAL NOT NULL, count INTEGER NOT NULL,
        evidence TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (ticket_id, imei, code)
    );
    CREATE TABLE ticket_timeline (
        id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets (id), at REAL NOT NULL,
        kind TEXT NOT NULL, by TEXT NOT NULL, text TEXT NOT NULL
    );
    CREATE INDEX ticket_timeline_by_ticket ON ticket_timeline (ticket_id, id);
    CREATE TABLE webhook_outbox (
        id INTEGER PRIMARY KEY, event TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, delivered_at REAL,
        last_error TEXT
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, next_attempt_at);
    """,
    """
    CREATE TABLE export_cursors (
        name TEXT PRIMARY KEY, last_id INTEGER NOT NULL, updated_at REAL
    );
    """,
    # Plausibility (telediag.plausibility) for rows stored before it existed, with its default bounds:
    # an impossible fix time or position leaves its column for attributes, as new records do.
    """
    CREATE INDEX records_time_unknown ON records (imei, server_time) WHERE fix_time IS NULL;
    UPDATE records SET
        attributes = json_set(CASE WHEN json_valid(attributes) THEN attributes ELSE '{}' END,
                              '$.raw_fix_time', fix_time,
                              '$.invalid_reason', 'fix_time ' || fix_time || ' is not a plausible time'),
        fix_time = NULL, valid = 0
    WHERE fix_time IS NOT NULL
      AND NOT (fix_time BETWEEN 946684800 AND server_time + 86400);
    UPDATE records SET
        attributes = json_set(CASE WHEN json_valid(attributes) THEN attributes ELSE '{}' END,
                              '$.raw_lat', lat, '$.raw_lon', lon,
                              '$.invalid_reason', 'position ' || lat || ', ' || lon || ' is not on Earth'),
        lat = NULL, lon = NULL, valid = 0
    WHERE NOT (coalesce(lat, 0) BETWEEN -90 AND 90) OR NOT (coalesce(lon, 0) BETWEEN -180 AND 180);
    UPDATE device_state SET last_fix_time = NULL, last_lat = NULL, last_lon = NULL
    WHERE NOT (coalesce(last_fix_time, 946684800) BETWEEN 946684800 AND coalesce(last_seen, 0) + 86400)
       OR NOT (coalesce(last_lat, 0) BETWEEN -90 AND 90) OR NOT (coalesce(last_lon, 0) BETWEEN -180 AND 180)
    """,
    # The web console (telediag.web): people with passwords (scrypt, self-describing) and their
    # server-side sessions, kept only as the SHA-256 of the session token, like api_tokens.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY, username TEXT NOT NULL COLLATE NOCASE UNIQUE, role TEXT NOT NULL,
        account TEXT REFERENCES accounts (name), password_hash TEXT NOT NULL,
        created_at REAL NOT NULL, disabled_at REAL
    );
    CREATE TABLE web_sessions (
        id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users (id), csrf_token TEXT NOT NULL,
        created_at REAL NOT NULL, last_seen_at REAL NOT NULL
    );
    CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
    """,
)

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
    _migrate(connection)
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    """Apply the migrations this file has not seen yet, each in its own transaction."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


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
        db.execute("BEGIN")
        try:
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
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
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
        return dict(zip((d[0] for d in cursor.description), row))

    def count_records(self, imei: str | None = None) -> int:
        """How many records are stored (for one device, or in all)."""
        if imei is None:
            return self._db.execute("SELECT count(*) FROM records").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM records WHERE imei = ?", (imei,)).fetchone()[0]
