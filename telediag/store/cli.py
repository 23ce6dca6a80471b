"""``telediag store copy-to-postgresql DSN``: move a SQLite store to PostgreSQL (``telediag.store.transfer``).

The store named by ``[store]`` (``--config``/``--data-dir``) is copied whole into the empty database at
DSN, ids and all; afterwards ``[store] backend = "postgresql"`` with that dsn carries on where the
SQLite store stopped. ``--dry-run`` checks both ends and prints what would be copied. The SQLite file
is only read: going back is a matter of not changing ``[store]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, TextIO

PROGRESS_ROWS = 1_000_000
"""A long table's progress is shown each time this many more of its rows are copied."""


def add_store_parser(commands: Any, add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``store`` subcommand and its action."""
    parser = commands.add_parser("store", help="the store itself: copy a SQLite store to PostgreSQL")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    move = actions.add_parser(
        "copy-to-postgresql", help="copy the SQLite store, every row and id, into an empty PostgreSQL database",
        description="Copy the configured SQLite store into the empty PostgreSQL database at DSN, in one "
                    "transaction (all or nothing). Stop `telediag serve` first; afterwards set [store] "
                    'backend = "postgresql" and dsn = DSN.')
    add_store_options(move)
    move.add_argument("dsn", metavar="DSN", help="postgresql://user@host[:port]/database (a password is best "
                      "left to PGPASSWORD or ~/.pgpass: a command line is visible to other users)")
    move.add_argument("--dry-run", action="store_true",
                      help="check the store and the database, print the rows each table would copy; write nothing")


def command_store(config: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``telediag store copy-to-postgresql``: 0 when copied, 1 when refused or failed."""
    from telediag.store.postgresql import PostgresDatabase  # psycopg and the copy only when it runs
    from telediag.store.transfer import (
        TransferFailed,
        TransferRefused,
        check_target,
        copy_store,
        count_rows,
        open_source,
        source_tables,
    )

    if config.store.backend != "sqlite":
        err.write(f'telediag: [store] backend is "{config.store.backend}"; the copy reads a SQLite store '
                  "(give the --config or --data-dir of the SQLite one)\n")
        return 1
    target = PostgresDatabase(args.dsn)
    try:
        source = open_source(config.store.database_path)
    except TransferRefused as error:
        err.write(f"telediag: {error}; nothing was written\n")
        return 1
    try:
        check_target(target)
        if args.dry_run:
            counts = count_rows(source, source_tables(source))
            _summary(out, counts)
            out.write(f"dry run: {sum(counts.values())} rows of {len(counts)} tables would be copied from "
                      f"{config.store.database_path} to {target.describe()}; nothing was written\n")
            return 0
        started = time.monotonic()
        copied = copy_store(source, target, _progress(err))
        seconds = time.monotonic() - started
    except TransferRefused as error:
        err.write(f"telediag: {error}; nothing was written\n")
        return 1
    except TransferFailed as error:
        err.write(f"telediag: {error}\n")
        return 1
    finally:
        source.close()
    total = sum(copied.values())
    _summary(out, copied)
    out.write(f"copied {total} rows of {len(copied)} tables from {config.store.database_path} to "
              f"{target.describe()} in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} rows/s); set [store] "
              'backend = "postgresql" and dsn to this database, then start telediag\n')
    return 0


def _progress(err: TextIO) -> Callable[[str, int, int], None]:
    """A line per table when it is done, and one per :data:`PROGRESS_ROWS` rows of a long one."""
    shown: dict[str, int] = {}

    def progress(table: str, copied: int, total: int) -> None:
        if copied >= total:
            err.write(f"copied {table}: {copied} rows\n")
        elif copied // PROGRESS_ROWS > shown.get(table, 0):
            shown[table] = copied // PROGRESS_ROWS
            err.write(f"copying {table}: {copied} of {total} rows\n")
        err.flush()

    return progress


def _summary(out: TextIO, counts: dict[str, int]) -> None:
    width = max((len(name) for name in counts), default=0)
    for name, rows in counts.items():
        out.write(f"{name:<{width}}  {rows:>12}\n")
