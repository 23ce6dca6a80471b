"""SLA config, due times per topic, pauses while waiting for the customer, and breaches."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from telediag.config import DEFAULT_TOPICS, ConfigError, SlaConfig, parse_section
from telediag.tickets.sla import breaches, due_times, pause_business_seconds

H = 3600.0
MOSCOW = "Europe/Moscow"

DESIGN_SLA = """
[sla]
timezone = "Europe/Moscow"
hours = "09:30-18:00"
workdays = ["mon", "tue", "wed", "thu", "fri"]
holidays_country = "RU"
extra_days_off = []
extra_workdays = []
first_response_days = 1
[sla.topics]
critical_server_failure = 1
stolen_vehicle = 1
accounts_permissions = 2
data_update = 2
system_reports = 2
scheduled_reports_notifications = 2
consultation = 5
remote_diagnostics = 5
violations_check = 5
"""


def at(local: str, zone: str = MOSCOW) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).timestamp()


def local(t: float, zone: str = MOSCOW) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def test_defaults_match_design() -> None:
    sla = SlaConfig()
    assert parse_section("sla", {}) == sla
    assert parse_section("sla", tomllib.loads(DESIGN_SLA)["sla"]) == sla
    assert (sla.timezone, sla.hours, sla.holidays_country) == (MOSCOW, "09:30-18:00", "RU")
    assert sla.workdays == ("mon", "tue", "wed", "thu", "fri")
    assert sla.extra_days_off == sla.extra_workdays == ()
    assert sla.first_response_days == 1
    assert dict(sla.topics) == {
        "critical_server_failure": 1, "stolen_vehicle": 1, "accounts_permissions": 2, "data_update": 2,
        "system_reports": 2, "scheduled_reports_notifications": 2, "consultation": 5,
        "remote_diagnostics": 5, "violations_check": 5,
    }
    assert sla.calendar() is sla.calendar()


def test_overrides_and_new_topics() -> None:
    raw = tomllib.loads("""
        [sla]
        timezone = "Europe/Warsaw"
        holidays_country = "PL"
        extra_days_off = [2026-05-04, "2026-05-05"]
        extra_workdays = ["2026-05-09"]
        first_response_days = 0.5
        [sla.topics]
        consultation = 3
        firmware_update = 1.5
    """)["sla"]
    sla = parse_section("sla", raw)
    assert sla.extra_days_off == (date(2026, 5, 4), date(2026, 5, 5))
    assert sla.extra_workdays == (date(2026, 5, 9),)
    assert sla.topics["consultation"] == 3
    assert sla.topics["firmware_update"] == 1.5
    assert sla.topics["stolen_vehicle"] == 1  # defaults kept
    assert sla.first_response_days == 0.5
    assert sla.calendar().is_working_day(date(2026, 5, 9))
    assert parse_section("sla", {"holidays_country": ""}).holidays_country is None


@pytest.mark.parametrize(("raw", "key"), [
    ({"timezon": MOSCOW}, "timezon"),
    ({"timezone": 3}, "timezone"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"hours": "18:00-09:00"}, "hours"),
    ({"hours": "nine to six"}, "hours"),
    ({"workdays": "mon-fri"}, "workdays"),
    ({"workdays": ["mon", "funday"]}, "workdays"),
    ({"holidays_country": "Narnia"}, "holidays_country"),
    ({"extra_days_off": ["14.03.2026"]}, "extra_days_off"),
    ({"extra_workdays": "2026-03-14"}, "extra_workdays"),
    ({"extra_days_off": ["2026-03-14"], "extra_workdays": ["2026-03-14"]}, "extra_workdays"),
    ({"first_response_days": 0}, "first_response_days"),
    ({"first_response_days": True}, "first_response_days"),
    ({"first_response_days": "1"}, "first_response_days"),
    ({"topics": {"consultation": -1}}, "topics.consultation"),
    ({"topics": {"consultation": "five"}}, "topics.consultation"),
    ({"topics": [1, 2]}, "topics"),
])
def test_bad_config_names_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"\[sla\] (has no key '{key}'|{key}\b)"):
        parse_section("sla", raw)


# (case, topic, created local Moscow, first response due, resolution due), default config.
# One working day is 8.5 h of business time (09:30-18:00).
DUE_CASES = [
    # Friday 17:00: 1 h Friday + 7.5 h Monday -> 17:00 Monday for both (1-day topic).
    ("friday evening", "critical_server_failure", "2026-03-13 17:00", "2026-03-16 17:00", "2026-03-16 17:00"),
    # Friday 19:00, after hours: the count starts Monday 09:30; 8.5 h -> Monday 18:00.
    ("friday after hours", "stolen_vehicle", "2026-03-13 19:00", "2026-03-16 18:00", "2026-03-16 18:00"),
    # Thursday before Russia Day (Friday 2026-06-12), 14:00, 2-day topic: first response 4 h Thu +
    # 4.5 h Mon 06-15 -> 14:00; resolution 4 + 8.5 (Mon) + 4.5 (Tue 06-16) -> 14:00 Tuesday.
    ("before Russia Day", "data_update", "2026-06-11 14:00", "2026-06-15 14:00", "2026-06-16 14:00"),
    # New Year: Wednesday 2026-12-30 16:00, 2-day topic. 2 h Wednesday; 12-31 and 2027-01-01..08 off,
    # 01-09/10 weekend. First response: 6.5 h on Monday 2027-01-11 -> 16:00. Resolution: 8.5 h Monday
    # (10.5 h so far) + 6.5 h Tuesday 01-12 -> 16:00.
    ("New Year", "system_reports", "2026-12-30 16:00", "2027-01-11 16:00", "2027-01-12 16:00"),
    # Five days from Monday 2026-03-16 10:00 (42.5 h): 8 h Mon, 8.5 Tue, Wed, Thu, Fri (42 h), and
    # 0.5 h on Monday 03-23 -> 10:00, the same local time a week later.
    ("five days", "consultation", "2026-03-16 10:00", "2026-03-17 10:00", "2026-03-23 10:00"),
]


@pytest.mark.parametrize(("topic", "created", "first", "resolution"), [c[1:] for c in DUE_CASES],
                         ids=[c[0] for c in DUE_CASES])
def test_due_times_hand_computed(topic: str, created: str, first: str, resolution: str) -> None:
    config = SlaConfig()
    first_due, resolution_due = due_times(config, config.calendar(), topic, at(created))
    assert (local(first_due), local(resolution_due)) == (first, resolution)


def test_due_times_in_two_time_zones() -> None:
    """2026-05-13 13:00 UTC, critical (1 day): Moscow due Thursday 13:00 UTC, Stockholm Friday 13:00 UTC.

    Stockholm loses Thursday 05-14 to Ascension Day (see test_calendar for the hours).
    """
    created = datetime(2026, 5, 13, 13, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    moscow = SlaConfig()
    stockholm = parse_section("sla", {"timezone": "Europe/Stockholm", "holidays_country": "SE"})
    _, moscow_due = due_times(moscow, moscow.calendar(), "critical_server_failure", created)
    _, stockholm_due = due_times(stockholm, stockholm.calendar(), "critical_server_failure", created)
    assert local(moscow_due, "UTC") == "2026-05-14 13:00"
    assert local(stockholm_due, "UTC") == "2026-05-15 13:00"


def test_dst_change_warsaw() -> None:
    """Friday 2026-03-27 15:00 CET, 1 day: 3 h Friday + 5.5 h Monday 03-30 -> 15:00 CEST (13:00 UTC)."""
    config = parse_section("sla", {"timezone": "Europe/Warsaw", "holidays_country": "PL"})
    _, due = due_times(config, config.calendar(), "stolen_vehicle", at("2026-03-27 15:00", "Europe/Warsaw"))
    assert local(due, "Europe/Warsaw") == "2026-03-30 15:00"
    assert local(due, "UTC") == "2026-03-30 13:00"


def test_pause_while_waiting_for_the_customer() -> None:
    """Critical ticket created Monday 2026-03-16 16:00: due Tuesday 16:00 (2 h Mon + 6.5 h Tue).

    Waiting for the customer from Monday 17:00 to Tuesday 11:30 is 1 h (Mon to 18:00) + 2 h (Tue
    from 09:30) = 3 business hours. Resolution moves 3 h past Tuesday 16:00: 2 h to closing, then
    1 h on Wednesday -> 10:30. The first response stays Tuesday 16:00.
    """
    config = SlaConfig()
    calendar = config.calendar()
    paused = pause_business_seconds(calendar, at("2026-03-16 17:00"), at("2026-03-17 11:30"))
    assert paused == 3 * H
    first, resolution = due_times(config, calendar, "critical_server_failure", at("2026-03-16 16:00"), paused)
    assert local(first) == "2026-03-17 16:00"
    assert local(resolution) == "2026-03-18 10:30"


def test_pause_over_a_weekend_costs_nothing() -> None:
    calendar = SlaConfig().calendar()
    assert pause_business_seconds(calendar, at("2026-03-13 18:00"), at("2026-03-16 09:30")) == 0


def test_fractional_days() -> None:
    config = parse_section("sla", {"topics": {"vip_callback": 0.25}})
    # a quarter of 8.5 h is 2 h 7.5 min: Monday 09:30 -> 11:37:30
    _, due = due_times(config, config.calendar(), "vip_callback", at("2026-03-16 09:30"))
    assert due == at("2026-03-16 11:37:30")


def test_unknown_topic() -> None:
    config = SlaConfig()
    with pytest.raises(KeyError, match="unknown SLA topic 'weather'"):
        due_times(config, config.calendar(), "weather", at("2026-03-16 09:30"))
    assert set(DEFAULT_TOPICS) <= set(config.topics)


DUE_FIRST, DUE_RESOLUTION = 1000.0, 5000.0


@pytest.mark.parametrize(("now", "first_at", "resolved_at", "paused", "expected"), [
    (900, None, None, False, []),                                   # nothing due yet
    (1000, None, None, False, []),                                  # exactly at due: on time
    (1001, None, None, False, ["first_response"]),                  # no answer past due
    (1001, 999, None, False, []),                                   # answered in time
    (4000, 1500, None, False, ["first_response"]),                  # answered late: stays breached
    (6000, 900, None, False, ["resolution"]),                       # unresolved past due
    (6000, 900, None, True, []),                                    # waiting for the customer
    (6000, None, None, True, ["first_response"]),                   # a pause does not excuse silence
    (9000, 900, 4999, False, []),                                   # resolved in time, checked later
    (9000, 900, 5001, False, ["resolution"]),                       # resolved late
    (9000, 2000, 7000, False, ["first_response", "resolution"]),    # both late
])
def test_breaches(now: float, first_at: float | None, resolved_at: float | None, paused: bool,
                  expected: list[str]) -> None:
    assert breaches(now, DUE_FIRST, first_at, DUE_RESOLUTION, resolved_at, paused) == expected
