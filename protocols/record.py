"""The normalised record every codec maps its protocol's data into.

Field names and units are the contract of DESIGN.md ("Normalised record"). Unknown values are None,
never 0. Times are float seconds since the Unix epoch, UTC; they become ISO 8601 strings only at the
edges (CLI, API) through :func:`iso_utc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    """One report from one device: a position fix, a status/heartbeat or an event."""

    imei: str | None
    protocol: str
    fix_time: float | None
    valid: bool | None = None
    lat: float | None = None
    lon: float | None = None
    altitude_m: float | None = None
    speed_kmh: float | None = None
    course_deg: float | None = None
    satellites: int | None = None
    hdop: float | None = None
    ignition: bool | None = None
    motion: bool | None = None
    ext_voltage_v: float | None = None
    battery_voltage_v: float | None = None
    gsm_signal_pct: int | None = None
    operator: int | None = None
    roaming: bool | None = None
    odometer_m: float | None = None
    event: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Record))
"""Field names in contract order (``server_time`` is added by the store, after ``fix_time``)."""


def iso_utc(seconds: float | None) -> str | None:
    """ISO 8601 UTC with a ``Z`` and milliseconds, as the record contract writes times.

    Total: a value no calendar can show (NaN, infinity, beyond year 9999) is None, so one absurd
    stored time can never fail a listing, an export or a page.
    """
    if seconds is None:
        return None
    try:
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso_utc(text: str) -> float:
    """Seconds since the epoch from an ISO 8601 time; a time without zone is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def operator_code(mcc: int, mnc: int, mnc_digits: int = 2) -> int:
    """MCC and MNC as one integer (26001 for MCC 260, MNC 01; 310260 for a 3-digit MNC)."""
    if mnc_digits == 3 or mnc >= 100:
        return mcc * 1000 + mnc
    return mcc * 100 + mnc


class RecordFields:
    """A record being built by a decoder: ``f`` holds Record keyword fields, ``a`` raw attributes.

    Each protocol subclasses it with its ``protocol`` name; decoders fill the two dicts as they read
    a frame and call :meth:`build` once the frame is complete.
    """

    __slots__ = ("f", "a")
    protocol: str = ""

    def __init__(self) -> None:
        self.f: dict[str, Any] = {}
        self.a: dict[str, Any] = {}

    def build(self, imei: str | None) -> Record:
        """The immutable record for device ``imei`` (None before the device identified itself)."""
        self.f.setdefault("fix_time", None)
        return Record(imei=imei, protocol=self.protocol, attributes=self.a, **self.f)
