"""Business calendar: hand-computed working-time sums, DST, overrides, validation, properties."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telediag.tickets.calendar import BusinessCalendar

H = 3600.0
MOSCOW = "Europe/Moscow"
WARSAW = "Europe/Warsaw"


def at(local: str, zone: str = MOSCOW) -> float:
    """Epoch seconds of a local wall-clock time, e.g. ``at("2026-03-13 17:00")``."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).timestamp()


def local(t: float, zone: str = MOSCOW) -> str:
    """A result back as local wall-clock time, so expectations read like the hand computation."""
    return datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def utc(t: float) -> str:
    return local(t, "UTC")


@pytest.fixture(scope="module")
def moscow() -> BusinessCalendar:
    return BusinessCalendar(MOSCOW)


def test_defaults_are_the_skai_day(moscow: BusinessCalendar) -> None:
    assert moscow.workday_seconds == 8.5 * H
    assert moscow.is_working_day(date(2026, 3, 13))  # a Friday
    assert not moscow.is_working_day(date(2026, 3, 14))  # Saturday
    assert not moscow.is_working_day(date(2026, 6, 12))  # Russia Day


def test_russian_new_year_as_the_holidays_package_has_it() -> None:
    """The New Year case below rests on these dates; if a new package release changes them, see here first.

    2026-12-31 is a day off transferred from Sunday 2026-01-04; 2027-01-01..08 are the New Year
    holidays and Christmas; 2027-01-09/10 are an ordinary weekend. Saturday 2027-02-20 is a working
    day, its day off moved to Monday 2027-02-22.
    """
    ru = holidays.country_holidays("RU", years=[2026, 2027])
    assert "substituted" in ru[date(2026, 12, 31)]
    assert all(date(2027, 1, d) in ru for d in range(1, 9))
    assert date(2027, 1, 11) not in ru
    assert date(2027, 2, 22) in ru
    assert date(2027, 2, 20) in holidays.country_holidays("RU", years=2027).weekend_workdays


# (case, start local, business hours, expected local). Moscow, 09:30-18:00 Mon-Fri, RU holidays.
MOSCOW_CASES = [
    # Friday 17:00, one working day (8.5 h): 1 h on Friday up to 18:00, then 7.5 h from Monday 09:30.
    ("friday evening", "2026-03-13 17:00", 8.5, "2026-03-16 17:00"),
    # Friday 19:00 is after closing: the count starts Monday 09:30, and 8.5 h end at closing, 18:00.
    ("friday after hours", "2026-03-13 19:00", 8.5, "2026-03-16 18:00"),
    # Saturday: same, the count starts at Monday's opening.
    ("saturday", "2026-03-14 12:00", 8.5, "2026-03-16 18:00"),
    # Before opening on a working day: the count starts at 09:30 that day; 1 h -> 10:30.
    ("before opening", "2026-03-16 07:00", 1, "2026-03-16 10:30"),
    # Thursday 2026-06-11 14:00, 1 day: 4 h to 18:00; Friday 06-12 is Russia Day, then the weekend;
    # 4.5 h from Monday 06-15 09:30 -> 14:00.
    ("before Russia Day, 1 day", "2026-06-11 14:00", 8.5, "2026-06-15 14:00"),
    # Same with 2 days (17 h): 4 h Thursday + 8.5 h Monday + 4.5 h Tuesday 06-16 -> 14:00.
    ("before Russia Day, 2 days", "2026-06-11 14:00", 17, "2026-06-16 14:00"),
    # Wednesday 2026-12-30 16:00, 2 days (17 h): 2 h on Wednesday; Thursday 12-31 is a transferred day
    # off; 2027-01-01..08 New Year holidays; 01-09/10 weekend; Monday 01-11 8.5 h (10.5 h so far);
    # the last 6.5 h on Tuesday 01-12 from 09:30 -> 16:00.
    ("New Year, 2 days", "2026-12-30 16:00", 17, "2027-01-12 16:00"),
    # Same ticket's first response (1 day): 2 h Wednesday + 6.5 h Monday 2027-01-11 -> 16:00.
    ("New Year, 1 day", "2026-12-30 16:00", 8.5, "2027-01-11 16:00"),
    # Friday 2027-02-19 17:00: Saturday 02-20 is a working Saturday in the package's RU calendar
    # (its day off moved to Monday 02-22). 1 h Friday + 7.5 h Saturday -> 17:00 Saturday.
    ("RU working Saturday, 1 day", "2027-02-19 17:00", 8.5, "2027-02-20 17:00"),
    # 2 days: 1 h Fri + 8.5 h Sat; Monday 02-22 (transferred) and Tuesday 02-23 (Defender Day) off;
    # the last 7.5 h on Wednesday 02-24 -> 17:00.
    ("RU working Saturday, 2 days", "2027-02-19 17:00", 17, "2027-02-24 17:00"),
    # Counting exactly to closing returns the closing instant, not the next opening.
    ("ends at closing", "2026-03-16 09:30", 8.5, "2026-03-16 18:00"),
    # Zero from inside hours is the start itself; zero at closing is the next opening.
    ("zero inside hours", "2026-03-16 12:00", 0, "2026-03-16 12:00"),
    ("zero at closing", "2026-03-16 18:00", 0, "2026-03-17 09:30"),
]


@pytest.mark.parametrize(("start", "hours", "expected"), [c[1:] for c in MOSCOW_CASES],
                         ids=[c[0] for c in MOSCOW_CASES])
def test_moscow_hand_computed(moscow: BusinessCalendar, start: str, hours: float, expected: str) -> None:
    due = moscow.add(at(start), hours * H)
    assert local(due) == expected
    assert moscow.between(at(start), due) == pytest.approx(hours * H)


def test_dst_spring_forward_warsaw() -> None:
    """Friday 2026-03-27 15:00 CET (14:00 UTC), 1 working day, Warsaw, PL holidays.

    3 h on Friday to 18:00; clocks go forward on Sunday 03-29; 5.5 h from Monday 09:30 CEST -> 15:00
    CEST = 13:00 UTC. Same local time, but only 71 h of real time later, not 72.
    """
    warsaw = BusinessCalendar(WARSAW, holidays_country="PL")
    start = at("2026-03-27 15:00", WARSAW)
    assert utc(start) == "2026-03-27 14:00"
    due = warsaw.add(start, 8.5 * H)
    assert local(due, WARSAW) == "2026-03-30 15:00"
    assert utc(due) == "2026-03-30 13:00"
    assert due - start == 71 * H
    assert warsaw.between(start, due) == 8.5 * H


def test_dst_fall_back_warsaw() -> None:
    """Friday 2026-10-23 15:00 CEST (13:00 UTC); clocks go back on 10-25; due Monday 15:00 CET = 14:00 UTC."""
    warsaw = BusinessCalendar(WARSAW, holidays_country="PL")
    due = warsaw.add(at("2026-10-23 15:00", WARSAW), 8.5 * H)
    assert local(due, WARSAW) == "2026-10-26 15:00"
    assert utc(due) == "2026-10-26 14:00"


def test_dst_change_inside_the_working_hours() -> None:
    """A window that contains the change counts its real length, as the class docstring says.

    01:00-05:00 on Sunday 2026-03-29 (02:00 CET -> 03:00 CEST) is 3 real hours; on Sunday
    2026-10-25 (03:00 CEST -> 02:00 CET) it is 5. A 02:30-03:00 window falls in the spring gap: empty.
    """
    night = BusinessCalendar(WARSAW, hours="01:00-05:00", workdays=["sun"], holidays_country=None)
    assert night.between(at("2026-03-29 00:00", WARSAW), at("2026-03-30 00:00", WARSAW)) == 3 * H
    assert night.between(at("2026-10-25 00:00", WARSAW), at("2026-10-26 00:00", WARSAW)) == 5 * H
    assert night.between(at("2026-03-22 00:00", WARSAW), at("2026-03-23 00:00", WARSAW)) == 4 * H
    gap = BusinessCalendar(WARSAW, hours="02:30-03:00", workdays=["sun"], holidays_country=None)
    assert gap.between(at("2026-03-29 00:00", WARSAW), at("2026-03-30 00:00", WARSAW)) == 0
    # the count skips the empty Sunday and ends on the next one, 04-05, at 02:30 + 10 min
    assert local(gap.add(at("2026-03-28 12:00", WARSAW), 600), WARSAW) == "2026-04-05 02:40"


def test_two_time_zones_same_instant() -> None:
    """2026-05-13 13:00 UTC is Wednesday 16:00 in Moscow and 15:00 CEST in Stockholm; 1 working day.

    Moscow: 2 h Wednesday + 6.5 h Thursday 05-14 -> 16:00 MSK = 13:00 UTC Thursday.
    Stockholm: 3 h Wednesday; Thursday 05-14 is Ascension Day in Sweden (not in Russia);
    5.5 h Friday 05-15 -> 15:00 CEST = 13:00 UTC Friday, a day later for the same instant.
    """
    start = datetime(2026, 5, 13, 13, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    moscow = BusinessCalendar(MOSCOW)
    stockholm = BusinessCalendar("Europe/Stockholm", holidays_country="SE")
    assert local(moscow.add(start, 8.5 * H)) == "2026-05-14 16:00"
    assert utc(moscow.add(start, 8.5 * H)) == "2026-05-14 13:00"
    assert local(stockholm.add(start, 8.5 * H), "Europe/Stockholm") == "2026-05-15 15:00"
    assert utc(stockholm.add(start, 8.5 * H)) == "2026-05-15 13:00"


def test_extra_days_off_and_working_saturday() -> None:
    # Monday 2026-03-16 declared off: Friday 17:00 + 1 day = 1 h Fri + 7.5 h Tuesday 03-17 -> 17:00.
    off = BusinessCalendar(MOSCOW, extra_days_off=[date(2026, 3, 16)])
    assert local(off.add(at("2026-03-13 17:00"), 8.5 * H)) == "2026-03-17 17:00"
    # Saturday 2026-03-14 declared a working day: 1 h Fri + 7.5 h Saturday -> 17:00 Saturday.
    sat = BusinessCalendar(MOSCOW, extra_workdays=[date(2026, 3, 14)])
    assert sat.is_working_day(date(2026, 3, 14))
    assert local(sat.add(at("2026-03-13 17:00"), 8.5 * H)) == "2026-03-14 17:00"
    # an extra working day wins over a public holiday too (Russia Day 2026-06-12)
    assert BusinessCalendar(MOSCOW, extra_workdays=[date(2026, 6, 12)]).is_working_day(date(2026, 6, 12))
    # and a day off wins over a transferred working Saturday of the package
    assert not BusinessCalendar(MOSCOW, extra_days_off=[date(2027, 2, 20)]).is_working_day(date(2027, 2, 20))


def test_next_opening(moscow: BusinessCalendar) -> None:
    assert local(moscow.next_opening(at("2026-03-13 19:00"))) == "2026-03-16 09:30"
    assert local(moscow.next_opening(at("2026-03-16 09:00"))) == "2026-03-16 09:30"
    assert moscow.next_opening(at("2026-03-16 11:00")) == at("2026-03-16 11:00")


def test_between(moscow: BusinessCalendar) -> None:
    assert moscow.between(at("2026-03-13 17:00"), at("2026-03-16 17:00")) == 8.5 * H
    assert moscow.between(at("2026-03-14 00:00"), at("2026-03-15 23:00")) == 0  # a weekend
    assert moscow.between(at("2026-03-16 12:00"), at("2026-03-16 11:00")) == 0  # end before start
    # whole year 2026: 247 working days in the Russian production calendar, 8.5 h each
    assert moscow.between(at("2026-01-01 00:00"), at("2027-01-01 00:00")) == 247 * 8.5 * H


def test_long_span_is_exact_and_quick(moscow: BusinessCalendar) -> None:
    start = at("2026-01-01 00:00")
    due = moscow.add(start, 2500 * 8.5 * H)  # about ten years of working days
    assert moscow.between(start, due) == 2500 * 8.5 * H


def test_24_00_closing() -> None:
    allday = BusinessCalendar("UTC", hours="00:00-24:00", workdays=["sat", "sun"], holidays_country=None)
    assert allday.workday_seconds == 24 * H
    assert local(allday.add(at("2026-03-13 12:00", "UTC"), 30 * H), "UTC") == "2026-03-15 06:00"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hours": "9-18"}, "must look like"),
    ({"hours": "18:00-09:30"}, "closing time must be after opening"),
    ({"hours": "09:30-09:30"}, "closing time must be after opening"),
    ({"hours": "25:00-26:00"}, "impossible time"),
    ({"workdays": ["mon", "fry"]}, "unknown weekday 'fry'"),
    ({"workdays": "mon"}, "list of weekday names"),
    ({"timezone": "Europe/Atlantis"}, "unknown timezone"),
    ({"timezone": "Europe"}, "unknown timezone"),
    ({"holidays_country": "XX"}, "does not know country 'XX'"),
    ({"holidays_country": "RU", "holidays_subdivision": "ZZ"}, "subdivision 'ZZ'"),
    ({"extra_days_off": ["2026-03-16"]}, "extra_days_off must hold dates"),
    ({"extra_days_off": [date(2026, 3, 14)], "extra_workdays": [date(2026, 3, 14)]}, "both in"),
])
def test_validation(kwargs: dict, message: str) -> None:
    args = {"timezone": MOSCOW, **kwargs}
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**args)


def test_no_working_day_at_all() -> None:
    never = BusinessCalendar("UTC", workdays=[], holidays_country=None)
    with pytest.raises(ValueError, match="no working day"):
        never.add(at("2026-03-13 12:00", "UTC"), 1)
    # only the override list: the one working Saturday is found, years away
    once = BusinessCalendar("UTC", workdays=[], holidays_country=None, extra_workdays=[date(2030, 6, 1)])
    assert local(once.add(at("2026-03-13 12:00", "UTC"), H), "UTC") == "2030-06-01 10:30"


def test_bad_arguments(moscow: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        moscow.add(0.0, -1)
    with pytest.raises(ValueError, match="finite"):
        moscow.add(float("nan"), 1)


# Property tests over calendars with and without DST, holidays and odd hours.
CALENDARS = [
    BusinessCalendar(MOSCOW),
    BusinessCalendar(WARSAW, holidays_country="PL"),
    BusinessCalendar("Europe/Stockholm", hours="07:15-16:45", holidays_country="SE"),
    BusinessCalendar(WARSAW, hours="01:00-05:00", workdays=["sat", "sun"], holidays_country=None),
]
STARTS = st.floats(min_value=at("2025-01-01 00:00", "UTC"), max_value=at("2029-01-01 00:00", "UTC"))
AMOUNTS = st.floats(min_value=0, max_value=40 * 8.5 * H)


@settings(max_examples=300, deadline=None)
@given(calendar=st.sampled_from(CALENDARS), start=STARTS, amount=AMOUNTS)
def test_between_inverts_add(calendar: BusinessCalendar, start: float, amount: float) -> None:
    due = calendar.add(start, amount)
    assert due >= start
    assert abs(calendar.between(start, due) - amount) < 1e-6


@settings(max_examples=300, deadline=None)
@given(calendar=st.sampled_from(CALENDARS), start=STARTS, a=AMOUNTS, b=AMOUNTS,
       shift=st.floats(min_value=0, max_value=10 * 24 * H))
def test_add_is_monotonic(calendar: BusinessCalendar, start: float, a: float, b: float, shift: float) -> None:
    low, high = sorted((a, b))
    assert calendar.add(start, low) <= calendar.add(start, high)
    assert calendar.add(start, a) <= calendar.add(start + shift, a)
