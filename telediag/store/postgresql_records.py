"""``records`` on PostgreSQL: a batch written with ``COPY``, and the month partitions it lands in.

``records`` is partitioned by fix time, one partition a month (``records_y2026m05``), created by the
writer before a batch that needs it lands; ``records_default`` holds records without a time or with
one outside the years partitions cover. Retention drops whole months (``telediag.store.retention``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING, Any

import psycopg

from telediag.store.database import transaction
from telediag.store.rows import ROW_COLUMNS

if TYPE_CHECKING:
    from telediag.store.postgresql import PostgresConnection

PARTITION_LOCK = 0x7465_6C65_6469_6167 + 1
"""Advisory lock id under which a partition is created, so workers seeing one new month at once
create it once."""

PARTITIONED_FROM = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
PARTITIONED_UNTIL = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
"""Fix times in these years get a partition of their month; any other (and none) lands in
``records_default``. A fixed rule, so the default never holds a row a later partition would claim."""

_COLUMNS = ", ".join(ROW_COLUMNS)
_TEXT_TYPES = {"imei": "text", "protocol": "text", "digest": "bytea", "event": "text", "attributes": "text"}
_INTEGER_COLUMNS = frozenset({"valid", "satellites", "ignition", "motion", "gsm_signal_pct", "operator", "roaming"})
COPY_TYPES: tuple[str, ...] = tuple(
    _TEXT_TYPES.get(name) or ("int8" if name in _INTEGER_COLUMNS else "float8") for name in ROW_COLUMNS
)
"""The types of :data:`ROW_COLUMNS` in ``records``, for a binary ``COPY`` (the tests hold them to the schema)."""

_STAGING = (f"CREATE TEMPORARY TABLE IF NOT EXISTS records_staging ON COMMIT DELETE ROWS AS "
            f"SELECT {_COLUMNS} FROM records WITH NO DATA")
_MOVE = f"INSERT INTO records ({_COLUMNS}) SELECT {_COLUMNS} FROM records_staging ON CONFLICT DO NOTHING"
_PARTITION_NAME = re.compile(r"records_y(\d{4})m(\d{2})")


def insert_records(db: PostgresConnection, rows: Sequence[Sequence[Any]]) -> int:
    """Write :func:`telediag.store.rows.record_row` rows in the caller's transaction (or one of their
    own); returns how many were new.

    The batch is copied straight into ``records`` (binary ``COPY``) inside a savepoint: a batch of new
    records, the usual case, costs no more than that. When one of them is already stored (a device
    resent what it got no ACK for) or is in the batch twice, the unique natural key refuses the copy;
    the savepoint is rolled back and the batch goes through a staging table instead, moved with
    ``INSERT ... ON CONFLICT DO NOTHING``, which drops exactly the duplicates, as SQLite does. (That
    path alone costs about a third more per record: ``ON CONFLICT`` inserts speculatively.)
    """
    if not db.in_transaction:
        with transaction(db, "BEGIN"):
            return insert_records(db, rows)
    cursor = db.cursor()
    cursor.execute("SAVEPOINT records_copy")
    try:
        _copy(cursor, "records", rows)
        inserted = len(rows)
    except psycopg.errors.UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT records_copy")
        cursor.execute(_STAGING)
        cursor.execute("TRUNCATE records_staging")
        _copy(cursor, "records_staging", rows)
        inserted = cursor.execute(_MOVE).rowcount
    cursor.execute("RELEASE SAVEPOINT records_copy")
    db.total_changes += inserted
    return inserted


def _copy(cursor: psycopg.Cursor[Any], table: str, rows: Sequence[Sequence[Any]]) -> None:
    with cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One month of ``records``: fix times in ``[lower, upper)``."""

    lower: float
    upper: float
    name: str

    @classmethod
    def of_month(cls, year: int, month: int) -> Partition:
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return cls(start.timestamp(), end.timestamp(), f"records_y{year:04d}m{month:02d}")

    @classmethod
    def of_time(cls, fix_time: float) -> Partition | None:
        """The month partition ``fix_time`` belongs to; None for ``records_default``."""
        if not PARTITIONED_FROM <= fix_time < PARTITIONED_UNTIL:
            return None
        moment = datetime.fromtimestamp(fix_time, UTC)
        return cls.of_month(moment.year, moment.month)

    @classmethod
    def of_name(cls, name: str) -> Partition | None:
        match = _PARTITION_NAME.fullmatch(name)
        return None if match is None else cls.of_month(int(match[1]), int(match[2]))


def record_partitions(db: PostgresConnection) -> list[Partition]:
    """The month partitions ``records`` has, oldest first."""
    names = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('records')"
    ).fetchall()
    return sorted(p for p in (Partition.of_name(name) for (name,) in names) if p is not None)


class RecordPartitions:
    """The month partitions this process knows exist; missing ones are created before a batch lands in
    them (under an advisory lock, in the batch's transaction: the new partition and the records in it
    commit together)."""

    def __init__(self) -> None:
        self._known: set[str] | None = None
        self._last: Partition | None = None
        self._lock = Lock()

    def ensure(self, db: PostgresConnection, fix_times: Iterable[float | None]) -> None:
        """Create the partitions ``fix_times`` need that do not exist yet."""
        last = self._last
        needed: dict[str, Partition] = {}
        for fix_time in fix_times:
            if fix_time is None or (last is not None and last.lower <= fix_time < last.upper):
                continue
            partition = Partition.of_time(fix_time)
            if partition is not None:
                needed[partition.name] = last = partition
        if not needed:
            return
        with self._lock:
            if self._known is None:
                self._known = {p.name for p in record_partitions(db)}
            missing = [p for name, p in needed.items() if name not in self._known]
        for partition in missing:
            create_partition(db, partition)
        with self._lock:
            self._known.update(p.name for p in missing)
            self._last = last


def create_partition(db: PostgresConnection, partition: Partition) -> None:
    """Add ``partition`` to ``records`` in the caller's transaction, unless another worker did.

    Rows of its month already in ``records_default`` (written there by hand) move into it:
    PostgreSQL refuses a new partition while the default holds rows of its range.
    """
    db.execute("SELECT pg_advisory_xact_lock(?)", (PARTITION_LOCK,))
    if db.execute("SELECT to_regclass(?)", (partition.name,)).fetchone() != (None,):
        return
    bounds = f"FOR VALUES FROM ({partition.lower!r}) TO ({partition.upper!r})"
    within = f"fix_time >= {partition.lower!r} AND fix_time < {partition.upper!r}"
    if db.execute(f"SELECT 1 FROM records_default WHERE {within} LIMIT 1").fetchone() is None:
        db.execute(f"CREATE TABLE {partition.name} PARTITION OF records {bounds}")
        return
    db.execute("ALTER TABLE records DETACH PARTITION records_default")
    db.execute(f"CREATE TABLE {partition.name} PARTITION OF records {bounds}")
    db.execute(f"INSERT INTO records SELECT * FROM records_default WHERE {within}")
    db.execute(f"DELETE FROM records_default WHERE {within}")
    db.execute("ALTER TABLE records ATTACH PARTITION records_default DEFAULT")
