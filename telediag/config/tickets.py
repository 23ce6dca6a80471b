"""``[tickets]`` (automation) and ``[sla]`` with ``[sla.topics]`` (the business calendar and targets)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from telediag.config.schema import Positive, PositiveInt, Section
from telediag.tickets.calendar import BusinessCalendar, check_holidays, load_zone, parse_hours, parse_workdays


@dataclass(frozen=True)
class TicketsConfig(Section):
    """Ticket automation settings; every key has a working default."""

    reopen_window_s: Positive = 7 * 86400.0
    """A finding that comes back within this long after its ticket was resolved reopens that ticket."""
    auto_close_s: Positive = 86400.0
    """A resolved ticket nobody disputes closes by itself after this long."""
    mass_outage_min_devices: PositiveInt = 10
    mass_outage_window_s: Positive = 1800.0
    """This many devices sharing an operator, APN or area whose failures began within the window make one
    outage (when each failure began: its onset, not when a sweep noticed it)."""
    mass_outage_lookback_s: Positive = 12 * 3600.0
    """Failures that began longer ago than this are not correlated any more: by then each has its own
    ticket, and a restart that finds old failures does not turn them into news."""
    area_grid_deg: Positive = 0.5
    """Size of the grid cell that counts as one area for outage correlation."""
    sweep_interval_s: Positive = 60.0
    """How often SLA breaches, auto-close and outage correlation are checked."""


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


@dataclass(frozen=True)
class SlaConfig(Section):
    """The ``[sla]`` table with its defaults (the SKAI regime: Moscow office hours, RU holidays).

    ``topics`` holds the defaults plus whatever ``[sla.topics]`` adds or changes.
    """

    timezone: str = "Europe/Moscow"
    hours: str = "09:30-18:00"
    workdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    holidays_country: str | None = "RU"
    """``None`` (``""`` in TOML) for no public holidays."""
    holidays_subdivision: str | None = None
    extra_days_off: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()
    first_response_days: Positive = 1.0
    topics: Mapping[str, Positive] = field(default_factory=lambda: DEFAULT_TOPICS, hash=False)
    """Topic -> resolution target in working days."""

    def check(self) -> None:
        object.__setattr__(self, "holidays_country", self.holidays_country or None)
        object.__setattr__(self, "holidays_subdivision", self.holidays_subdivision or None)
        for topic, days in self.topics.items():
            if not math.isfinite(days):
                raise ValueError(f"topics.{topic} must be a finite number of working days, got {days!r}")
        object.__setattr__(self, "topics", MappingProxyType({**DEFAULT_TOPICS, **self.topics}))
        steps = (
            ("timezone", lambda: load_zone(self.timezone)),
            ("hours", lambda: parse_hours(self.hours)),
            ("workdays", lambda: parse_workdays(self.workdays)),
            ("holidays_country", lambda: check_holidays(self.holidays_country, self.holidays_subdivision)),
            ("extra_workdays", self.calendar),
        )
        for key, step in steps:
            try:
                step()
            except ValueError as error:
                raise ValueError(f"{key}: {error}") from None

    def calendar(self) -> BusinessCalendar:
        """The business calendar these settings describe, built once (holidays are cached in it)."""
        cached = self.__dict__.get("_calendar")
        if cached is None:
            cached = self.__dict__["_calendar"] = BusinessCalendar(
                self.timezone, self.hours, self.workdays, self.holidays_country,
                self.extra_days_off, self.extra_workdays, self.holidays_subdivision,
            )
        return cached

    def resolution_days(self, topic: str) -> float:
        """The resolution target of ``topic``; KeyError naming the known topics otherwise."""
        try:
            return self.topics[topic]
        except KeyError:
            known = ", ".join(sorted(self.topics))
            raise KeyError(f"unknown SLA topic {topic!r}; known topics: {known}") from None
