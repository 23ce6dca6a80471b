"""What the API needs from diagnostics, as a Protocol, so the API is built and tested without it.

Implementations are called on the API's worker threads (several at a time, never on the reactor),
because they read SQLite; each call must therefore use its own connection (one per thread) or lock.
Their results pass through ``telediag.api.policy.filter_body`` before reaching a caller, so they may
contain positions and account data: the policy removes what a role may not see.
"""

from __future__ import annotations

from typing import Any, Protocol

FINDING_KEYS = (
    "imei", "code", "team", "severity", "active", "first_seen", "last_seen", "count", "evidence",
    "hint", "cleared_at",
)
"""Keys of each finding dict ``DiagnosticsView.findings`` returns (times as ISO 8601 UTC strings)."""


class DiagnosticsView(Protocol):
    """Read-only diagnostics for the HTTP API."""

    def journeys(self, imei: str, since: float | None, until: float | None) -> list[dict[str, Any]]:
        """Journeys of one device whose time overlaps ``[since, until)`` (epoch seconds, None: open)."""
        ...

    def selfcheck(self, imei: str) -> dict[str, Any]:
        """The self-check result of DESIGN.md: ``{"imei", "checked_at", "overall", "checks": [...]}``."""
        ...

    def findings(
        self, imeis: set[str] | None, code: str | None, active: bool | None
    ) -> list[dict[str, Any]]:
        """Findings of these devices (None: all), of one code (None: any), active/cleared (None: both).

        Each is ``{"imei", "code", "team", "severity", "active", "first_seen", "last_seen", "count",
        "evidence", "hint", "cleared_at"}``.
        """
        ...

    def close(self) -> None:
        """Release what calls on the API's threads hold (connections); called once those threads ended."""
        ...
