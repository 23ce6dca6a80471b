"""Records to table rows and back, with the content digest that makes duplicates detectable.

A device that got no ACK sends the same records again; the natural key (device, fix time, digest of
the content) lets the store drop the copies with ``INSERT OR IGNORE``.
"""

from __future__ import annotations

import hashlib
from operator import attrgetter
from typing import Any, Iterable, Sequence

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
_values_of = attrgetter(*VALUE_COLUMNS)
_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    """Attribute values JSON has no type for (bytes, sets, ...) are kept as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def record_row(imei: str, record: Record, server_time: float) -> tuple[Any, ...]:
    """One ``records`` row for ``record`` as received from ``imei`` at ``server_time``."""
    values = _values_of(record)
    attributes = (
        orjson.dumps(record.attributes, option=_JSON_OPTIONS, default=_json_default)
        if record.attributes else b"{}"
    )
    content = orjson.dumps((record.protocol, record.fix_time, values), default=_json_default)
    digest = hashlib.blake2b(content + attributes, digest_size=12).digest()
    return (imei, record.protocol, record.fix_time, server_time, digest) + values + (attributes.decode(),)


def row_to_normalised(row: Sequence[Any], columns: Sequence[str]) -> dict[str, Any]:
    """The normalised record of DESIGN.md (ISO times, booleans, decoded attributes) from a row."""
    raw = dict(zip(columns, row))
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
