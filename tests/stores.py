"""The store a test runs against: SQLite files by default, PostgreSQL databases with
``TELEDIAG_TEST_BACKEND=postgresql``.

Tests name their store by a path under their temporary folder, as a SQLite store is named; in the
PostgreSQL run each distinct path becomes a new PostgreSQL database of the test server
(``tests.postgres_server``), and :func:`store_config` lines point a ``telediag serve`` started by a
test at it. So the same test checks the same behaviour on both backends.

A new database is a copy of one with the schema already in it (the state the first connection to a
new SQLite file leaves): a copy costs a third of running the schema scripts in every test's database.
Such a store has no data, like the SQLite file that would be created there, but it exists: a test
about a store that was never created names its path through :func:`absent_store` first.
"""

from __future__ import annotations

import os
from pathlib import Path

from telediag.config.core import DATABASE_FILE, StoreConfig
from telediag.store.database import Database
from telediag.store.sqlite import SQLiteDatabase

BACKEND = os.environ.get("TELEDIAG_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"TELEDIAG_TEST_BACKEND must be sqlite or postgresql, not {BACKEND!r}")

_POSTGRES_BY_PATH: dict[Path, str] = {}


def postgres_dsn_for(path: Path, migrated: bool = True) -> str:
    """The PostgreSQL database standing for the SQLite file ``path`` (created on first use, with the
    schema unless ``migrated`` is false)."""
    from tests.postgres_server import fresh_database

    key = Path(path).resolve()
    if key not in _POSTGRES_BY_PATH:
        _POSTGRES_BY_PATH[key] = fresh_database(migrated=migrated)
    return _POSTGRES_BY_PATH[key]


def absent_store(path: Path) -> Path:
    """``path``, standing for a store that was never created (on PostgreSQL an empty database, without
    the schema: what ``telediag`` calls no store); give it before anything opens the store there."""
    if BACKEND == "postgresql":
        key = Path(path).resolve()
        assert key not in _POSTGRES_BY_PATH, f"the store at {path} was named before"
        postgres_dsn_for(key, migrated=False)
    return path


def database_at(path: Path) -> Database:
    """The test's store named by ``path``, on the backend of this run."""
    if BACKEND == "sqlite":
        return SQLiteDatabase(Path(path))
    from telediag.store.postgresql import PostgresDatabase

    return PostgresDatabase(postgres_dsn_for(path))


def store_is_intact(path: Path) -> bool:
    """Whether the store named by ``path`` exists, opens read-only at its schema's version and passes its
    engine's check (SQLite's ``PRAGMA integrity_check``; a PostgreSQL store answers a query)."""
    database = database_at(path)
    if not database.exists():
        return False
    db = database.connect(readonly=True)
    try:
        database.readable(db)
        if database.backend == "sqlite" and db.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            return False
        return database.schema_version(db) > 0
    finally:
        db.close()


def remove_store(path: Path) -> None:
    """Take the store named by ``path`` away under a running service: the SQLite file with its WAL, or
    the PostgreSQL database (its open sessions ended)."""
    if BACKEND == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import conninfo

    from tests.postgres_server import server

    name = conninfo.conninfo_to_dict(postgres_dsn_for(path))["dbname"]
    with psycopg.connect(server().dsn(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)".encode())


def unopenable_store(data_dir: Path) -> StoreConfig:
    """``[store]`` settings that cannot be opened on this run's backend: the data directory is a file,
    or the PostgreSQL database does not exist."""
    if BACKEND == "sqlite":
        data_dir.write_text("not a directory")
        return StoreConfig(data_dir=data_dir)
    from tests.postgres_server import server

    return StoreConfig(data_dir=data_dir, backend="postgresql", dsn=server().dsn("no_such_database"))


def store_config(data_dir: Path) -> str:
    """``[store]`` TOML lines for a service whose data directory is ``data_dir`` (empty with SQLite)."""
    if BACKEND == "sqlite":
        return ""
    dsn = postgres_dsn_for(Path(data_dir) / DATABASE_FILE)
    return f'[store]\nbackend = "postgresql"\ndsn = "{dsn}"\n'
