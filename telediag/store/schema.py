"""Schema scripts: one ``NNNN_what_it_does.sql`` per version and backend, run in order by the backend.

A script never changes once released, a new one is added instead. Each backend keeps its own folder
(``migrations/sqlite``, ``migrations/postgresql``) with the same numbering, so one version number
means the same tables and columns on both.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

MIGRATIONS_ROOT: Traversable = files("telediag.store") / "migrations"

_SCRIPT_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: once ``script`` has run, the database is at ``version``."""

    version: int
    name: str
    script: str


def load_migrations(folder: Traversable) -> tuple[Migration, ...]:
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


class StoreTooNew(Exception):
    """The store was written by a newer telediag: this version does not know its schema and must not
    write to it (an older writer could break what the newer one relies on)."""
