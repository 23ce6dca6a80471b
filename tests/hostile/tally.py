"""Attempts and failures per category, printed in the run's summary (the figures of the closing note)."""

from __future__ import annotations

from collections import defaultdict

CATEGORIES = ("role matrix", "cross-account", "bad API input", "bad ingest input", "connection abuse", "crash")
_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])


def count(category: str, attempts: int = 1, failures: int = 0) -> None:
    """Add ``attempts`` tries of ``category``, ``failures`` of which went wrong."""
    assert category in CATEGORIES, category
    _counts[category][0] += attempts
    _counts[category][1] += failures


def lines() -> list[str]:
    """One line per category that ran."""
    return [f"{category:<18} attempts {_counts[category][0]:>6}   failures {_counts[category][1]:>3}"
            for category in CATEGORIES if category in _counts]
