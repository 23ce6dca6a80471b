"""The project's one SQL dialect (SQLite's, with qmark ``?`` parameters) in PostgreSQL's words.

Pure text work, done once per statement text (:func:`translate` is cached), so the PostgreSQL
connection adapter costs a dictionary lookup per call.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

import psycopg


@dataclass(frozen=True, slots=True)
class BulkInsert:
    """``INSERT INTO t (cols) VALUES (?, ...) tail`` for many rows at once: ``COPY`` into ``staging``
    (a temporary table shaped like those columns of ``t``, emptied at commit), then
    ``INSERT INTO t (cols) SELECT cols FROM staging tail``."""

    staging: str
    create: str
    copy: str
    move: str


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as PostgreSQL runs it through psycopg."""

    text: str
    query: bytes
    """``text`` encoded once (psycopg would encode it on every call)."""
    changes: bool
    """It writes rows (INSERT, UPDATE, DELETE): its row count adds to ``total_changes``."""
    bulk: BulkInsert | None = None
    """How ``executemany`` copies many rows at once, for an ``INSERT ... VALUES (?, ...)``."""


class UnsupportedStatement(psycopg.NotSupportedError):
    """SQLite's own SQL that has no PostgreSQL equivalent here."""


_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|[^'"\-/]+|.""", re.DOTALL)
"""A string literal, a quoted identifier, a comment, or a run of anything else."""
_BEGIN = re.compile(r"\s*BEGIN\s+(?:IMMEDIATE|DEFERRED|EXCLUSIVE)(?:\s+TRANSACTION)?\s*;?\s*", re.IGNORECASE)
_PRAGMA = re.compile(r"\s*PRAGMA\b", re.IGNORECASE)
_REPLACE = re.compile(r"\s*(?:INSERT\s+OR\s+REPLACE|REPLACE)\s", re.IGNORECASE)
_INSERT_OR_IGNORE = re.compile(r"(\s*INSERT)\s+OR\s+IGNORE(?=\s)", re.IGNORECASE)
_LIKE = re.compile(r"\bLIKE\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_WRITES = re.compile(r"\s*(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_VALUES_INSERT = re.compile(
    r"\s*INSERT\s+INTO\s+(\w+)(\s+AS\s+\w+)?\s*\(([\w\s,]+)\)\s*VALUES\s*\(\s*%s(?:\s*,\s*%s)*\s*\)(.*)",
    re.IGNORECASE | re.DOTALL,
)


@lru_cache(maxsize=2048)
def translate(sql: str) -> Statement:
    """``sql`` in the project's dialect as PostgreSQL runs it through psycopg.

    Outside string literals, quoted identifiers and comments: ``?`` becomes ``%s``, and ``LIKE``
    ``ILIKE`` (SQLite's ``LIKE`` ignores case); ``%`` becomes ``%%`` everywhere, since psycopg reads
    every ``%``. ``BEGIN IMMEDIATE``/``DEFERRED`` is a plain ``BEGIN`` (row locks do that job), and
    ``INSERT OR IGNORE`` is ``INSERT ... ON CONFLICT DO NOTHING``. ``PRAGMA`` and ``REPLACE`` are
    refused: they have no meaning to keep.
    """
    if _PRAGMA.match(sql):
        raise UnsupportedStatement(f"PRAGMA is SQLite's own, PostgreSQL has no equivalent: {sql.strip()!r}")
    if _REPLACE.match(sql):
        raise UnsupportedStatement(f"write INSERT ... ON CONFLICT DO UPDATE instead of REPLACE: {sql.strip()!r}")
    if _BEGIN.fullmatch(sql):
        return Statement("BEGIN", b"BEGIN", False)
    ignore = _INSERT_OR_IGNORE.match(sql)
    if ignore:
        sql = ignore[1] + sql[ignore.end():]
    parts: list[str] = []
    length = 0
    returning_at: int | None = None
    for token in _TOKENS.findall(sql):
        if token[0] in "'\"" or token.startswith(("--", "/*")):
            token = token.replace("%", "%%")
        else:
            token = _LIKE.sub("ILIKE", token.replace("%", "%%").replace("?", "%s"))
            found = _RETURNING.search(token) if returning_at is None else None
            if found:
                returning_at = length + found.start()
        parts.append(token)
        length += len(token)
    text = "".join(parts)
    if ignore:
        if returning_at is None:
            text = text.rstrip().removesuffix(";").rstrip() + " ON CONFLICT DO NOTHING"
        else:
            text = f"{text[:returning_at]}ON CONFLICT DO NOTHING {text[returning_at:]}"
    bulk = _bulk_insert(text) if returning_at is None else None
    return Statement(text, text.encode(), bool(_WRITES.match(sql)), bulk)


def _bulk_insert(text: str) -> BulkInsert | None:
    """The bulk form of an ``INSERT INTO t [AS a] (cols) VALUES (%s, ...) tail`` whose parameters are
    exactly one per column; None for any other statement."""
    match = _VALUES_INSERT.fullmatch(text)
    if match is None:
        return None
    table, alias, listed, tail = match[1], match[2] or "", match[3], match[4].rstrip().removesuffix(";")
    columns = ", ".join(name.strip() for name in listed.split(","))
    if text.count("%s") != columns.count(",") + 1 or "%s" in tail:
        return None
    staging = f"bulk_{table}_{zlib.crc32(columns.encode()):08x}"
    return BulkInsert(
        staging=staging,
        create=(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
                f"SELECT {columns} FROM {table} WITH NO DATA"),
        copy=f"COPY {staging} ({columns}) FROM STDIN",
        move=f"INSERT INTO {table}{alias} ({columns}) SELECT {columns} FROM {staging}{tail}",
    )
