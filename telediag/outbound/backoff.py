"""The one retry policy of everything that talks to the outside world: webhook deliveries, the
InfluxDB export and the MQTT connections.

Exponential backoff with full jitter: after the n-th failure in a row the wait is drawn uniformly
from [0, min(max_s, initial_s * 2^(n-1))). The ceiling doubles so a receiver that stays down is
asked less and less often; drawing the whole wait at random (rather than +-10% around it) spreads
the senders that failed together, so a receiver coming back is not hit by all of them at once
(the "full jitter" of AWS's "Exponential Backoff And Jitter"). Pure: the random source is injected.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

MAX_EXPONENT = 60
"""Retrying forever must not overflow a float: the ceiling stops doubling long before this."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between ``initial_s`` and ``max_s`` (both positive, ``max_s >= initial_s``)."""

    initial_s: float
    max_s: float

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` failures in a row (the first failure: ``initial_s``)."""
        exponent = min(max(failures - 1, 0), MAX_EXPONENT)
        return min(self.max_s, self.initial_s * 2.0**exponent)

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` failures in a row; ``rand()`` is uniform in [0, 1)."""
        return self.ceiling(failures) * rand()
