"""When ticket automation runs: on every change of findings, and in a sweep on the injected clock
(SLA breaches, auto-close, outage correlation). The work runs on one tickets thread with its own
SQLite connection, in submission order, never on the reactor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from telediag.diagnostics.findings import Transition
from telediag.store.database import Database
from telediag.tickets.desk import TicketDesk

T = TypeVar("T")


class TicketService(Service):
    """Feeds finding transitions to the desk and sweeps it periodically."""

    log = Logger()

    def __init__(self, reactor: Any, database: Database, desk: TicketDesk, clock: Any = None) -> None:
        self.reactor = reactor
        self.clock = clock or reactor
        self.database = database
        self.desk = desk
        self.pool = ThreadPool(minthreads=1, maxthreads=1, name="telediag-tickets")
        self._db: Any = None
        self._sweep = LoopingCall(self.sweep)
        self._sweep.clock = self.clock
        self._in_flight: set[defer.Deferred[Any]] = set()
        self.sweeps = 0

    def startService(self) -> None:
        super().startService()
        self.pool.start()
        self._sweep.start(self.desk.config.sweep_interval_s, now=False)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._sweep.running:
            self._sweep.stop()
        done: defer.Deferred[None] = defer.Deferred()

        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        def finish(_: object) -> None:
            closing = deferToThreadPool(self.reactor, self.pool, close)
            closing.addBoth(lambda _: (self.pool.stop(), done.callback(None)))

        defer.DeferredList(list(self._in_flight)).addBoth(finish)
        return done

    def run(self, work: Callable[[Any], T]) -> defer.Deferred[T]:
        """``work(connection)`` on the tickets thread."""
        def call() -> T:
            if self._db is None:
                self._db = self.database.connect()
            return work(self._db)

        done = deferToThreadPool(self.reactor, self.pool, call)
        self._in_flight.add(done)

        def forget(result: object) -> object:
            self._in_flight.discard(done)
            return result

        done.addBoth(forget)
        done.addErrback(self._failed)
        return done

    def on_transitions(self, transitions: Sequence[Transition]) -> defer.Deferred[set[int]]:
        """Diagnostics listener: findings raised, renewed or cleared."""
        now = self.clock.seconds()
        return self.run(lambda db: self.desk.on_findings(db, transitions, now))

    def sweep(self) -> defer.Deferred[dict[str, int]]:
        """SLA breaches, auto-close and outages now."""
        now = self.clock.seconds()
        self.sweeps += 1
        return self.run(lambda db: self.desk.sweep(db, now))

    def _failed(self, failure: Any) -> None:
        self.log.failure("ticket automation failed", failure)
