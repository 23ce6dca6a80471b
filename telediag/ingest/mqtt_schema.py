"""The MQTT telemetry schema: topic names and JSON payloads to normalised records, and back.

A device (or a gateway speaking for it) publishes with QoS 1 to ``telediag/v1/<imei>/telemetry``
(the prefix is ``[mqtt] topic_prefix``; ``<imei>`` is 15-17 digits, as in the registry). The payload is
one JSON object or a list of them (at most :data:`MAX_RECORDS`, at most :data:`MAX_PAYLOAD_BYTES` of
UTF-8 JSON), each a record with the fields of the normalised record (DESIGN.md):

| field | type | meaning |
|---|---|---|
| ``fix_time`` | ISO 8601 string or number | time of the fix: ISO 8601 (UTC if no zone) or epoch seconds (required) |
| ``valid`` | boolean | the GNSS fix is valid |
| ``lat``, ``lon`` | number | degrees, WGS84 (-90..90, -180..180) |
| ``altitude_m`` | number | metres above sea level |
| ``speed_kmh`` | number | km/h, 0 or more |
| ``course_deg`` | number | 0..360 |
| ``satellites`` | whole number | satellites in use, 0..255 |
| ``hdop`` | number | 0 or more |
| ``ignition``, ``motion``, ``roaming`` | boolean | as the device reports them |
| ``ext_voltage_v``, ``battery_voltage_v`` | number | volts, 0..1000 |
| ``gsm_signal_pct`` | whole number | 0..100 |
| ``operator`` | whole number | MCC and MNC as one number (26001), 1..999999 |
| ``odometer_m`` | number | metres, 0 or more |
| ``event`` | string | alarm or event name, at most 64 characters |
| ``attributes`` | object | anything else, raw (``{"io66": 24079}``) |
| ``imei`` | string | optional; when given it must equal the topic's IMEI |
| ``protocol`` | string | optional; when given it must be ``"mqtt"`` |
| ``server_time`` | any | ignored: the server stamps the time it received the record |
| any other key | any JSON | kept in ``attributes`` under its own name |

``null`` (or a missing key) means unknown, never 0. Integral numbers such as ``9.0`` are accepted
where a whole number is expected. ``fix_time`` is required because it is part of the natural key
(device, fix time, content digest) that makes a redelivered message idempotent: the broker redelivers
every message telediag did not acknowledge, and the copy must not be stored twice.

A message is all or nothing: if any record has a problem, none is stored, and every problem of every
record is reported at once (as ``record N: ...`` for lists). Pure: no Twisted, no sockets, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from protocols.record import Record, iso_utc, parse_iso_utc
from telediag.problems import Problems

PROTOCOL = "mqtt"
"""The protocol name records and ingest counters carry."""
MAX_PAYLOAD_BYTES = 256 * 1024
"""Largest payload accepted by default (``[mqtt] max_payload_bytes``)."""
MAX_RECORDS = 1000
"""Most records one message may carry by default (``[mqtt] max_records_per_message``)."""
MAX_PROBLEMS = 20
"""Problems listed in one error; the rest are counted, so one huge bad batch cannot flood the log."""
TELEMETRY = "telemetry"

_IMEI = re.compile(r"\d{15,17}")
_MAX_EPOCH = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last second ISO 8601 text can carry
_BOOL_FIELDS = ("valid", "ignition", "motion", "roaming")
# name -> (low, high) for numbers; None means unbounded on that side
_NUMBER_FIELDS: dict[str, tuple[float | None, float | None]] = {
    "lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "altitude_m": (None, None), "speed_kmh": (0.0, None),
    "course_deg": (0.0, 360.0), "hdop": (0.0, None), "ext_voltage_v": (0.0, 1000.0),
    "battery_voltage_v": (0.0, 1000.0), "odometer_m": (0.0, None),
}
_INT_FIELDS: dict[str, tuple[int, int]] = {
    "satellites": (0, 255), "gsm_signal_pct": (0, 100), "operator": (1, 999_999),
}
_KNOWN = {"fix_time", "event", "attributes", "imei", "protocol", "server_time"} | set(_BOOL_FIELDS) \
    | set(_NUMBER_FIELDS) | set(_INT_FIELDS)
_EVENT_MAX = 64


class InvalidTelemetry(Problems):
    """A topic or payload that cannot become records; ``problems`` lists each in plain words."""


def subscription(prefix: str) -> str:
    """The topic filter telediag subscribes to: every device's telemetry."""
    return f"{prefix}/+/{TELEMETRY}"


def telemetry_topic(prefix: str, imei: str) -> str:
    """The topic one device publishes its telemetry to."""
    return f"{prefix}/{imei}/{TELEMETRY}"


def topic_imei(prefix: str, topic: str) -> str:
    """The IMEI in a telemetry topic; InvalidTelemetry if the topic is not one."""
    head = prefix + "/"
    tail = "/" + TELEMETRY
    if not (topic.startswith(head) and topic.endswith(tail)) or len(topic) <= len(head) + len(tail):
        raise InvalidTelemetry([f"topic {topic!r} is not {telemetry_topic(prefix, '<imei>')}"])
    imei = topic[len(head):-len(tail)]
    if not _IMEI.fullmatch(imei):
        raise InvalidTelemetry([f"topic {topic!r}: the IMEI {imei!r} must be 15-17 digits"])
    return imei


def _number(value: Any) -> float | None:
    """A finite JSON number as float, or None if ``value`` is not one (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _fix_time(value: Any, problems: list[str]) -> float | None:
    if value is None:
        problems.append("fix_time is required (ISO 8601 or epoch seconds)")
        return None
    if isinstance(value, str):
        try:
            seconds = parse_iso_utc(value)
        except (ValueError, OverflowError):
            problems.append(f"fix_time {value[:40]!r} is not an ISO 8601 time")
            return None
    else:
        number = _number(value)
        if number is None:
            problems.append(f"fix_time must be an ISO 8601 string or epoch seconds, got {type(value).__name__}")
            return None
        seconds = number
    if not 0.0 <= seconds <= _MAX_EPOCH:
        hint = " (milliseconds? send seconds)" if seconds > _MAX_EPOCH else ""
        problems.append(f"fix_time {value!r} is outside 1970..9999{hint}")
        return None
    return seconds


def _check_field(name: str, value: Any, problems: list[str]) -> Any:
    """The checked value of a known scalar field, or None (with a problem) when wrong."""
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            problems.append(f"{name} must be true, false or null, got {value!r}"[:120])
            return None
        return value
    if name in _INT_FIELDS:
        low, high = _INT_FIELDS[name]
        number = _number(value)
        if number is None or not number.is_integer():
            problems.append(f"{name} must be a whole number, got {value!r}"[:120])
            return None
        if not low <= number <= high:
            problems.append(f"{name} {int(number)} must be between {low} and {high}")
            return None
        return int(number)
    if name in _NUMBER_FIELDS:
        low_f, high_f = _NUMBER_FIELDS[name]
        number = _number(value)
        if number is None:
            problems.append(f"{name} must be a number, got {value!r}"[:120])
            return None
        if (low_f is not None and number < low_f) or (high_f is not None and number > high_f):
            span = f"{low_f:g} or more" if high_f is None else f"between {low_f:g} and {high_f:g}"
            problems.append(f"{name} {number:g} must be {span}")
            return None
        return number
    if name == "event":
        if not isinstance(value, str) or not value.strip():
            problems.append(f"event must be a non-empty string or null, got {value!r}"[:120])
            return None
        if len(value) > _EVENT_MAX:
            problems.append(f"event is longer than {_EVENT_MAX} characters")
            return None
        return value
    raise AssertionError(name)  # pragma: no cover - every known field is handled above


def parse_record(imei: str, raw: Any) -> Record:
    """One JSON object to a Record of ``imei``; InvalidTelemetry listing every problem."""
    if not isinstance(raw, Mapping):
        raise InvalidTelemetry([f"a record must be a JSON object, got {type(raw).__name__}"])
    problems: list[str] = []
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    given = raw.get("attributes")
    if isinstance(given, Mapping):
        attributes.update(given)
    elif given is not None:
        problems.append(f"attributes must be a JSON object, got {type(given).__name__}")
    fix_time = _fix_time(raw.get("fix_time"), problems)
    for key, value in raw.items():
        if key in ("fix_time", "attributes", "server_time"):
            continue
        if key == "imei":
            if value is not None and value != imei:
                problems.append(f"imei {value!r} differs from the topic's {imei!r}"[:120])
        elif key == "protocol":
            if value is not None and value != PROTOCOL:
                problems.append(f"protocol must be {PROTOCOL!r} or absent, got {value!r}"[:120])
        elif key in _KNOWN:
            if value is not None:
                values[key] = _check_field(key, value, problems)
        elif key in attributes:
            problems.append(f"{key!r} is given both as a field and in attributes"[:120])
        else:
            attributes[key] = value
    if problems:
        raise InvalidTelemetry(problems)
    return Record(imei=imei, protocol=PROTOCOL, fix_time=fix_time, attributes=attributes, **values)


def parse_telemetry(
    imei: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES, max_records: int = MAX_RECORDS
) -> list[Record]:
    """A message payload to records of ``imei``; InvalidTelemetry listing every problem."""
    if len(payload) > max_bytes:
        raise InvalidTelemetry([f"payload of {len(payload)} bytes is over the {max_bytes}-byte limit"])
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise InvalidTelemetry([f"payload is not UTF-8 JSON: {error}"]) from None
    if isinstance(document, Mapping):
        return [parse_record(imei, document)]
    if not isinstance(document, list):
        raise InvalidTelemetry([f"payload must be a JSON object or a list of them, got {type(document).__name__}"])
    if not document:
        raise InvalidTelemetry(["payload is an empty list: no records"])
    if len(document) > max_records:
        raise InvalidTelemetry([f"payload has {len(document)} records, over the limit of {max_records}"])
    records: list[Record] = []
    problems: list[str] = []
    for index, raw in enumerate(document):
        try:
            records.append(parse_record(imei, raw))
        except InvalidTelemetry as error:
            problems.extend(f"record {index}: {problem}" for problem in error.problems)
    if problems:
        if len(problems) > MAX_PROBLEMS:
            problems = problems[:MAX_PROBLEMS] + [f"and {len(problems) - MAX_PROBLEMS} more problem(s)"]
        raise InvalidTelemetry(problems)
    return records


def record_document(record: Record, iso_times: bool = True) -> dict[str, Any]:
    """The JSON object a device publishes for ``record`` (the device-side encoder).

    Unknown values are left out; ``attributes`` are sent as given. ISO times carry milliseconds;
    ``iso_times=False`` sends the fix time as epoch seconds, exactly.
    """
    document: dict[str, Any] = {}
    if record.fix_time is not None:
        document["fix_time"] = iso_utc(record.fix_time) if iso_times else record.fix_time
    for name in (*_BOOL_FIELDS, *_NUMBER_FIELDS, *_INT_FIELDS, "event"):
        value = getattr(record, name)
        if value is not None:
            document[name] = value
    if record.attributes:
        document["attributes"] = dict(record.attributes)
    return document


def encode_telemetry(records: Sequence[Record], iso_times: bool = True) -> bytes:
    """A payload carrying ``records`` (one object for one record, a list otherwise)."""
    documents = [record_document(record, iso_times) for record in records]
    return orjson.dumps(documents[0] if len(documents) == 1 else documents)
