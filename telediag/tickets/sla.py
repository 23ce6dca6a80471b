"""SLA targets and due times: the ``[sla]`` config table, due instants, pauses and breaches.

Targets are in working days, and "N working days" means N times the length of the working hours in
business time from creation (DESIGN.md), not "the same time N working days later": a ticket created
an hour before closing with a 1-day target is due an hour before closing on the next working day.
Pure functions over epoch seconds, so the periodic sweep and the tests share one clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Mapping

from telediag.tickets.calendar import BusinessCalendar, check_holidays, load_zone, parse_hours, parse_workdays

DEFAULT_TOPICS: Mapping[str, float] = MappingProxyType({
    "critical_server_failure": 1,
    "stolen_vehicle": 1,
    "accounts_permissions": 2,
    "data_update": 2,
    "system_reports": 2,
    "scheduled_reports_notifications": 2,
    "consultation": 5,
    "remote_diagnostics": 5,
    "violations_check": 5,
})
"""Resolution targets in working days, the support desk's list (issue 4) as the default."""

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"


class SlaConfigError(ValueError):
    """The ``[sla]`` table cannot be used; the message names the key and says why."""


@dataclass(frozen=True)
class SlaConfig:
    """The ``[sla]`` table with its defaults (the SKAI regime: Moscow office hours, RU holidays)."""

    timezone: str = "Europe/Moscow"
    hours: str = "09:30-18:00"
    workdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    holidays_country: str | None = "RU"
    """``None`` (``""`` in TOML) for no public holidays."""
    holidays_subdivision: str | None = None
    extra_days_off: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()
    first_response_days: float = 1
    topics: Mapping[str, float] = field(default_factory=lambda: DEFAULT_TOPICS, hash=False)
    """Topic -> resolution target in working days (defaults plus whatever the table adds)."""

    def calendar(self) -> BusinessCalendar:
        """The business calendar these settings describe, built once per config (holidays are cached in it)."""
        cached = self.__dict__.get("_calendar")
        if cached is None:
            cached = BusinessCalendar(
                self.timezone, self.hours, self.workdays, self.holidays_country,
                self.extra_days_off, self.extra_workdays, self.holidays_subdivision,
            )
            object.__setattr__(self, "_calendar", cached)
        return cached

    def resolution_days(self, topic: str) -> float:
        """The resolution target of ``topic``; KeyError naming the known topics otherwise."""
        try:
            return self.topics[topic]
        except KeyError:
            known = ", ".join(sorted(self.topics))
            raise KeyError(f"unknown SLA topic {topic!r}; known topics: {known}") from None


_SCALARS = ("timezone", "hours", "holidays_country", "holidays_subdivision")
_KEYS = set(_SCALARS) | {"workdays", "extra_days_off", "extra_workdays", "first_response_days", "topics"}


def parse_sla(raw: Mapping[str, Any]) -> SlaConfig:
    """An SlaConfig from the parsed ``[sla]`` table; unknown keys and bad values name the key."""
    if not isinstance(raw, Mapping):
        raise SlaConfigError(f"[sla] must be a table, got {raw!r}")
    for key in raw:
        if key not in _KEYS:
            raise SlaConfigError(f"[sla] has no key {key!r}; known keys: {', '.join(sorted(_KEYS))}")
    values: dict[str, Any] = {}
    for key in _SCALARS:
        if key in raw:
            if not isinstance(raw[key], str):
                raise SlaConfigError(f"[sla] {key} must be a string, got {raw[key]!r}")
            values[key] = raw[key]
    if "holidays_country" in values:
        values["holidays_country"] = values["holidays_country"] or None
    if "holidays_subdivision" in values:
        values["holidays_subdivision"] = values["holidays_subdivision"] or None
    if "workdays" in raw:
        if not isinstance(raw["workdays"], list) or not all(isinstance(d, str) for d in raw["workdays"]):
            raise SlaConfigError(f"[sla] workdays must be a list of weekday names, got {raw['workdays']!r}")
        values["workdays"] = tuple(raw["workdays"])
    for key in ("extra_days_off", "extra_workdays"):
        if key in raw:
            values[key] = _iso_dates(raw[key], key)
    if "first_response_days" in raw:
        values["first_response_days"] = _days(raw["first_response_days"], "first_response_days")
    if "topics" in raw:
        topics = raw["topics"]
        if not isinstance(topics, Mapping):
            raise SlaConfigError(f"[sla] topics must be a table of topic = working days, got {topics!r}")
        merged = dict(DEFAULT_TOPICS)
        for topic, days in topics.items():
            merged[topic] = _days(days, f"topics.{topic}")
        values["topics"] = MappingProxyType(merged)
    config = SlaConfig(**values)
    _check_calendar(config)
    return config


def _check_calendar(config: SlaConfig) -> None:
    """Refuse what the calendar would refuse, but with the key named."""
    checks = (
        ("timezone", lambda: load_zone(config.timezone)),
        ("hours", lambda: parse_hours(config.hours)),
        ("workdays", lambda: parse_workdays(config.workdays)),
        ("holidays_country", lambda: check_holidays(config.holidays_country, config.holidays_subdivision)),
        ("extra_workdays", config.calendar),
    )
    for key, check in checks:
        try:
            check()
        except ValueError as exc:
            raise SlaConfigError(f"[sla] {key}: {exc}") from exc


def _iso_dates(value: Any, key: str) -> tuple[date, ...]:
    """TOML gives bare dates as ``date`` and quoted ones as strings; both are accepted."""
    if not isinstance(value, list):
        raise SlaConfigError(f"[sla] {key} must be a list of ISO dates, got {value!r}")
    out = []
    for item in value:
        if isinstance(item, str):
            try:
                item = date.fromisoformat(item)
            except ValueError:
                raise SlaConfigError(f"[sla] {key} must hold ISO dates like 2026-03-14, got {item!r}") from None
        elif not isinstance(item, date) or isinstance(item, datetime):
            raise SlaConfigError(f"[sla] {key} must hold ISO dates like 2026-03-14, got {item!r}")
        out.append(item)
    return tuple(out)


def _days(value: Any, key: str) -> float:
    """A target in working days: an int or float above zero (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise SlaConfigError(f"[sla] {key} must be a number of working days above 0, got {value!r}")
    return value


def due_times(
    config: SlaConfig,
    calendar: BusinessCalendar,
    topic: str,
    created_at: float,
    paused_business_s: float = 0.0,
) -> tuple[float, float]:
    """(first response due, resolution due) of a ticket on ``topic`` created at ``created_at``.

    Time spent waiting for the customer (``paused_business_s``, business seconds) pushes only the
    resolution due time: the first response is owed regardless.
    """
    resolution_days = config.resolution_days(topic)
    if paused_business_s < 0:
        raise ValueError(f"paused_business_s must not be negative, got {paused_business_s!r}")
    day = calendar.workday_seconds
    first = calendar.add(created_at, config.first_response_days * day)
    resolution = calendar.add(created_at, resolution_days * day + paused_business_s)
    return first, resolution


def pause_business_seconds(calendar: BusinessCalendar, paused_since: float, resumed_at: float) -> float:
    """Business time a pause covered: a weekend spent waiting for the customer costs nothing."""
    return calendar.between(paused_since, resumed_at)


def breaches(
    now: float,
    first_response_due: float,
    first_response_at: float | None,
    resolution_due: float,
    resolved_at: float | None,
    paused: bool,
) -> list[str]:
    """Which of ``"first_response"``, ``"resolution"`` are breached at ``now``.

    Meeting a target exactly at its due instant is on time. A ticket waiting for the customer does
    not breach its resolution target while paused (its due time moves when it resumes); a breach
    that happened before the pause is the sweep's to have recorded already.
    """
    found = []
    if (first_response_at if first_response_at is not None else now) > first_response_due:
        found.append(FIRST_RESPONSE)
    if resolved_at is not None:
        if resolved_at > resolution_due:
            found.append(RESOLUTION)
    elif not paused and now > resolution_due:
        found.append(RESOLUTION)
    return found
