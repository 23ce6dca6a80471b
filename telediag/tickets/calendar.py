"""A business calendar: working hours in a time zone, minus public holidays, plus override lists.

SLA due times are counted in business time, so this module turns "N seconds of working time from
instant T" into an instant and back. Everything is pure: epoch seconds (UTC floats) in and out, no
clock reads, so the ticket code can drive it from an injected clock.

Working hours are local wall-clock times. Each local day's opening and closing are converted to UTC
separately, which is what makes daylight saving changes come out right: on the Monday after a
spring-forward change a 09:30-18:00 day still opens at 09:30 local and is still 8.5 h long.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as written in config, in ``date.weekday()`` order."""

MAX_GAP_DAYS = 3660
"""Consecutive days off after which the search gives up (~10 years): no working day exists."""

_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_hours(hours: str) -> tuple[int, int]:
    """``"09:30-18:00"`` -> (opening, closing) in minutes after local midnight; closing may be 24:00."""
    match = _HOURS_RE.match(hours) if isinstance(hours, str) else None
    if match is None:
        raise ValueError(f"working hours must look like '09:30-18:00', got {hours!r}")
    oh, om, ch, cm = (int(g) for g in match.groups())
    if oh > 23 or om > 59 or cm > 59 or ch > 24 or (ch == 24 and cm != 0):
        raise ValueError(f"working hours {hours!r} contain an impossible time of day")
    opening, closing = oh * 60 + om, ch * 60 + cm
    if closing <= opening:
        raise ValueError(f"working hours {hours!r}: closing time must be after opening time")
    return opening, closing


_WEEKDAY_NAMES: dict[str, int] = {
    **{name: i for i, name in enumerate(WEEKDAYS)},
    **{name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                         "saturday", "sunday"))},
}


def parse_workdays(workdays: Iterable[str]) -> frozenset[int]:
    """Weekday names (``"mon"`` or ``"monday"``, any case) -> ``date.weekday()`` numbers."""
    if isinstance(workdays, str):
        raise ValueError(f"workdays must be a list of weekday names, got the string {workdays!r}")
    numbers = set()
    for name in workdays:
        number = _WEEKDAY_NAMES.get(name.strip().lower()) if isinstance(name, str) else None
        if number is None:
            raise ValueError(f"unknown weekday {name!r}; use one of {', '.join(WEEKDAYS)}")
        numbers.add(number)
    return frozenset(numbers)


def load_zone(timezone: str) -> ZoneInfo:
    """An IANA zone, or ValueError naming it (zoneinfo raises KeyError, ValueError or OSError by case)."""
    if not isinstance(timezone, str) or not timezone:
        raise ValueError(f"unknown timezone {timezone!r}")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown timezone {timezone!r}") from exc


def check_holidays(country: str | None, subdivision: str | None = None) -> None:
    """Raise ValueError unless the ``holidays`` package knows this country (and subdivision)."""
    if not country:
        if subdivision:
            raise ValueError("a holidays subdivision needs a holidays country")
        return
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        what = f"country {country!r}" + (f" subdivision {subdivision!r}" if subdivision else "")
        raise ValueError(f"the holidays package does not know {what}") from exc


class BusinessCalendar:
    """Working time: ``hours`` on ``workdays`` in ``timezone``, without public holidays.

    A day is a working day when it is in ``extra_workdays`` (always on, even on a weekend or a
    holiday: Russia moves days off and makes some Saturdays working days), unless it is in
    ``extra_days_off`` (always off). Otherwise public holidays from the ``holidays`` package are off,
    the package's own transferred working weekend days (``weekend_workdays``, e.g. Saturday
    2027-02-20 in Russia) are on, and the rest follows ``workdays``.

    Daylight saving: each working day's window is [opening, closing) in local time, both converted
    to UTC on their own. When the change happens outside that window (the usual case, changes are
    at night) the day has its full nominal length. When it happens inside the window the day is one
    hour shorter (spring) or longer (autumn) in real time, and that real time is what counts. A
    local time that does not exist (in the spring gap) is read with the offset in force before
    the change, and an ambiguous one (autumn) as its first occurrence (PEP 495 ``fold=0``); a
    window that comes out empty that way has no working time.
    """

    def __init__(
        self,
        timezone: str,
        hours: str = "09:30-18:00",
        workdays: Sequence[str] = ("mon", "tue", "wed", "thu", "fri"),
        holidays_country: str | None = "RU",
        extra_days_off: Sequence[date] = (),
        extra_workdays: Sequence[date] = (),
        holidays_subdivision: str | None = None,
    ) -> None:
        self.zone = load_zone(timezone)
        self.timezone = timezone
        self.hours = hours
        self._opening, self._closing = parse_hours(hours)
        self._workdays = parse_workdays(workdays)
        check_holidays(holidays_country, holidays_subdivision)
        self._country = holidays_country or None
        self._subdivision = holidays_subdivision or None
        self._days_off = _dates(extra_days_off, "extra_days_off")
        self._extra_workdays = _dates(extra_workdays, "extra_workdays")
        both = self._days_off & self._extra_workdays
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"dates both in extra_days_off and extra_workdays: {listed}")
        self._years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}

    def __repr__(self) -> str:
        return (f"BusinessCalendar({self.timezone!r}, {self.hours!r}, "
                f"workdays={sorted(self._workdays)}, holidays_country={self._country!r})")

    @property
    def workday_seconds(self) -> float:
        """Nominal length of one working day: closing minus opening (8.5 h for 09:30-18:00)."""
        return float((self._closing - self._opening) * 60)

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (a local calendar date) has working hours at all."""
        if day in self._days_off:
            return False
        if day in self._extra_workdays:
            return True
        public, transferred = self._holidays(day.year)
        if day in public:
            return False
        return day in transferred or day.weekday() in self._workdays

    def window(self, day: date) -> tuple[float, float]:
        """[opening, closing) of ``day`` as epoch seconds, whether or not it is a working day."""
        midnight = datetime(day.year, day.month, day.day)
        opening = (midnight + timedelta(minutes=self._opening)).replace(tzinfo=self.zone).timestamp()
        closing = (midnight + timedelta(minutes=self._closing)).replace(tzinfo=self.zone).timestamp()
        return opening, max(opening, closing)

    def next_opening(self, t: float) -> float:
        """``t`` itself when it is in working hours, else the next instant the business opens.

        Closing time belongs to the next opening: hours are the half-open [opening, closing).
        """
        return self.add(t, 0.0)

    def add(self, start: float, business_seconds: float) -> float:
        """The instant after ``business_seconds`` of working time counted from ``start``.

        Outside hours the count starts at the next opening. A count that ends exactly at closing
        time returns the closing instant, not the next opening. Whole days are skipped one at a
        time (no per-second stepping); ValueError when ~10 years pass without a working day.
        """
        _check_finite(start, "start")
        _check_finite(business_seconds, "business_seconds")
        if business_seconds < 0:
            raise ValueError(f"business_seconds must not be negative, got {business_seconds!r}")
        left = float(business_seconds)
        day = self._local_date(start)
        gap = 0
        while True:
            if self.is_working_day(day):
                opening, closing = self.window(day)
                if start < closing:
                    gap = 0
                    begin = max(start, opening)
                    available = closing - begin
                    if left <= available:
                        return begin + left
                    left -= available
            gap += 1
            if gap > MAX_GAP_DAYS:
                since = day - timedelta(days=gap)
                raise ValueError(f"no working day in the {MAX_GAP_DAYS} days after {since} in {self!r}")
            day += timedelta(days=1)

    def between(self, start: float, end: float) -> float:
        """Working seconds in [start, end); 0 when ``end <= start``."""
        _check_finite(start, "start")
        _check_finite(end, "end")
        if end <= start:
            return 0.0
        total = 0.0
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            if self.is_working_day(day):
                opening, closing = self.window(day)
                overlap = min(closing, end) - max(opening, start)
                if overlap > 0:
                    total += overlap
            day += timedelta(days=1)
        return total

    def _local_date(self, t: float) -> date:
        return datetime.fromtimestamp(t, self.zone).date()

    def _holidays(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """(public holidays, transferred working weekend days) of one year, built on first use."""
        cached = self._years.get(year)
        if cached is None:
            if self._country is None:
                cached = (frozenset(), frozenset())
            else:
                table = holidays.country_holidays(self._country, subdiv=self._subdivision, years=year)
                transferred = getattr(table, "weekend_workdays", ()) or ()
                cached = (frozenset(table.keys()), frozenset(d for d in transferred if d.year == year))
            self._years[year] = cached
        return cached


def _dates(values: Sequence[date], name: str) -> frozenset[date]:
    """A set of plain dates; datetimes and strings are refused so a wrong type fails loudly."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a list of dates, got {values!r}")
    out = set()
    for value in values:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValueError(f"{name} must hold dates, got {value!r}")
        out.add(value)
    return frozenset(out)


def _check_finite(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
