"""The one way to reach the store: a :class:`Database` says where the store is and opens connections.

Two backends implement it: :class:`telediag.store.sqlite.SQLiteDatabase` (one file under the data
directory, the embedded default) and :class:`telediag.store.postgresql.PostgresDatabase` (one
PostgreSQL database shared by every worker and host). Code above the store writes one SQL dialect:
qmark parameters (``?``), ``INSERT ... ON CONFLICT``, ``RETURNING``; where the two engines differ
(JSON fields, the bulk insert of records), it asks the database's :class:`Dialect` or methods.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from telediag.config import StoreConfig

Connection = Any
"""A DB-API connection in autocommit mode taking qmark parameters: ``sqlite3.Connection``, or the
PostgreSQL backend's adapter with the same ``execute``/``executemany``/``close``."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """SQL fragments that differ between the backends."""

    name: str
    title: str
    """The engine's name for people."""
    json_text: str
    """``json_text.format(column=..., key=...)``: the text of one top-level key of a JSON column."""
    truncate_text: str
    """``truncate_text.format(value=...)``: a number's whole part as an integer, towards zero."""

    def json_field(self, column: str, key: str) -> str:
        """SQL for ``column``'s JSON member ``key`` as text (NULL when absent)."""
        return self.json_text.format(column=column, key=key)

    def truncate(self, value: str) -> str:
        """SQL for the whole part of ``value`` (SQLite's ``CAST ... AS INTEGER``; PostgreSQL's rounds)."""
        return self.truncate_text.format(value=value)


class Database(Protocol):
    """One store: where it is, how to open connections to it and the few things only its engine knows."""

    backend: str
    dialect: Dialect

    def connect(self, readonly: bool = False) -> Connection:
        """A new connection with the schema migrated (a read-only one requires the store to exist)."""

    def connect_writer(self) -> Connection:
        """The ingest writer's connection, tuned for batch commits."""

    def exists(self) -> bool:
        """Whether the store has been created (a CLI reading an absent store says so instead)."""

    def describe(self) -> str:
        """Where the store is, for people (a PostgreSQL password is never shown)."""

    def size_bytes(self) -> int | None:
        """The space the store takes, when the backend can tell."""

    def insert_records(self, db: Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Store :func:`telediag.store.rows.record_row` rows, dropping duplicates of the natural key;
        returns how many were new. Runs inside the caller's transaction."""

    def readable(self, db: Connection) -> None:
        """Raise unless the store answers a query (the API's health check)."""

    def schema_version(self, db: Connection) -> int:
        """The number of the last migration script the store has run."""

    def settled_record_id(self, db: Connection) -> int:
        """The highest ``records.id`` at or below which no new row can appear any more (0 when empty):
        what a reader following the records by id (the InfluxDB export) may move its cursor up to."""


@contextmanager
def transaction(db: Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[Connection]:
    """The store's one transaction: ``begin`` ... COMMIT, rolled back on any error (every connection is
    in autocommit mode, so nothing else opens one). IMMEDIATE takes SQLite's write lock at once, so a
    read-then-write never fails halfway on a lock another writer took meanwhile (PostgreSQL reads it as
    a plain BEGIN: its row locks do that job)."""
    db.execute(begin)
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def open_database(config: StoreConfig) -> Database:
    """The database ``[store]`` names: the SQLite file under ``data_dir``, or PostgreSQL at ``dsn``."""
    if config.backend == "postgresql":
        from telediag.store.postgresql import PostgresDatabase  # psycopg only when it is used

        return PostgresDatabase(config.dsn)
    from telediag.store.sqlite import SQLiteDatabase

    return SQLiteDatabase(config.database_path, config.synchronous)


def _errors(name: str) -> tuple[type[Exception], ...]:
    import sqlite3

    import psycopg

    return (getattr(sqlite3, name), getattr(psycopg, name))


INTEGRITY_ERRORS = _errors("IntegrityError")
"""A constraint refused the write (a duplicate key, on either backend)."""

UNAVAILABLE_ERRORS = _errors("OperationalError") + _errors("InterfaceError")
"""The store could not be reached or is busy: the request fails as a whole (503), never per device."""
