"""Retention: records and ingest errors older than ``[store] retention_days`` leave the store, so it
never grows without end; findings, tickets, the registry and connectivity events are kept.

Rows go in bounded batches, each its own short transaction, so the batch committer (the store's one
writer) waits at most one batch for the lock. Ids grow with the server's clock, so the oldest rows are
the lowest ids: a batch looks only at the ``batch`` lowest ids, and a run stops at the first batch that holds
no old row, never scanning the table. Rows dated inside the window by a clock that jumped back hold
the old rows behind them only while they fill a whole batch by themselves; fewer only slow them. Records
the InfluxDB export has not sent yet (ids past its cursor) are kept until it has.

On PostgreSQL (:func:`drop_expired_partitions`) ``records`` is partitioned by month of fix time, and
retention drops whole months: a month that lies wholly before the cutoff goes as one ``DROP TABLE``
(no dead rows to vacuum, no index churn) once its newest row was received before the cutoff and has
been exported. So a record stays up to a month longer than ``retention_days``, until its month goes.
Rows of a wholly old month that cannot go yet (a device's backlog received lately, rows not exported)
and old rows of the default partition (no fix time) go in the same bounded batches as on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from twisted.application.internet import TimerService
from twisted.internet import threads
from twisted.logger import Logger

from telediag.config import StoreConfig
from telediag.store.database import Connection, Database, transaction
from telediag.store.postgresql_records import record_partitions

DAY_S = 86400.0
BATCH_ROWS = 5000
"""Rows one transaction deletes: a few tens of milliseconds of the write lock."""
MAX_BATCHES_PER_RUN = 200
"""One run drops at most this many batches (a million rows) per table or partition; the next run goes on."""
PARTITION_LOCK_TIMEOUT = "5s"
"""How long dropping a partition waits for the lock on ``records`` (every reader and writer waits
behind it meanwhile); past this it gives up until the next run, and the rows go in batches."""
EXPIRING = {"records": "server_time", "ingest_errors": "at"}
"""The tables that expire and the column that dates their rows (the server's clock, never the device's)."""


@dataclass(frozen=True)
class Dropped:
    """Rows one run deleted, per table."""

    records: int = 0
    ingest_errors: int = 0

    @property
    def total(self) -> int:
        return self.records + self.ingest_errors


def drop_batch(db: Connection, table: str, column: str, cutoff: float, batch: int,
               max_id: int | None = None) -> tuple[int, bool]:
    """Delete the rows older than ``cutoff`` among the ``batch`` lowest ids (up to ``max_id``); return how
    many went and whether there may be more (some went: the next lowest ids may be old too)."""
    if table not in EXPIRING or EXPIRING[table] != column:
        raise ValueError(f"{table}.{column} does not expire")
    bound = "" if max_id is None else "WHERE id <= :max_id"
    lowest = f"SELECT id, {column} AS at FROM {table} {bound} ORDER BY id LIMIT :batch"
    with db:
        deleted = db.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM ({lowest}) WHERE at < :cutoff)",
            {"cutoff": cutoff, "batch": batch, "max_id": max_id},
        ).rowcount
    return deleted, deleted > 0


def drop_expired(db: Connection, now: float, retention_days: int, keep_after_id: int | None = None,
                 batch: int = BATCH_ROWS, max_batches: int = MAX_BATCHES_PER_RUN) -> Dropped:
    """Delete what is older than ``retention_days`` at ``now``; records past ``keep_after_id`` (not yet
    exported) stay. ``retention_days`` 0 keeps everything."""
    if retention_days <= 0:
        return Dropped()
    cutoff = now - retention_days * DAY_S
    counts: dict[str, int] = {}
    for table, column in EXPIRING.items():
        limit = keep_after_id if table == "records" else None
        counts[table] = 0
        for _ in range(max_batches):
            deleted, more = drop_batch(db, table, column, cutoff, batch, limit)
            counts[table] += deleted
            if not more:
                break
    return Dropped(**counts)


def drop_expired_partitions(db: Connection, now: float, retention_days: int, keep_after_id: int | None = None,
                            batch: int = BATCH_ROWS, max_batches: int = MAX_BATCHES_PER_RUN) -> Dropped:
    """:func:`drop_expired` on PostgreSQL: whole months of ``records`` where it can, batches elsewhere."""
    if retention_days <= 0:
        return Dropped()
    cutoff = now - retention_days * DAY_S
    records = 0
    for partition in record_partitions(db):
        if partition.upper > cutoff:
            continue
        dropped = drop_partition(db, partition.name, cutoff, keep_after_id)
        records += dropped if dropped is not None else _drop_lowest(
            db, partition.name, "server_time", cutoff, batch, max_batches, keep_after_id)
    records += _drop_lowest(db, "records_default", "server_time", cutoff, batch, max_batches, keep_after_id)
    errors = _drop_lowest(db, "ingest_errors", "at", cutoff, batch, max_batches, None)
    return Dropped(records=records, ingest_errors=errors)


def drop_partition(db: Connection, name: str, cutoff: float, keep_after_id: int | None) -> int | None:
    """Drop the ``records`` partition ``name`` whole when its newest row (the highest id: ids grow with
    the server's clock) was received before ``cutoff`` and is exported; returns how many rows went,
    None when it must stay (or the lock on ``records`` was not to be had).

    Rows are counted before the lock (a scan, without holding up ingest); the newest id, read again
    under the lock, tells that none came since."""
    count, newest = db.execute(f"SELECT count(*), max(id) FROM {name}").fetchone()
    try:
        with transaction(db, "BEGIN"):
            db.execute(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
            db.execute("LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
            last = db.execute(f"SELECT id, server_time FROM {name} ORDER BY id DESC LIMIT 1").fetchone()
            if last is not None and (last[0] != newest or last[1] >= cutoff
                                     or (keep_after_id is not None and last[0] > keep_after_id)):
                return None
            db.execute(f"DROP TABLE {name}")
    except psycopg.errors.LockNotAvailable:
        return None
    return int(count)


def _drop_lowest(db: Connection, table: str, column: str, cutoff: float, batch: int, max_batches: int,
                 max_id: int | None) -> int:
    """Delete the rows of ``table`` older than ``cutoff`` among its ``batch`` lowest ids (up to ``max_id``),
    batch after batch while one finds old rows (the SQLite path's rule, one statement a batch)."""
    bound, params = ("", []) if max_id is None else ("WHERE id <= ?", [max_id])
    statement = (f"DELETE FROM {table} WHERE id IN (SELECT id FROM (SELECT id, {column} AS at FROM {table} "
                 f"{bound} ORDER BY id LIMIT ?) AS lowest WHERE at < ?)")
    total = 0
    for _ in range(max_batches):
        deleted = int(db.execute(statement, [*params, batch, cutoff]).rowcount)
        total += deleted
        if not deleted:
            break
    return total


def export_cursor(db: Connection, exporting: bool) -> int | None:
    """The last record id the InfluxDB export sent, when it runs (records after it must stay)."""
    if not exporting:
        return None
    row = db.execute("SELECT last_id FROM export_cursors WHERE name = 'influxdb'").fetchone()
    return 0 if row is None else int(row[0])


class RetentionService(TimerService):
    """Every ``retention_check_s``, one run of :func:`drop_expired` on a pool thread with a connection of
    its own (opened and closed in that run, so no connection crosses threads)."""

    log = Logger()

    def __init__(self, config: StoreConfig, database: Database, reactor: Any, exporting: bool) -> None:
        super().__init__(config.retention_check_s, self.run)  # type: ignore[no-untyped-call]  # TimerService is unannotated
        self.config = config
        self.database = database
        self.reactor = reactor
        self.exporting = exporting
        self.clock = reactor

    def run(self) -> Any:
        """One run; a failure is logged and the next run tries again (the timer keeps going)."""
        running = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self._run,
                                            self.reactor.seconds())
        running.addErrback(lambda failure: self.log.failure("retention run failed; trying again later",
                                                            failure=failure))
        return running

    def _run(self, now: float) -> Dropped:
        if not self.database.exists():
            return Dropped()
        db = self.database.connect()
        drop = drop_expired_partitions if self.database.backend == "postgresql" else drop_expired
        try:
            dropped = drop(db, now, self.config.retention_days, export_cursor(db, self.exporting))
        finally:
            db.close()
        if dropped.total:
            self.log.info("retention: dropped {records} records and {errors} ingest errors older than {days} days",
                          records=dropped.records, errors=dropped.ingest_errors, days=self.config.retention_days)
        return dropped
