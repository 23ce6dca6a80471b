"""The election of the node that runs the once-per-deployment work: a fake lock on a fake clock, the
file lock between two holders, and the PostgreSQL advisory lock on a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.application.service import Service
from twisted.internet.task import Clock

from telediag.config import StoreConfig
from telediag.election import ADVISORY_KEY, AdvisoryLock, ElectedService, FileLock, LockLost, election_lock
from telediag.store.postgresql import PostgresDatabase
from telediag.store.sqlite import SQLiteDatabase
from tests.postgres_server import fresh_database


class FakeLock:
    """A lock some other node may hold; ``broken`` makes the holder's check fail."""

    blocking = False

    def __init__(self, free: bool = True) -> None:
        self.free = free
        self.held = False
        self.broken = False
        self.released = 0

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.free:
            self.free, self.held = False, True
        return self.held

    def check(self) -> None:
        if self.broken:
            raise LockLost("session gone")

    def release(self) -> None:
        if self.held:
            self.held, self.free = False, True
        self.released += 1

    def describe(self) -> str:
        return "fake lock"


class Work(Service):
    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.setName(name)

    def startService(self) -> None:
        super().startService()
        self.log.append(f"start {self.name}")

    def stopService(self) -> None:
        super().stopService()
        self.log.append(f"stop {self.name}")


def elected_with(lock: FakeLock, clock: Clock, log: list[str], lost: list[str] | None = None) -> ElectedService:
    service = ElectedService(lock, clock, retry_s=5.0, clock=clock, on_lost=(lost.append if lost is not None else None))
    for name in ("tickets", "diagnostics"):
        Work(log, name).setServiceParent(service)
    return service


def test_the_holder_runs_the_work_at_once_and_stops_it_in_reverse_order_before_freeing_the_lock() -> None:
    clock, log, lock = Clock(), [], FakeLock()
    service = elected_with(lock, clock, log)
    service.startService()
    assert service.elected and log == ["start tickets", "start diagnostics"]
    service.stopService()
    assert log[2:] == ["stop diagnostics", "stop tickets"]
    assert lock.free and lock.released == 1 and not clock.getDelayedCalls()


def test_a_standby_takes_over_once_the_holder_is_gone() -> None:
    clock, log, lock = Clock(), [], FakeLock(free=False)
    service = elected_with(lock, clock, log)
    service.startService()
    clock.advance(30)
    assert not service.elected and log == []
    lock.free = True  # the holder died: its session or process took the lock with it
    clock.advance(4.9)
    assert log == []
    clock.advance(0.1)
    assert service.elected and log == ["start tickets", "start diagnostics"]
    service.stopService()
    assert log[2:] == ["stop diagnostics", "stop tickets"]


def test_a_standby_that_stops_runs_nothing_and_leaves_the_lock_to_its_holder() -> None:
    clock, log, lock = Clock(), [], FakeLock(free=False)
    service = elected_with(lock, clock, log)
    service.startService()
    service.stopService()
    assert log == [] and not lock.free and not clock.getDelayedCalls()


def test_a_holder_whose_lock_breaks_says_so_once_and_stops_checking() -> None:
    clock, log, lock, lost = Clock(), [], FakeLock(), []
    service = elected_with(lock, clock, log, lost)
    service.startService()
    clock.advance(5)
    assert lost == []
    lock.broken = True
    clock.advance(5)
    assert len(lost) == 1 and "session gone" in lost[0] and "fake lock" in lost[0]
    assert not clock.getDelayedCalls()


def test_one_file_lock_holder_at_a_time_and_the_next_takes_it_when_freed(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "elected.lock"), FileLock(tmp_path / "elected.lock")
    assert first.try_acquire() and first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_the_lock_follows_the_backend(tmp_path: Path) -> None:
    lock = election_lock(StoreConfig(data_dir=tmp_path), SQLiteDatabase(tmp_path / "telediag.sqlite3"))
    assert isinstance(lock, FileLock) and lock.path == tmp_path / "elected.lock"


def test_one_advisory_lock_holder_per_database_and_the_next_takes_it_when_its_session_ends(tmp_path: Path) -> None:
    database: Any = PostgresDatabase(fresh_database())  # on either run: the lock is PostgreSQL's own
    first, second = AdvisoryLock(database), AdvisoryLock(database)
    assert election_lock(StoreConfig(data_dir=tmp_path), database).describe() == first.describe()
    assert first.try_acquire()
    first.check()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    with pytest.raises(LockLost):
        first.check()
    admin = database.connect()
    try:  # the holder's session ends as if its node died: the lock goes with it
        key = ADVISORY_KEY & 0xFFFFFFFF
        (pid,) = admin.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = ?", (key,)).fetchone()
        admin.execute("SELECT pg_terminate_backend(?)", (pid,))
        with pytest.raises(LockLost, match="connection broke"):
            second.check()
        assert first.try_acquire()
        first.release()
    finally:
        admin.close()
