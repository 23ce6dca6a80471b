"""Repeated log lines from one source, summarised: the first in a window is logged, the rest counted.

A tracker on the wrong port sends an undecodable frame every few seconds; one log line each buries
everything else in the operator's terminal. Nothing is lost by summarising: every error is still
stored in ``ingest_errors`` and counted on ``/metrics``; only the log says it once per window, with
how many like it were left out since the last line.
"""

from __future__ import annotations

from collections.abc import Hashable

MAX_KEYS = 10_000
"""Sources remembered at once; past it, those whose window is over are forgotten."""


class RepeatSummary:
    """Decides per key whether an event is logged now; time comes from the caller (an injected clock)."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._logged_at: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def note(self, key: Hashable, now: float) -> int | None:
        """None: count this event and stay quiet. Otherwise log it, saying how many were held back."""
        logged_at = self._logged_at.get(key)
        if logged_at is not None and now - logged_at < self.window_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._logged_at) >= MAX_KEYS:
            self._forget_before(now - self.window_s)
        self._logged_at[key] = now
        return self._held.pop(key, 0)

    def _forget_before(self, moment: float) -> None:
        for key in [k for k, at in self._logged_at.items() if at < moment]:
            del self._logged_at[key]
            self._held.pop(key, None)
