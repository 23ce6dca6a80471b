"""SLA due times: due instants, pauses and breaches (the ``[sla]`` schema is in telediag.config).

Targets are in working days, and "N working days" means N times the length of the working hours in
business time from creation (DESIGN.md), not "the same time N working days later": a ticket created
an hour before closing with a 1-day target is due an hour before closing on the next working day.
Pure functions over epoch seconds, so the periodic sweep and the tests share one clock.
"""

from __future__ import annotations

from telediag.config import SlaConfig
from telediag.tickets.calendar import BusinessCalendar

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"


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
