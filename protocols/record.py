"""The normalised record every codec maps its protocol's data into.

Field names and units are the contract of DESIGN.md ("Normalised record"). Unknown values are None,
never 0. Times are float seconds since the Unix epoch, UTC; they become ISO 8601 strings only at the
edges (CLI, API) through :func:`iso_utc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Self, cast

from protocols.dates import ImpossibleDate, utc_seconds

_NO_ATTRIBUTES: Any = object()
"""Default of ``Record(attributes=...)``: each record gets a new empty dict."""
_set = object.__setattr__


@dataclass(frozen=True, slots=True, init=False)
class Record:
    """One report from one device: a position fix, a status/heartbeat or an event.

    Immutable (assigning a field raises ``FrozenInstanceError``) and still cheap to build: every
    codec builds one per record on the per-packet path. The dataclass's own frozen ``__init__``
    sets each field through ``object.__setattr__`` (2.1 µs for 21 fields); this one assigns them
    while the instance is a :class:`_Building`, a subclass with the same slots and plain
    assignment, and then makes it a Record (0.6 µs).
    """

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

    def __init__(
        self,
        imei: str | None,
        protocol: str,
        fix_time: float | None,
        valid: bool | None = None,
        lat: float | None = None,
        lon: float | None = None,
        altitude_m: float | None = None,
        speed_kmh: float | None = None,
        course_deg: float | None = None,
        satellites: int | None = None,
        hdop: float | None = None,
        ignition: bool | None = None,
        motion: bool | None = None,
        ext_voltage_v: float | None = None,
        battery_voltage_v: float | None = None,
        gsm_signal_pct: int | None = None,
        operator: int | None = None,
        roaming: bool | None = None,
        odometer_m: float | None = None,
        event: str | None = None,
        attributes: dict[str, Any] = _NO_ATTRIBUTES,
    ) -> None:
        cls = type(self)
        if cls is not Record:  # a subclass (with slots of its own, maybe): field by field
            for name, value in zip(RECORD_FIELDS, (
                imei, protocol, fix_time, valid, lat, lon, altitude_m, speed_kmh, course_deg,
                satellites, hdop, ignition, motion, ext_voltage_v, battery_voltage_v,
                gsm_signal_pct, operator, roaming, odometer_m, event,
                {} if attributes is _NO_ATTRIBUTES else attributes,
            ), strict=True):
                _set(self, name, value)
            return
        _set(self, "__class__", _Building)
        building = cast(_Building, self)
        building.imei = imei
        building.protocol = protocol
        building.fix_time = fix_time
        building.valid = valid
        building.lat = lat
        building.lon = lon
        building.altitude_m = altitude_m
        building.speed_kmh = speed_kmh
        building.course_deg = course_deg
        building.satellites = satellites
        building.hdop = hdop
        building.ignition = ignition
        building.motion = motion
        building.ext_voltage_v = ext_voltage_v
        building.battery_voltage_v = battery_voltage_v
        building.gsm_signal_pct = gsm_signal_pct
        building.operator = operator
        building.roaming = roaming
        building.odometer_m = odometer_m
        building.event = event
        building.attributes = {} if attributes is _NO_ATTRIBUTES else attributes
        self.__class__ = Record


class _Building(Record):
    """A Record while ``Record.__init__`` fills it: the same slots, assignable (both slots of the
    frozen class, ``__setattr__`` and ``__delattr__``, are plain again, so assignment is direct).
    The fields are declared again, without values, so that a type checker knows them assignable."""

    __slots__ = ()
    imei: str | None
    protocol: str
    fix_time: float | None
    valid: bool | None
    lat: float | None
    lon: float | None
    altitude_m: float | None
    speed_kmh: float | None
    course_deg: float | None
    satellites: int | None
    hdop: float | None
    ignition: bool | None
    motion: bool | None
    ext_voltage_v: float | None
    battery_voltage_v: float | None
    gsm_signal_pct: int | None
    operator: int | None
    roaming: bool | None
    odometer_m: float | None
    event: str | None
    attributes: dict[str, Any]
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__


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
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso_utc(text: str) -> float:
    """Seconds since the epoch from an ISO 8601 time; a time without zone is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def operator_code(mcc: int, mnc: int, mnc_digits: int = 2) -> int:
    """MCC and MNC as one integer (26001 for MCC 260, MNC 01; 310260 for a 3-digit MNC)."""
    if mnc_digits == 3 or mnc >= 100:
        return mcc * 1000 + mnc
    return mcc * 100 + mnc


RAW_FIX_TIME = "raw_fix_time"
"""Attribute that keeps a fix time the device sent which names no moment (month 13, hour 24...)."""
INVALID_REASON = "invalid_reason"
"""Attribute that says, in words, why a record is not a valid fix ("; " between several reasons)."""
RAW_MESSAGE_LIMIT = 1024
"""Characters of an undecoded message kept in ``raw_message`` (hex counts two per byte)."""


class RecordFields:
    """A record being built by a decoder: ``f`` holds Record keyword fields, ``a`` raw attributes.

    The one record builder of every codec that reads calendar dates. Each protocol subclasses it
    with its ``protocol`` name; decoders fill the two dicts as they read a frame and call
    :meth:`build` once the frame is complete. Times go through :meth:`set_time_parts`, which refuses
    impossible dates in one place for every codec; alarms go through :meth:`alarm`.
    """

    __slots__ = ("f", "a", "alarms")
    protocol: str = ""

    def __init__(self) -> None:
        self.f: dict[str, Any] = {}
        self.a: dict[str, Any] = {}
        self.alarms: list[str] = []
        """Alarms in the order the frame raised them (Traccar's ``addAlarm``), for :meth:`fields`."""

    def alarm(self, name: str | None) -> None:
        """Add an alarm once; None (a code no table names) adds nothing."""
        if name is not None and name not in self.alarms:
            self.alarms.append(name)

    def set_time_parts(
        self,
        year: int,
        month: int,
        day: int,
        hour: int = 0,
        minute: int = 0,
        second: float = 0,
        *,
        offset_s: float = 0,
        key: str = "fix_time",
        raw: str | None = None,
    ) -> float | None:
        """Store a UTC time from calendar parts (minus ``offset_s``, the device's zone) in ``key``.

        ``key`` is ``fix_time`` or an attribute (``device_time``: when a report without a fix was
        made). All parts zero (``00-00-00 00:00:00``, a year 2000 or 0 included) is a device
        without a time yet: unknown, not impossible. An impossible date is kept as the device sent
        it (:meth:`impossible_time`) and None is returned, so the record is stored, never dropped,
        and never with a made-up time.
        ``raw`` replaces the ``YYYY-MM-DD hh:mm:ss`` form when the parts do not show what was sent
        (BCD bytes with a nibble above 9, say).
        """
        if not (year % 100 or month or day or hour or minute or second):
            if key == "fix_time":
                self.f["fix_time"] = None
            return None
        try:
            moment = utc_seconds(year, month, day, hour, minute, second) - offset_s
        except ImpossibleDate as error:
            self.impossible_time(raw or error.raw, key=key)
            return None
        if key == "fix_time":
            self.f["fix_time"] = moment
        else:
            self.a[key] = moment
        return moment

    def impossible_time(self, raw: str, reason: str | None = None, key: str = "fix_time") -> None:
        """A time that names no moment: kept raw in ``raw_<key>``, with the reason.

        For the fix time the record also becomes ``fix_time = None`` and ``valid = False``
        (enforced again by :meth:`build`, so a decoder setting ``valid`` afterwards cannot undo it).
        """
        label = key.replace("_", " ")
        self.a["raw_" + key] = raw
        self.add_reason(reason or f"{label} {raw} is not a date")
        if key == "fix_time":
            self.f["fix_time"] = None
            self.f["valid"] = False

    def add_reason(self, reason: str) -> None:
        """Append to ``invalid_reason`` ("; " between reasons)."""
        previous = self.a.get(INVALID_REASON)
        self.a[INVALID_REASON] = f"{previous}; {reason}" if previous else reason

    def keep_raw(self, message_type: str, raw: bytes | str) -> Self:
        """A message this codec has no layout for: its type and content kept, with no fix.

        Stored rather than dropped or counted as an error: the device spoke its protocol (a
        vendor extension, a report Traccar does not decode either), so it is alive, and the raw
        content can be decoded later. ``raw`` bytes are kept as hex.
        """
        text = raw if isinstance(raw, str) else raw.hex()
        self.a["message_type"] = message_type
        self.a["raw_message"] = text[:RAW_MESSAGE_LIMIT]
        if len(text) > RAW_MESSAGE_LIMIT:
            self.a["raw_message_length"] = len(text)
        return self

    def fields(self) -> dict[str, Any]:
        """The Record keyword fields, with the rules every codec shares applied.

        An impossible fix time is never a valid fix. Alarms: the first becomes ``event``; when a
        frame raised several, ``alarms`` lists them all (``event`` alone would hide the others).
        """
        f = self.f
        f.setdefault("fix_time", None)
        if RAW_FIX_TIME in self.a:
            f["fix_time"] = None
            f["valid"] = False
        alarms = self.alarms
        if alarms:
            f["event"] = alarms[0]
            if len(alarms) > 1:
                self.a["alarms"] = ",".join(alarms)
        return f

    def build(self, imei: str | None) -> Record:
        """The immutable record for device ``imei`` (None before the device identified itself)."""
        return Record(imei=imei, protocol=self.protocol, attributes=self.a, **self.fields())
