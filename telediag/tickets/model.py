"""Ticket vocabulary and the ``[tickets]`` settings: states and the moves between them, priorities.

The lifecycle is ``new -> open -> waiting_customer -> resolved -> closed`` with reopening allowed;
the table below is the only place that says which move is legal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

STATES = ("new", "open", "waiting_customer", "resolved", "closed")
ACTIVE_STATES = ("new", "open", "waiting_customer")
"""States in which a ticket is being worked on (an automatic finding enriches such a ticket)."""
MOVES: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "waiting_customer", "resolved", "closed"}),
    "open": frozenset({"waiting_customer", "resolved", "closed"}),
    "waiting_customer": frozenset({"open", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset({"open"}),
}
ORIGINS = ("auto", "customer", "staff")
CATEGORIES = ("how_to", "feature_inquiry", "system_problem")
PRIORITIES = ("P1", "P2", "P3", "P4")
RATINGS = ("good", "none", "bad")
TEAMS = ("customer_office", "technical", "it")
CORRELATED_CODES = ("DEVICE_SILENT", "APN_MISCONFIGURED", "ROAMING_REJECTED", "NO_DATA_AFTER_ACTIVATION")
"""Findings that, when many devices sharing an operator, APN or area get them at once, mean an outage."""


class TicketError(ValueError):
    """A ticket operation that cannot be done (illegal move, unknown ticket); the message says why."""


class TicketNotFound(TicketError, LookupError):
    """No such ticket (or not visible to the caller)."""


class TicketsConfigError(ValueError):
    """A ``[tickets]`` key is unknown or has the wrong type."""


@dataclass(frozen=True)
class TicketsConfig:
    """Ticket automation settings; every key has a working default."""

    reopen_window_s: float = 7 * 86400.0
    """A finding that comes back within this long after its ticket was resolved reopens that ticket."""
    auto_close_s: float = 86400.0
    """A resolved ticket nobody disputes closes by itself after this long."""
    mass_outage_min_devices: int = 10
    mass_outage_window_s: float = 1800.0
    """This many devices sharing an operator, APN or area failing within the window make one outage."""
    area_grid_deg: float = 0.5
    """Size of the grid cell that counts as one area for outage correlation."""
    sweep_interval_s: float = 60.0
    """How often SLA breaches, auto-close and outage correlation are checked."""


def parse_tickets(raw: Mapping[str, Any]) -> TicketsConfig:
    """TicketsConfig from the ``[tickets]`` table; unknown keys and bad types are refused."""
    known = {f.name: f for f in fields(TicketsConfig)}
    defaults = TicketsConfig()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise TicketsConfigError(f"[tickets] has no key {key!r}; known: {', '.join(sorted(known))}")
        default = getattr(defaults, key)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, type(default)) or value <= 0:
            raise TicketsConfigError(f"[tickets] {key} must be a positive {type(default).__name__}, got {value!r}")
        values[key] = value
    return TicketsConfig(**{**defaults.__dict__, **values})
