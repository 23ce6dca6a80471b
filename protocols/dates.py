"""One date helper for every codec (Traccar's ``DateBuilder`` idea): calendar parts to epoch seconds.

``calendar.timegm`` normalises what it is given: month 13 becomes next January, 31 April becomes
1 May, hour 24 the next day. A tracker that sends such a date has a broken clock or a corrupt
frame, and storing the normalised moment would hide that behind a plausible time. So every codec
builds its times here, and an impossible date raises :class:`ImpossibleDate`; the codec then keeps
the record with ``fix_time`` None and the date as the device sent it
(:meth:`protocols.record.RecordFields.set_time_parts` does both in one place).
"""

from __future__ import annotations

MIN_YEAR = 1
MAX_YEAR = 9999
"""The years ``datetime`` can represent: every reader of a stored time copes with them."""

_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DAYS_BEFORE_MONTH = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_DAYS_BEFORE_1970 = 719162
"""Days from 0001-01-01 to 1970-01-01, proleptic Gregorian (``date(1970, 1, 1).toordinal() - 1``)."""


class ImpossibleDate(ValueError):
    """Calendar parts that name no moment (month 13, 30 February, hour 24...).

    ``raw`` is the date as the device sent it, written ``YYYY-MM-DD hh:mm:ss`` so it reads as a
    date and never as a number; ``why`` names the part that is impossible.
    """

    def __init__(self, raw: str, why: str) -> None:
        super().__init__(f"{raw} is not a date ({why})")
        self.raw = raw
        self.why = why


def written(year: int, month: int, day: int, hour: int, minute: int, second: float) -> str:
    """The parts as ``YYYY-MM-DD hh:mm:ss`` (whatever their values: this is how they were sent)."""
    if isinstance(second, float) and not second.is_integer():
        sec = f"{second:06.3f}"
    else:
        sec = f"{int(second):02d}"
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{sec}"


def utc_seconds(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: float = 0) -> float:
    """Epoch seconds of a UTC date and time; :class:`ImpossibleDate` if it names no moment.

    A second of 60 is accepted as a leap second (GNSS receivers send it; it counts as the first
    second of the next minute, as POSIX time does). Years run 1-9999, what ``datetime`` holds.
    The count is ``calendar.timegm``'s, done in plain arithmetic: it runs once per record.
    """
    why = None
    leap = False
    if not MIN_YEAR <= year <= MAX_YEAR:
        why = f"year {year}"
    elif not 1 <= month <= 12:
        why = f"month {month}"
    else:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        if not 1 <= day <= _DAYS_IN_MONTH[month] + (month == 2 and leap):
            why = f"day {day} of month {month}" if day > 0 else f"day {day}"
        elif not 0 <= hour <= 23:
            why = f"hour {hour}"
        elif not 0 <= minute <= 59:
            why = f"minute {minute}"
        elif not 0 <= second < 61:
            why = f"second {second:g}"
    if why is not None:
        raise ImpossibleDate(written(year, month, day, hour, minute, second), why)
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month] + (month > 2 and leap) + day - 1
    whole = (days - _DAYS_BEFORE_1970) * 86400 + hour * 3600 + minute * 60
    return float(whole + second)


def utc_seconds_or_none(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: float = 0
) -> float | None:
    """:func:`utc_seconds`, or None for an impossible date (where no record keeps the raw value)."""
    try:
        return utc_seconds(year, month, day, hour, minute, second)
    except ImpossibleDate:
        return None
