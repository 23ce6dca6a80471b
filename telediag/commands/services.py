"""The Twisted services of server commands, for the composition roots:

    commands       delivery over the devices' connections, in every process holding them
                   (``telediag.commands.delivery``; with ``[ingest] workers`` > 1, in each worker)
    fix-proof      the verdict on fixes sent from tickets, once per deployment (the elected group)
    sms            the SMS fallback, once per deployment       (when ``[sms] url`` is set)
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from telediag.commands.fixes import check_fixes
from telediag.commands.sms import SmsSender
from telediag.config import Config
from telediag.store.database import Database
from telediag.store.worker import database_worker
from telediag.tickets.lifecycle import Lifecycle


class ProofService(Service):
    """Runs :func:`check_fixes` every ``[commands] proof_interval_s`` on its own store thread."""

    log = Logger()

    def __init__(self, reactor: Any, database: Database, lifecycle: Lifecycle, interval_s: float,
                 clock: Any = None) -> None:
        self.clock = clock or reactor
        self.lifecycle = lifecycle
        self.worker = database_worker(reactor, database, "telediag-fix-proof")
        self.settled = 0
        self._loop = LoopingCall(self.check)
        self._loop.clock = self.clock
        self.interval_s = interval_s

    def startService(self) -> None:
        Service.startService(self)
        self._loop.start(self.interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        if self._loop.running:
            self._loop.stop()
        return self.worker.stop()

    def check(self) -> defer.Deferred[dict[str, int]]:
        """Judge the waiting fixes now; fires with the counts by verdict (empty after a logged failure)."""
        done = self.worker.run(check_fixes, self.lifecycle, self.clock.seconds())

        def counted(counts: dict[str, int]) -> dict[str, int]:
            self.settled += counts.get("proven", 0) + counts.get("not_taken", 0)
            return counts

        def failed(failure: Failure) -> dict[str, int]:
            self.log.failure("checking fixes for proof failed", failure)
            return {}

        return done.addCallbacks(counted, failed)


def elected_command_services(config: Config, reactor: Any, database: Database, lifecycle: Lifecycle,
                             clock: Any = None) -> list[tuple[str, Service]]:
    """``(name, service)`` pairs of the once-per-deployment part, in start order."""
    services: list[tuple[str, Service]] = [
        ("fix-proof", ProofService(reactor, database, lifecycle, config.commands.proof_interval_s, clock=clock)),
    ]
    if config.sms.enabled:
        services.append(("sms", SmsSender(reactor, database, config.sms, clock=clock)))
    return services
