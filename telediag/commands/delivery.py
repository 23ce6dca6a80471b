"""Delivery of queued commands over the devices' own connections, in the process holding them.

Every process with device listeners runs one :class:`DeliveryService` on its pipeline (with
``[ingest] workers`` > 1, every worker: each holds its own devices' connections). Once every
``poll_interval_s`` it marks expired commands, then claims the oldest queued command of each device
connected to it that has none of ours in flight (``telediag.commands.queue.claim_for``: a row claim,
so two processes never send one command), at most ``batch`` in flight, and hands each to the
connection's command gate, which writes it when the device awaits nothing. The outcome is written
back: the answer, a failure, or (never written: the device stayed busy or left) queued again.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from telediag.commands import queue
from telediag.config.commands import CommandsConfig
from telediag.ingest.command_gate import CommandDisconnected, CommandNotSent, CommandQueueFull
from telediag.ingest.tcp import COMMAND_MAX_WAIT_S, CommandTimedOut
from telediag.pipeline import DeviceNotConnected, Pipeline
from telediag.store.database import Database
from telediag.store.worker import database_worker

LEASE_MARGIN_S = 30.0
"""Beyond the gate's wait bound and the answer timeout: a claim older than that lost its process."""


def node_name() -> str:
    """This process, as a claim names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class DeliveryService(Service):
    """Polls the queue for the devices connected to this process's ``pipeline``."""

    log = Logger()

    def __init__(self, reactor: Any, database: Database, pipeline: Pipeline, config: CommandsConfig,
                 clock: Any = None, node: str | None = None) -> None:
        self.clock = clock or reactor
        self.pipeline = pipeline
        self.config = config
        self.node = node or node_name()
        self.lease_s = COMMAND_MAX_WAIT_S + config.answer_timeout_s + LEASE_MARGIN_S
        self.worker = database_worker(reactor, database, "telediag-commands")
        self.in_flight: dict[str, int] = {}
        """IMEI -> the id of the command handed to its connection and not settled yet."""
        self.outcomes: dict[str, int] = {}
        """Counts of settled deliveries by outcome (answered, failed, requeued)."""
        self._polling: defer.Deferred[int] | None = None
        self._loop = LoopingCall(self.poll)
        self._loop.clock = self.clock

    def startService(self) -> None:
        Service.startService(self)
        self._loop.start(self.config.poll_interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        if self._loop.running:
            self._loop.stop()
        return self.worker.stop()

    def poll(self) -> defer.Deferred[int] | None:
        """Expire, claim and hand out now; fires with how many were handed out (None if a poll runs)."""
        if self._polling is not None:
            return None
        now = self.clock.seconds()
        room = self.config.batch - len(self.in_flight)
        imeis = [imei for imei in self.pipeline.connected_devices(None) if imei not in self.in_flight]
        claiming = self.worker.run(self._claim, imeis if room > 0 else [], now, room)
        done = claiming.addCallback(self._hand_out)
        done.addErrback(self._poll_failed)
        done.addBoth(self._polled)
        self._polling = done
        return done

    def _claim(self, db: Any, imeis: list[str], now: float, room: int) -> list[queue.Claimed]:
        expired = queue.expire(db, now)
        if expired:
            self.log.info("{count} commands expired or lost their sender", count=expired)
        return queue.claim_for(db, imeis, self.node, now, self.lease_s, room)

    def _hand_out(self, claimed: list[queue.Claimed]) -> int:
        for command in claimed:
            self.in_flight[command.imei] = command.id
            sent = self.pipeline.send_command(command.imei, command.text, self.config.answer_timeout_s)
            sent.addCallbacks(self._answered, self._not_answered, callbackArgs=(command,), errbackArgs=(command,))
        return len(claimed)

    def _poll_failed(self, failure: Failure) -> int:
        self.log.failure("command delivery poll failed", failure)
        return 0

    def _polled(self, result: Any) -> Any:
        self._polling = None
        return result

    def _answered(self, answer: str, command: queue.Claimed) -> defer.Deferred[Any]:
        self.log.info("device {imei} answered command {id}: {answer!r}", imei=command.imei, id=command.id,
                      answer=answer[:200])
        return self._settle(command, "answered", queue.answered, command.id, answer, self.clock.seconds())

    def _not_answered(self, failure: Failure, command: queue.Claimed) -> defer.Deferred[Any]:
        now = self.clock.seconds()
        error = failure.value
        if isinstance(error, (CommandNotSent, CommandQueueFull, DeviceNotConnected)) or (
                isinstance(error, CommandDisconnected) and not error.sent):
            return self._settle(command, "requeued", queue.released, command.id, f"not written: {error}", now)
        if isinstance(error, CommandTimedOut):
            reason = f"written, no answer within {self.config.answer_timeout_s:g} s"
        elif isinstance(error, CommandDisconnected):
            reason = "written, then the device disconnected before answering"
        else:  # ValueError (text the protocol cannot carry), CommandError (no command channel)
            reason = f"{type(error).__name__}: {error}"
        self.log.info("command {id} to {imei} failed: {reason}", id=command.id, imei=command.imei, reason=reason)
        return self._settle(command, "failed", queue.failed, command.id, reason, now)

    def _settle(self, command: queue.Claimed, outcome: str, work: Any, *args: Any) -> defer.Deferred[Any]:
        done = self.worker.run(work, *args)

        def settled(result: Any) -> Any:
            if self.in_flight.get(command.imei) == command.id:
                del self.in_flight[command.imei]
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            return result

        def lost(failure: Failure) -> None:
            self.log.failure("recording the outcome of command {id} failed", failure, id=command.id)

        return done.addBoth(settled).addErrback(lost)
