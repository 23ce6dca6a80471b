"""The change feed: which devices' inputs changed in the store since the last look, on any node.

Connectivity events (posted to any node's API or imported by the CLI), registry changes (imports,
API edits, auto-registration: the ``registry_changes`` log its triggers fill), connections and
records committed by other nodes or by ingest workers all land in the shared store. The elected
node reads cheap watermarks once a second (``[diagnostics] change_poll_interval_s``): each read is
an index range past the last id or time seen, so an idle store costs a few index probes a poll.

The watermarks of connectivity events and of the registry log are kept in ``export_cursors``, so a
node elected after another (or after a restart) goes on where the last one stopped, and inputs stored
while no node was elected are still diagnosed; a store that never had a feed starts from its first
event. Records and connections start at the store's present: commits on this node are heard directly,
and the records of the time before are the sweep's.

Synchronous and clock-free: :meth:`ChangeFeed.poll` runs on the diagnostics thread with its
connection; the service decides when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from telediag.store.database import Connection, transaction

MAX_ROWS_PER_POLL = 20_000
"""Rows read from one source per poll; the rest follow at the next poll."""
CURSORS = ("diagnostics_events", "diagnostics_registry")
"""Names of the feed's rows in ``export_cursors``."""
CONNECTION_MARGIN_S = 5.0
"""Connection times are the ingest nodes' clocks and are written when their batch commits: a change
stamped slightly before the watermark is still read for this long."""


@dataclass
class Changes:
    """What one poll found: devices by the kind of input that changed."""

    events: set[str] = field(default_factory=set)
    """Devices (by IMEI) with new connectivity events."""
    registry: set[str] = field(default_factory=set)
    """Devices whose registry row, SIM profile or account changed."""
    connections: dict[str, float] = field(default_factory=dict)
    """Devices that connected or disconnected: when they last did."""
    records: dict[str, float] = field(default_factory=dict)
    """Devices with new records: the latest arrival (server time) among them."""

    @property
    def devices(self) -> set[str]:
        """Every device some input of which changed."""
        return self.events | self.registry | set(self.connections) | set(self.records)

    def __bool__(self) -> bool:
        return bool(self.events or self.registry or self.connections or self.records)


class ChangeFeed:
    """Watermarks over the store's inputs; :meth:`poll` returns what is new past them."""

    def __init__(self) -> None:
        self.started = False
        self.event_id = self.registry_id = self.record_id = 0
        self.connection_at = 0.0
        self._connections_seen: dict[str, float] = {}

    def start(self, db: Connection) -> None:
        """Resume events and registry changes where the last feed stopped; records and connections
        begin at the store's present."""
        kept = dict(db.execute(
            f"SELECT name, last_id FROM export_cursors WHERE name IN ({', '.join('?' * len(CURSORS))})", CURSORS
        ).fetchall())
        self.event_id, self.registry_id = (int(kept.get(name) or 0) for name in CURSORS)
        self.record_id = _max(db, "SELECT max(id) FROM records")
        at = db.execute(
            "SELECT max(last_connected_at), max(last_disconnected_at) FROM device_state"
        ).fetchone()
        self.connection_at = max((t for t in at if t is not None), default=0.0)
        self.started = True

    def poll(self, db: Connection) -> Changes:
        """The devices whose inputs changed since the last poll (or :meth:`start`)."""
        if not self.started:
            self.start(db)
        changes = Changes()
        marks = (self.event_id, self.registry_id)
        self._events(db, changes)
        self._registry(db, changes)
        self._connections(db, changes)
        self._records(db, changes)
        if (self.event_id, self.registry_id) != marks:
            self._keep(db)
        return changes

    def _keep(self, db: Connection) -> None:
        """Write the watermarks, and trim the registry log below its mark, in one transaction.

        The row at the mark stays: SQLite numbers a new row one past the highest id in the table, so an
        emptied log would give out ids again that lie below the mark, and they would never be read.
        """
        with transaction(db):
            for name, last_id in zip(CURSORS, (self.event_id, self.registry_id), strict=True):
                db.execute(
                    "INSERT INTO export_cursors (name, last_id) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id", (name, last_id),
                )
            db.execute("DELETE FROM registry_changes WHERE id < ?", (self.registry_id,))

    def _events(self, db: Connection, changes: Changes) -> None:
        rows = db.execute(
            "SELECT id, imei, iccid FROM connectivity_events WHERE id > ? ORDER BY id LIMIT ?",
            (self.event_id, MAX_ROWS_PER_POLL),
        ).fetchall()
        if not rows:
            return
        self.event_id = rows[-1][0]
        changes.events.update(imei for _, imei, _ in rows if imei)
        changes.events.update(_devices_of_sims(db, {iccid for _, imei, iccid in rows if iccid and not imei}))

    def _registry(self, db: Connection, changes: Changes) -> None:
        rows = db.execute(
            "SELECT id, imei, iccid, account FROM registry_changes WHERE id > ? ORDER BY id LIMIT ?",
            (self.registry_id, MAX_ROWS_PER_POLL),
        ).fetchall()
        if not rows:
            return
        self.registry_id = rows[-1][0]
        changes.registry.update(imei for _, imei, _, _ in rows if imei)
        changes.registry.update(_devices_of_sims(db, {iccid for _, _, iccid, _ in rows if iccid}))
        accounts = sorted({account for _, _, _, account in rows if account})
        for start in range(0, len(accounts), 500):
            part = accounts[start : start + 500]
            changes.registry.update(row[0] for row in db.execute(
                f"SELECT imei FROM devices WHERE account IN ({', '.join('?' * len(part))})", part))

    def _connections(self, db: Connection, changes: Changes) -> None:
        since = self.connection_at - CONNECTION_MARGIN_S
        rows = db.execute(
            "SELECT imei, last_connected_at FROM device_state WHERE last_connected_at > ? "
            "UNION ALL SELECT imei, last_disconnected_at FROM device_state WHERE last_disconnected_at > ?",
            (since, since),
        ).fetchall()
        seen = self._connections_seen
        for imei, at in rows:
            if seen.get(imei, -1.0) < at:
                seen[imei] = at
                changes.connections[imei] = at
            self.connection_at = max(self.connection_at, at)
        horizon = self.connection_at - CONNECTION_MARGIN_S
        for imei in [imei for imei, at in seen.items() if at <= horizon]:
            del seen[imei]

    def _records(self, db: Connection, changes: Changes) -> None:
        rows = db.execute(
            "SELECT imei, max(server_time), max(id) FROM records WHERE id > ? AND id <= ? GROUP BY imei",
            (self.record_id, self.record_id + MAX_ROWS_PER_POLL),
        ).fetchall()
        if not rows:
            if _max(db, "SELECT max(id) FROM records") > self.record_id + MAX_ROWS_PER_POLL:
                self.record_id += MAX_ROWS_PER_POLL  # a gap in the ids wider than one read
            return
        self.record_id = max(row[2] for row in rows)
        changes.records.update((imei, arrived) for imei, arrived, _ in rows)


def _max(db: Connection, query: str) -> int:
    value = db.execute(query).fetchone()[0]
    return 0 if value is None else int(value)


def _devices_of_sims(db: Connection, iccids: Iterable[str]) -> set[str]:
    wanted = sorted(set(iccids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        found.update(row[0] for row in db.execute(
            f"SELECT imei FROM devices WHERE iccid IN ({', '.join('?' * len(part))})", part))
    return found
