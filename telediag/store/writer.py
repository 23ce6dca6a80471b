"""Writer side of the store: the changes ingest produces, committed in batches by one writer.

The ingest writer is the only one writing records and device state (``telediag.store.committer``
runs it on its own thread); the same code serves both backends through :class:`Database`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.record import Record
from telediag.store.database import Database, transaction
from telediag.store.rows import record_row

MAX_STORED_ERRORS = 10_000
"""Protocol errors kept in ``ingest_errors``; older ones are trimmed so a noisy peer cannot fill the disk."""

_UPSERT_SEEN = """
INSERT INTO device_state AS s (imei, protocol, first_seen, last_seen, last_fix_time, last_lat, last_lon)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (imei) DO UPDATE SET
    protocol = excluded.protocol,
    first_seen = coalesce(s.first_seen, excluded.first_seen),
    last_seen = CASE WHEN excluded.last_seen > coalesce(s.last_seen, 0) THEN excluded.last_seen ELSE s.last_seen END,
    last_lat = CASE WHEN excluded.last_fix_time >= coalesce(s.last_fix_time, -1e18)
                    THEN excluded.last_lat ELSE s.last_lat END,
    last_lon = CASE WHEN excluded.last_fix_time >= coalesce(s.last_fix_time, -1e18)
                    THEN excluded.last_lon ELSE s.last_lon END,
    last_fix_time = CASE WHEN excluded.last_fix_time >= coalesce(s.last_fix_time, -1e18)
                         THEN excluded.last_fix_time ELSE s.last_fix_time END
"""

_UPSERT_CONNECTION = """
INSERT INTO device_state AS s (imei, protocol, connected, remote, first_seen, last_connected_at,
                               last_disconnected_at)
VALUES (?, ?, ?, ?, ?, CASE WHEN ? THEN ? END, CASE WHEN ? THEN NULL ELSE ? END)
ON CONFLICT (imei) DO UPDATE SET
    protocol = excluded.protocol, connected = excluded.connected, remote = excluded.remote,
    first_seen = coalesce(s.first_seen, excluded.first_seen),
    last_connected_at = coalesce(excluded.last_connected_at, s.last_connected_at),
    last_disconnected_at = coalesce(excluded.last_disconnected_at, s.last_disconnected_at)
"""

_UPSERT_ERROR = """
INSERT INTO device_state AS s (imei, protocol, protocol_errors, last_error, last_error_at)
VALUES (?, ?, 1, ?, ?)
ON CONFLICT (imei) DO UPDATE SET
    protocol_errors = s.protocol_errors + 1, last_error = excluded.last_error,
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


class Store:
    """Writer side of the store: batch commits, registry and device state."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._db = database.connect_writer()
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
        rows: list[list[Any]] = []
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
            inserted = self.database.insert_records(db, rows) if rows else 0
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
        (error_id,) = db.execute(
            "INSERT INTO ingest_errors (at, imei, protocol, remote, message, excerpt) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (error.at, error.imei, error.protocol, error.remote, error.message, error.excerpt),
        ).fetchone()
        if error_id % 1000 == 0:
            db.execute("DELETE FROM ingest_errors WHERE id <= ?", (error_id - MAX_STORED_ERRORS,))
        if error.imei is not None:
            db.execute(_UPSERT_ERROR, (error.imei, error.protocol, error.message, error.at))
