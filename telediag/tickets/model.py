"""Ticket vocabulary: states and the moves between them, priorities (``[tickets]`` is in telediag.config).

The lifecycle is ``new -> open -> waiting_customer -> resolved -> closed`` with reopening allowed;
the table below is the only place that says which move is legal.
"""

from __future__ import annotations

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
CORRELATED_CODES = ("DEVICE_SILENT", "APN_MISCONFIGURED", "ROAMING_REJECTED")
"""Findings that, when many devices sharing an operator, APN or area get them at once, mean an outage
(at once: their onsets, in the evidence, lie within one window). NO_DATA_AFTER_ACTIVATION is not one: a
device never heard from has no moment its failure began, and a fleet registered together is not an
outage when it is late together."""


class TicketError(ValueError):
    """A ticket operation that cannot be done (illegal move, unknown ticket); the message says why."""


class TicketNotFound(TicketError, LookupError):
    """No such ticket (or not visible to the caller)."""
