"""Which node runs the once-per-deployment work: diagnostics, tickets, retention and outbound.

Ingest runs on every node and in every worker; the work that reads the whole store and talks to the
outside world must run once, or findings, tickets and notifications come out doubled. Every node
(a ``telediag serve`` parent) tries to take one lock; the holder runs that work, the others retry
every few seconds and take over when the holder dies, because its lock dies with it:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a connection of its own;
  the server frees it when the holder's session ends, however the holder ended.
- SQLite: an exclusive ``flock`` on ``elected.lock`` in the data directory, freed by the kernel when
  the holder's process ends (every node of a SQLite deployment shares the one data directory).

A node whose PostgreSQL lock connection breaks can no longer know it still holds the lock: it stops
(exit status 1) rather than risk running the work beside a new holder, and its process supervisor
starts it again as a standby.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from telediag.config import StoreConfig
from telediag.ordered import OrderedService, stop_in_reverse
from telediag.store.database import Connection, Database

LOCK_FILE = "elected.lock"
ADVISORY_KEY = 0x74656C6564696167
"""The advisory lock's key: ``b"telediag"`` as a 64-bit integer, one per database."""


class LockLost(Exception):
    """The lock can no longer be known to be held (its PostgreSQL session broke)."""


class Lock(Protocol):
    """A lock at most one node holds; freed when its holder ends, however it ends."""

    blocking: bool
    """Whether its calls may wait on the network (they then run on a thread of their own)."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""

    def check(self) -> None:
        """Raise LockLost when the lock held can no longer be relied on."""

    def release(self) -> None:
        """Free the lock (and whatever held it open)."""

    def describe(self) -> str:
        """The lock, for log lines."""


class FileLock:
    """An exclusive ``flock`` on a file: the SQLite deployment's lock (one data directory, one host)."""

    blocking = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def check(self) -> None:
        """A lock on an open file cannot be lost."""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor frees the lock
            self._fd = None

    def describe(self) -> str:
        return f"lock file {self.path}"


class AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own (one call at a time, one thread)."""

    blocking = True

    def __init__(self, database: Database, key: int = ADVISORY_KEY) -> None:
        self.database = database
        self.key = key
        self._db: Connection | None = None

    def try_acquire(self) -> bool:
        if self._db is not None:
            return True
        db = self.database.connect()
        try:
            (taken,) = db.execute("SELECT pg_try_advisory_lock(?)", (self.key,)).fetchone()
        except BaseException:
            db.close()
            raise
        if not taken:
            db.close()
            return False
        self._db = db
        return True

    def check(self) -> None:
        if self._db is None:
            raise LockLost("the lock is not held")
        try:
            self._db.execute("SELECT 1").fetchone()
        except Exception as error:
            raise LockLost(f"the lock's connection broke: {error}") from error

    def release(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.execute("SELECT pg_advisory_unlock(?)", (self.key,))
            finally:
                db.close()  # the session's end frees the lock in any case

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {self.key} on {self.database.describe()}"


def election_lock(config: StoreConfig, database: Database) -> Lock:
    """The lock of this deployment's store."""
    if database.backend == "postgresql":
        return AdvisoryLock(database)
    return FileLock(config.data_dir / LOCK_FILE)


class ElectedService(OrderedService):
    """Runs its children only while this node holds ``lock``.

    At start it tries the lock once; a standby tries again every ``retry_s``, and the holder checks
    every ``retry_s`` that its lock still holds. A file lock is called on the reactor (it never
    waits, so on SQLite the children start within ``startService`` as before there was an
    election); a PostgreSQL lock on a thread of its own, the only one using its connection.
    ``on_lost(reason)`` is called when a held lock is lost; the children keep running until the
    node stops.
    """

    log = Logger()

    def __init__(
        self, lock: Lock, reactor: Any, retry_s: float = 5.0, on_lost: Callable[[str], None] | None = None,
        clock: Any = None,
    ) -> None:
        MultiService.__init__(self)
        self.lock = lock
        self.reactor = reactor
        self.clock = clock or reactor
        """Time and timers (tests pass a ``task.Clock``); a blocking lock's thread runs through ``reactor``."""
        self.retry_s = retry_s
        self.on_lost = on_lost
        self._pool: ThreadPool | None = None
        self.elected = False
        self._timer: Any = None
        self._busy: defer.Deferred[Any] | None = None
        self._announced_standby = False

    def startService(self) -> None:
        Service.startService(self)  # the children wait for the lock
        if self.lock.blocking:
            self._pool = ThreadPool(minthreads=1, maxthreads=1, name="telediag-election")
            self._pool.start()
        self._attempt()

    def _run(self, function: Callable[[], Any]) -> defer.Deferred[Any]:
        if self._pool is None:
            return defer.maybeDeferred(function)
        return deferToThreadPool(self.reactor, self._pool, function)

    def _attempt(self) -> None:
        self._timer = None
        if not self.running:
            return
        self._busy = self._run(self.lock.check if self.elected else self.lock.try_acquire)
        self._busy.addCallbacks(self._answered, self._failed)

    def _answered(self, taken: bool | None) -> None:
        self._busy = None
        if not self.running:
            return
        if not self.elected and taken:
            self.elected = True
            self.log.info("elected: this node runs {work} ({lock})", work=self._work(), lock=self.lock.describe())
            for child in self:
                child.startService()
        elif not self.elected and not self._announced_standby:
            self._announced_standby = True
            self.log.info("standby: another node runs {work}; trying {lock} every {retry} s",
                          work=self._work(), lock=self.lock.describe(), retry=self.retry_s)
        self._timer = self.clock.callLater(self.retry_s, self._attempt)

    def _failed(self, failure: Any) -> None:
        self._busy = None
        if not self.running:
            return
        if self.elected:
            reason = f"lost the election lock ({self.lock.describe()}): {failure.getErrorMessage()}"
            self.log.critical("{reason}", reason=reason)
            if self.on_lost is not None:
                self.on_lost(reason)
            return
        self.log.warn("cannot try the election lock ({lock}): {error}; trying again in {retry} s",
                      lock=self.lock.describe(), error=failure.getErrorMessage(), retry=self.retry_s)
        self._timer = self.clock.callLater(self.retry_s, self._attempt)

    def _work(self) -> str:
        return ", ".join(child.name for child in self) or "nothing"

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop the children (when elected), then free the lock for the next holder."""
        Service.stopService(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._busy is not None:
            yield self._settled(self._busy)
        yield stop_in_reverse(self)
        self.elected = False
        try:
            yield self._run(self.lock.release)
        except Exception:
            self.log.failure("freeing the election lock failed")
        if self._pool is not None:
            self._pool.stop()
            self._pool = None

    @staticmethod
    def _settled(busy: defer.Deferred[Any]) -> defer.Deferred[None]:
        """Fires once ``busy`` did, whatever its result (its callbacks already ran)."""
        done: defer.Deferred[None] = defer.Deferred()

        def settle(result: object) -> object:
            done.callback(None)
            return result

        busy.addBoth(settle)
        return done

