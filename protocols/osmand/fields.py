"""OsmAnd / Traccar Client parameters and the record builder.

Speeds: the query parameter ``speed`` is in knots (what Traccar's decoder assumes by default and
what the OsmAnd protocol documents); the JSON body's ``coords.speed`` is in metres per second.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

from protocols.record import RecordFields, parse_iso_utc

PROTOCOL = "osmand"
DEFAULT_PORT = 5055

KNOT_KMH = 1.852
MPS_KMH = 3.6

MAX_ID_LENGTH = 64
_ID = re.compile(r"[\x21-\x7e]{1,%d}" % MAX_ID_LENGTH)
_INT = re.compile(r"[-+]?\d+", re.A)


class BadRequest(ValueError):
    """The request is well-formed HTTP but not a position report (answered 400)."""


def device_id(value: Any) -> str:
    """The device id as the client sent it (any printable text, not only digits)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRequest("device id must be a string")
    text = str(value)
    if not _ID.fullmatch(text):
        raise BadRequest(f"device id must be 1-{MAX_ID_LENGTH} printable characters without spaces")
    return text


def number(value: Any, name: str) -> float:
    """A finite number from text or JSON; BadRequest otherwise."""
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be a number")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number, got {str(value)[:32]!r}") from None
    if not math.isfinite(result):
        raise BadRequest(f"{name} must be finite")
    return result


def timestamp(value: Any) -> float:
    """Epoch seconds or milliseconds (Traccar: below 2**31-1 means seconds), ISO 8601, or
    ``yyyy-MM-dd HH:mm:ss`` taken as UTC."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        return seconds if seconds < 2**31 - 1 else seconds / 1000
    text = str(value).strip()
    try:
        if _INT.fullmatch(text):
            whole = int(text)
            return float(whole) if whole < 2**31 - 1 else whole / 1000
        if "T" in text:
            return parse_iso_utc(text)
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        return moment.timestamp()
    except (ValueError, OverflowError):
        pass
    try:
        seconds = number(text, "timestamp")
    except BadRequest:
        raise BadRequest(f"timestamp not understood: {text[:40]!r}") from None
    return seconds if seconds < 2**31 - 1 else seconds / 1000


def flag(value: Any) -> bool:
    """``true``/``1`` as Traccar's ``Boolean.parseBoolean(value) || "1".equals(value)``."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


def scalar(text: str) -> Any:
    """An unknown parameter's value: int, float, bool or the text, as Traccar types it."""
    if _INT.fullmatch(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(value):
            return value
    if text in ("true", "false"):
        return text == "true"
    return text


class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL

    def position(self, lat: float, lon: float) -> None:
        """Set a checked WGS84 position."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise BadRequest(f"position out of range: {lat}, {lon}")
        self.f["lat"], self.f["lon"] = lat, lon
