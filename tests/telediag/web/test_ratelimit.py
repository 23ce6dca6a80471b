"""The sign-in limiter: sliding windows per username and per address, pure (time is an argument)."""

from __future__ import annotations

from telediag.web.ratelimit import LoginLimiter


def test_per_user_limit_refuses_until_the_oldest_failure_leaves_the_window() -> None:
    limiter = LoginLimiter(per_user=3, per_address=100, window_s=60.0)
    for t in (0.0, 10.0, 20.0):
        assert limiter.retry_after("alice", "10.0.0.1", t) is None
        limiter.failed("alice", "10.0.0.1", t)
    assert limiter.retry_after("alice", "10.0.0.9", 30.0) == 30  # another address: still refused
    assert limiter.retry_after("ALICE", "10.0.0.1", 30.0) == 30  # names count without case
    assert limiter.retry_after("bob", "10.0.0.1", 30.0) is None
    assert limiter.retry_after("alice", "10.0.0.1", 59.5) == 1  # whole seconds, never 0
    assert limiter.retry_after("alice", "10.0.0.1", 60.0) is None  # the failure at 0 has left the window
    limiter.failed("alice", "10.0.0.1", 60.0)
    assert limiter.retry_after("alice", "10.0.0.1", 61.0) == 9  # 10, 20, 60 in the window now


def test_per_address_limit_covers_many_usernames() -> None:
    limiter = LoginLimiter(per_user=100, per_address=4, window_s=100.0)
    for i in range(4):
        limiter.failed(f"user{i}", "192.0.2.1", float(i))
    assert limiter.retry_after("someone-new", "192.0.2.1", 5.0) == 95
    assert limiter.retry_after("someone-new", "192.0.2.2", 5.0) is None


def test_success_clears_the_username_but_not_the_address() -> None:
    limiter = LoginLimiter(per_user=2, per_address=3, window_s=100.0)
    limiter.failed("alice", "a", 0.0)
    limiter.failed("alice", "a", 1.0)
    assert limiter.retry_after("alice", "b", 2.0) is not None
    limiter.succeeded("Alice")
    assert limiter.retry_after("alice", "b", 2.0) is None
    limiter.failed("carol", "a", 3.0)
    assert limiter.retry_after("dave", "a", 4.0) == 96


def test_memory_is_bounded() -> None:
    limiter = LoginLimiter(per_user=2, per_address=2, window_s=100.0, max_keys=10)
    for i in range(1000):
        limiter.failed(f"user{i}", f"addr{i}", 0.0)
    assert len(limiter._users.failures) == 10 and len(limiter._addresses.failures) == 10
