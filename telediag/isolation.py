"""One device's bad data never stops work for the others.

Sweeps, listings, exports and deliveries walk many devices; a value no reader expected (an absurd
stored time, a row an older version wrote) must cost that one device its turn, with a log line that
names it, and nothing else. Failures of the store itself (locked, gone, out of memory) concern every
device and still propagate, so callers answer 503 or retry as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from twisted.logger import Logger

from telediag.store.database import UNAVAILABLE_ERRORS

Item = TypeVar("Item")
Result = TypeVar("Result")

log = Logger(namespace="telediag.isolation")

SHARED_FAILURES: tuple[type[BaseException], ...] = (*UNAVAILABLE_ERRORS, MemoryError)
"""Failures that are about the store or the process, not about one device's data."""


def each_isolated(
    items: Iterable[Item], work: Callable[[Item], Result], what: str, name: Callable[[Item], str] = str,
) -> Iterator[Result]:
    """``work(item)`` for every item; an item whose work fails is logged (``what``, its name) and skipped."""
    for item in items:
        try:
            yield work(item)
        except SHARED_FAILURES:
            raise
        except Exception:
            log.failure("{what}: skipped {item} after an error", what=what, item=name(item))
