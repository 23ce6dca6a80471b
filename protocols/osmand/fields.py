"""OsmAnd / Traccar Client parameters and the record builder.

Speeds: the query parameter ``speed`` is in knots (what Traccar's decoder assumes by default and
what the OsmAnd protocol documents); the JSON body's ``coords.speed`` is in metres per second.
"""

from __future__ import annotations

import math
import re
from typing import Any

from protocols.record import RecordFields, parse_iso_utc

PROTOCOL = "osmand"
DEFAULT_PORT = 5055

KNOT_KMH = 1.852
MPS_KMH = 3.6

MAX_ID_LENGTH = 64
_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LENGTH}}}")
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


_DATE_TIME = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?", re.A,
)
EARLIEST = -62_135_596_800.0
"""0001-01-01T00:00:00Z: the first second ``datetime`` (so every reader) can show."""
LATEST = 253_402_300_799.0
"""9999-12-31T23:59:59Z."""


def _epoch(seconds: float) -> float:
    """Traccar's rule: a number from 2**31-1 on is milliseconds."""
    return seconds if seconds < 2**31 - 1 else seconds / 1000


def _zone(text: str | None) -> float:
    """Seconds east of UTC of ``Z``/``+hh[:mm]``/``-hhmm``."""
    if not text or text in "Zz":
        return 0.0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)


def set_timestamp(rec: Fields, value: Any) -> None:
    """The fix time from epoch seconds or milliseconds (below 2**31-1 means seconds, as Traccar),
    ISO 8601, or ``yyyy-MM-dd HH:mm:ss`` taken as UTC.

    A value no calendar can show (NaN, infinity, 1e30, beyond year 9999) or a date that names no
    moment (month 13) leaves ``fix_time`` None with ``raw_fix_time`` as sent and the reason; a
    representable time is kept even when absurd (-1, 1970, 2100): the pipeline judges those. Text
    that is no time at all is a BadRequest.
    """
    if isinstance(value, bool):
        raise BadRequest("timestamp must be a number or a date")
    raw = str(value).strip()[:64]
    if isinstance(value, (int, float)):
        seconds = _epoch(float(value))
    else:
        text = str(value).strip()
        when = _DATE_TIME.fullmatch(text)
        if when is not None:
            y, mo, d, h, mi, s = (int(x) for x in when.groups()[:6])
            fraction = float(when[7]) if when[7] else 0.0
            moment = rec.set_time_parts(y, mo, d, h, mi, s + fraction, offset_s=_zone(when[8]), raw=raw)
            if moment is not None and not EARLIEST <= moment <= LATEST:  # a zone pushed it past year 9999
                rec.impossible_time(raw, f"fix time {raw} is outside the years 1-9999")
            return
        if _INT.fullmatch(text):
            seconds = _epoch(float(int(text))) if len(text) <= 30 else math.inf
        else:
            try:
                seconds = _epoch(float(text))
            except ValueError:
                try:
                    seconds = parse_iso_utc(text)
                except (ValueError, OverflowError):
                    raise BadRequest(f"timestamp not understood: {text[:40]!r}") from None
    if not EARLIEST <= seconds <= LATEST:  # NaN fails both comparisons
        rec.impossible_time(raw, f"fix time {raw} is not a time a calendar can show")
        return
    rec.f["fix_time"] = seconds


def flag(value: Any) -> bool:
    """``true``/``1`` as Traccar's ``Boolean.parseBoolean(value) || "1".equals(value)``."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


def scalar(text: str) -> Any:
    """An unknown parameter's value: int, float, bool or the text, as Traccar types it."""
    if _INT.fullmatch(text) and len(text) <= 30:
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
        """Set a position; one out of range is kept for the pipeline, which stores it as raw_lat /
        raw_lon with ``valid = false`` (a 400 would lose what the client sent)."""
        self.f["lat"], self.f["lon"] = lat, lon
