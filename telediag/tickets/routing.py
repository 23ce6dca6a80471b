"""Priority and team of a ticket: from the finding's severity, how many devices it hits, and VIP.

The team of an automatic ticket is the finding's team in DESIGN.md; severity gives the base priority
and breadth and VIP status raise it, never above P1.
"""

from __future__ import annotations

from collections.abc import Iterable

from telediag.diagnostics.catalogue import FINDINGS, Severity
from telediag.tickets.model import PRIORITIES

_BASE: dict[Severity, int] = {"critical": 0, "major": 1, "warning": 2, "info": 3}
_SEVERITY_ORDER: dict[Severity, int] = {"critical": 3, "major": 2, "warning": 1, "info": 0}
_CATEGORY_TEAM = {"how_to": "customer_office", "feature_inquiry": "customer_office", "system_problem": "technical"}


def priority(severity: Severity, devices: int, vip: bool) -> str:
    """P1 (most urgent) .. P4: one step up at 10 devices, two at 100, one more for a VIP account."""
    level = _BASE[severity]
    level -= 2 if devices >= 100 else 1 if devices >= 10 else 0
    level -= 1 if vip else 0
    return PRIORITIES[max(0, min(level, len(PRIORITIES) - 1))]


def worst_code(codes: Iterable[str]) -> str | None:
    """The most severe finding code of several (None for none)."""
    known = [code for code in codes if code in FINDINGS]
    return max(known, key=lambda code: _SEVERITY_ORDER[FINDINGS[code].severity], default=None)


def team_for(codes: Iterable[str], category: str, topic: str) -> str:
    """The finding's team when a finding explains the ticket, else by category (IT for outages)."""
    code = worst_code(codes)
    if code is not None:
        return FINDINGS[code].team
    if topic == "critical_server_failure":
        return "it"
    return _CATEGORY_TEAM[category]


def severity_of(codes: Iterable[str], category: str) -> Severity:
    """Severity for a ticket's priority: its worst finding's, else by category."""
    code = worst_code(codes)
    if code is not None:
        return FINDINGS[code].severity
    return "major" if category == "system_problem" else "warning"
