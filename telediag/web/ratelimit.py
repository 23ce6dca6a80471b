"""Failed sign-ins counted in a sliding window, per username and per source address.

Pure: the caller passes the clock value. Past either limit, further attempts are refused before the
password is checked, so guessing costs the attacker the window, not our scrypt time. Usernames are
counted whether or not they exist (the answer must not tell which exist), without case, as the store
compares them. Memory is bounded: past ``max_keys`` tracked names or addresses, the stalest go first.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class _Window:
    """Failure times of one key within the last ``window_s``."""

    limit: int
    window_s: float
    max_keys: int
    failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def _live(self, key: str, now: float) -> deque[float] | None:
        times = self.failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self.failures[key]
            return None
        return times

    def retry_after(self, key: str, now: float) -> float | None:
        times = self._live(key, now)
        if times is None or len(times) < self.limit:
            return None
        return times[-self.limit] + self.window_s - now

    def add(self, key: str, now: float) -> None:
        times = self._live(key, now)
        if times is None:
            times = self.failures[key] = deque()
        times.append(now)
        self.failures.move_to_end(key)
        while len(times) > self.limit:
            times.popleft()  # only the last ``limit`` failures decide when attempts are allowed again
        while len(self.failures) > self.max_keys:
            self.failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)


class LoginLimiter:
    """``LoginLimiter(per_user, per_address, window_s)``: ask ``retry_after`` first, report each failure."""

    def __init__(self, per_user: int, per_address: int, window_s: float, max_keys: int = 100_000) -> None:
        self._users = _Window(per_user, window_s, max_keys)
        self._addresses = _Window(per_address, window_s, max_keys)

    def retry_after(self, username: str, address: str, now: float) -> int | None:
        """Whole seconds until an attempt may be made again (for ``Retry-After``), or None: go ahead."""
        waits = [w for w in (self._users.retry_after(username.lower(), now),
                             self._addresses.retry_after(address, now)) if w is not None]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, username: str, address: str, now: float) -> None:
        """Count one failed attempt against the username and the address."""
        self._users.add(username.lower(), now)
        self._addresses.add(address, now)

    def succeeded(self, username: str) -> None:
        """The right password: the username's count starts again (the address's does not)."""
        self._users.clear(username.lower())
