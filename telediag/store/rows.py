"""Records to table rows and back, with the content digest that makes duplicates detectable.

A device that got no ACK sends the same records again; the natural key (device, fix time, digest of
the content) lets the store drop the copies (``telediag.store.database.Database.insert_records``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import orjson

from protocols.record import RECORD_FIELDS, Record, iso_utc
from telediag.isolation import each_isolated

VALUE_COLUMNS: tuple[str, ...] = tuple(
    name for name in RECORD_FIELDS if name not in ("imei", "protocol", "fix_time", "attributes")
)
"""Record fields stored as plain columns, in table order."""
assert VALUE_COLUMNS == (
    "valid", "lat", "lon", "altitude_m", "speed_kmh", "course_deg", "satellites", "hdop", "ignition", "motion",
    "ext_voltage_v", "battery_voltage_v", "gsm_signal_pct", "operator", "roaming", "odometer_m", "event",
), "record_row lists the values in this order"

ROW_COLUMNS: tuple[str, ...] = (
    ("imei", "protocol", "fix_time", "server_time", "digest") + VALUE_COLUMNS + ("attributes",)
)

_BOOLEAN_COLUMNS = frozenset({"valid", "ignition", "motion", "roaming"})
_AS_INT = {True: 1, False: 0}
_as_int = _AS_INT.get
_values_of = attrgetter(*VALUE_COLUMNS)
_DIGEST = hashlib.blake2b(digest_size=12)
"""A blake2b-96 with nothing fed yet: each row's digest starts from a copy (0.1 µs less than a new one)."""
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
    bytearray; SQLite stores the same values (INTEGER 0/1, BLOB). The digest is blake2b-96 of the
    JSON of the protocol, fix time and values (booleans as JSON booleans), then the attributes as
    stored: the same as it always was for the same record, so a resent record is dropped whichever
    version stored the first copy.
    """
    values = _values_of(record)
    (valid, lat, lon, altitude, speed, course, satellites, hdop, ignition, motion, ext_voltage,
     battery_voltage, gsm_signal, operator, roaming, odometer, event) = values
    protocol, fix_time = record.protocol, record.fix_time
    attributes = _attributes_json(record.attributes) if record.attributes else b"{}"
    digest = _DIGEST.copy()
    digest.update(orjson.dumps((protocol, fix_time, values), default=_json_default))
    digest.update(attributes)
    return [imei, protocol, fix_time, server_time, bytearray(digest.digest()), _as_int(valid, valid), lat, lon,
            altitude, speed, course, satellites, hdop, _as_int(ignition, ignition), _as_int(motion, motion),
            ext_voltage, battery_voltage, gsm_signal, operator, _as_int(roaming, roaming), odometer, event,
            attributes.decode()]


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


def normalised_records(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> Iterable[dict[str, Any]]:
    """Lazily convert rows to normalised records; a row no reader can make sense of is logged and skipped."""
    imei_at = list(columns).index("imei") if "imei" in columns else None
    return each_isolated(
        rows, lambda row: row_to_normalised(row, columns), "reading records",
        lambda row: f"a record of device {row[imei_at] if imei_at is not None else '?'}",
    )
