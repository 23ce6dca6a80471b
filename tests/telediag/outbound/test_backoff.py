"""The one backoff policy: a ceiling that doubles up to its cap, and a wait drawn below it."""

from __future__ import annotations

import random

import pytest

from telediag.outbound.backoff import Backoff


def test_the_ceiling_doubles_from_the_first_failure_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=300.0)
    assert [backoff.ceiling(n) for n in range(1, 12)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff.ceiling(0) == 1.0  # no failure yet counts as the first


def test_retrying_forever_never_overflows() -> None:
    assert Backoff(0.5, 60.0).ceiling(100_000) == 60.0
    assert Backoff(0.5, 60.0).delay(10**9, lambda: 0.999) == pytest.approx(59.94)


def test_the_wait_is_drawn_uniformly_below_the_ceiling() -> None:
    backoff = Backoff(initial_s=2.0, max_s=10.0)
    assert backoff.delay(1, lambda: 0.0) == 0.0
    assert backoff.delay(2, lambda: 0.5) == 2.0
    assert backoff.delay(4, lambda: 0.75) == 7.5
    draws = [backoff.delay(3, random.Random(7).random) for _ in range(3)]
    assert len(set(draws)) == 1  # the injected source decides: the same seed, the same wait
    spread = [backoff.delay(3, random.Random(seed).random) for seed in range(200)]
    assert all(0.0 <= wait < 8.0 for wait in spread)
    assert min(spread) < 1.0 and max(spread) > 7.0  # full jitter: senders that failed together spread out
