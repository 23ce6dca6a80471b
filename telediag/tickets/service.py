"""When ticket automation runs: on every change of findings, and in a sweep on the injected clock
(SLA breaches, auto-close, outage correlation). The work runs on one tickets thread with its own
connection (a :class:`DatabaseWorker`), in submission order, never on the reactor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from telediag.diagnostics.findings import Transition
from telediag.store.database import Connection, Database
from telediag.store.worker import database_worker
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
        self.worker = database_worker(reactor, database, "telediag-tickets")
        self._sweep = LoopingCall(self.sweep)
        self._sweep.clock = self.clock
        self.sweeps = 0

    @property
    def in_flight(self) -> int:
        """Ticket jobs submitted to the tickets thread and not finished."""
        return self.worker.in_flight

    def startService(self) -> None:
        Service.startService(self)
        self._sweep.start(self.desk.config.sweep_interval_s, now=False)

    def stopService(self) -> defer.Deferred[None]:
        """Stop sweeping, let the jobs in flight finish, close the connection."""
        Service.stopService(self)
        if self._sweep.running:
            self._sweep.stop()
        return self.worker.stop()

    def run(self, work: Callable[[Connection], T]) -> defer.Deferred[T]:
        """``work(connection)`` on the tickets thread; a failure is logged and fires the Deferred with None
        (a failed sweep must not stop the sweeps to come)."""
        done = self.worker.run(work)
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
