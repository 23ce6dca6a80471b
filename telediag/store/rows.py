"""Records to table rows and back, with the content digest that makes duplicates detectable.

A device that got no ACK sends the same records again; the natural key (device, fix time, digest of
the content) lets the store drop the copies with ``INSERT OR IGNORE``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any

import orjson

from protocols.record import RECORD_FIELDS, Record, iso_utc
from telediag.isolation import each_isolated

VALUE_COLUMNS: tuple[str, ...] = tuple(
    name for name in RECORD_FIELDS if name not in ("imei", "protocol", "fix_time", "attributes")
)
"""Record fields stored as plain columns, in table order."""

ROW_COLUMNS: tuple[str, ...] = (
    ("imei", "protocol", "fix_time", "server_time", "digest") + VALUE_COLUMNS + ("attributes",)
)

_BOOLEAN_COLUMNS = frozenset({"valid", "ignition", "motion", "roaming"})
_BOOLEAN_AT = tuple(at for at, name in enumerate(ROW_COLUMNS) if name in _BOOLEAN_COLUMNS)
_AS_INT = {True: 1, False: 0}
_blake2b = hashlib.blake2b
_values_of = attrgetter(*VALUE_COLUMNS)
_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    """Attribute values JSON has no type for (bytes, sets, ...) are kept as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _attributes_json(attributes: dict[str, Any]) -> bytes:
    """Attributes as stored: JSON with sorted keys (keys that are not text, and values JSON has no
    type for, as text). The options for those cost 0.1 µs a record, so only a dict that needs them
    pays for them; the bytes are the same either way."""
    try:
        return orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return orjson.dumps(attributes, option=_JSON_OPTIONS, default=_json_default)


def record_row(imei: str, record: Record, server_time: float) -> list[Any]:
    """One ``records`` row for ``record`` as received from ``imei`` at ``server_time``.

    Every value is bound as a type the sqlite3 module takes as it is (int, float, str, bytearray):
    a ``bool`` or ``bytes`` parameter goes through its adapter lookup first (about 0.25 µs each,
    1.7 µs of a 5 µs insert for a typical record), so booleans become 0/1 and the digest a
    bytearray; SQLite stores the same values (INTEGER 0/1, BLOB). The digest is computed from the
    record's own values, so it is the same as it always was for the same record.
    """
    values = _values_of(record)
    attributes = _attributes_json(record.attributes) if record.attributes else b"{}"
    content = orjson.dumps((record.protocol, record.fix_time, values), default=_json_default)
    row = [imei, record.protocol, record.fix_time, server_time,
           bytearray(_blake2b(content + attributes, digest_size=12).digest()), *values, attributes.decode()]
    for at in _BOOLEAN_AT:
        value = row[at]
        row[at] = _AS_INT.get(value, value)
    return row


INSERT_CHUNKS = (512, 64, 8, 1)
"""Rows per ``INSERT`` statement, largest first (512 rows x 23 columns stays under SQLite's default
limit of 32,766 parameters; sizes over the connection's own limit are skipped); a few fixed sizes
keep the prepared statements in the connection's cache."""


@lru_cache(maxsize=len(INSERT_CHUNKS))
def _insert_sql(rows: int) -> str:
    values = f"({', '.join('?' * len(ROW_COLUMNS))})"
    return f"INSERT OR IGNORE INTO records ({', '.join(ROW_COLUMNS)}) VALUES {', '.join([values] * rows)}"


def insert_records(db: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """``INSERT OR IGNORE`` of :func:`record_row` rows, many rows per statement.

    ``executemany`` runs one ``sqlite3_step`` per row and gives the GIL up around each: with the
    reactor thread busy, every row then waits for the GIL again (commits of 132 rows beside a busy
    thread: 27 µs of wall time a row, 19 µs this way). One statement per 512/64/8 rows gives the GIL
    up once per chunk.
    A duplicate is ignored row by row as before; ``total_changes`` counts the rows inserted.
    """
    at, total = 0, len(rows)
    most = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(ROW_COLUMNS)  # an older SQLite: 999
    for size in INSERT_CHUNKS:
        count = (total - at) // size
        if not count or size > most:
            continue
        if size == 1:
            db.executemany(_insert_sql(1), rows[at:])
        else:
            db.executemany(_insert_sql(size), [
                list(chain.from_iterable(rows[start : start + size]))
                for start in range(at, at + count * size, size)
            ])
        at += count * size


def row_to_normalised(row: Sequence[Any], columns: Sequence[str]) -> dict[str, Any]:
    """The normalised record of DESIGN.md (ISO times, booleans, decoded attributes) from a row."""
    raw = dict(zip(columns, row, strict=True))
    out: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        value = raw.get(name)
        if name == "fix_time":
            out["fix_time"] = iso_utc(value)
            out["server_time"] = iso_utc(raw.get("server_time"))
            continue
        if name in _BOOLEAN_COLUMNS and value is not None:
            value = bool(value)
        elif name == "attributes":
            value = orjson.loads(value) if value else {}
        out[name] = value
    return out


def normalised_records(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> Iterable[dict]:
    """Lazily convert rows to normalised records; a row no reader can make sense of is logged and skipped."""
    imei_at = list(columns).index("imei") if "imei" in columns else None
    return each_isolated(
        rows, lambda row: row_to_normalised(row, columns), "reading records",
        lambda row: f"a record of device {row[imei_at] if imei_at is not None else '?'}",
    )
