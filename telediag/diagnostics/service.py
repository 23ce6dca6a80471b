"""When diagnostics run: after commits (debounced per device), in a periodic sweep, and after a
device answered a server command. The work runs on one diagnostics thread, never on the reactor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from telediag.diagnostics.engine import DiagnosticsEngine, EngineView
from telediag.diagnostics.findings import Transition
from telediag.pipeline import Pipeline
from telediag.store.writer import Change, IngestError, RecordBatch

TransitionListener = Callable[[Sequence[Transition]], None]
MAX_QUERIES_IN_FLIGHT = 50
"""Server commands the diagnostics may have outstanding at once (each waits for a device answer)."""


class DiagnosticsService(Service):
    """Runs the engine on its own thread, driven by commits and by a sweep on the injected clock."""

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        engine: DiagnosticsEngine,
        pipeline: Pipeline | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        self.reactor = reactor
        self.clock: IReactorTime = clock or reactor
        """Time and timers (tests pass a ``task.Clock``); threads still run through ``reactor``."""
        self.engine = engine
        self.pipeline = pipeline
        self.thresholds = engine.thresholds
        self.pool = ThreadPool(minthreads=1, maxthreads=1, name="telediag-diagnostics")
        self._sweep = LoopingCall(self.sweep)
        self._sweep.clock = self.clock
        self._pending: set[str] = set()
        self._timer: IDelayedCall | None = None
        self._in_flight: set[defer.Deferred[Any]] = set()
        self._queries: set[str] = set()
        self._listeners: list[TransitionListener] = []
        self.sweeps = 0
        self.checks = 0

    def view(self) -> EngineView:
        """The engine as the API reads it: the same engine, on the API's own threads, on this clock.

        The engine keeps one SQLite connection per calling thread and this service closes them all
        when it stops, so the API must stop first (``telediag.app`` orders it so).
        """
        return EngineView(self.engine, self.clock)

    def add_listener(self, listener: TransitionListener) -> None:
        """Call ``listener(transitions)`` on the reactor whenever findings change."""
        self._listeners.append(listener)

    def startService(self) -> None:
        Service.startService(self)
        self.pool.start()
        self._sweep.start(self.thresholds.sweep_interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        if self._sweep.running:
            self._sweep.stop()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        busy = defer.DeferredList(list(self._in_flight))
        done: defer.Deferred[None] = defer.Deferred()

        def finish(_: object) -> None:
            closing = deferToThreadPool(self.reactor, self.pool, self.engine.close)
            closing.addBoth(stopped)

        def stopped(_: object) -> None:
            self.pool.stop()
            done.callback(None)

        busy.addBoth(finish)
        return done

    def on_commit(self, changes: Iterable[Change], inserted: int) -> None:
        """Committer listener: re-check devices that sent records or bad frames, at most every so often."""
        for change in changes:
            if isinstance(change, RecordBatch):
                self._pending.add(change.imei)
            elif isinstance(change, IngestError) and change.imei:
                self._pending.add(change.imei)
        if self._pending and self._timer is None and self.running:
            self._timer = self.clock.callLater(self.thresholds.batch_check_min_interval_s, self._check_pending)

    def _run(self, work: Callable[[], list[Transition]]) -> defer.Deferred[list[Transition]]:
        """Run ``work`` on the diagnostics thread; its one worker runs jobs in submission order."""
        done = deferToThreadPool(self.reactor, self.pool, work)
        done.addCallbacks(self._publish, self._failed)
        self._in_flight.add(done)

        def forget(result: object) -> object:
            self._in_flight.discard(done)
            return result

        done.addBoth(forget)
        return done

    def _check_pending(self) -> None:
        self._timer = None
        imeis, self._pending = sorted(self._pending), set()
        now = self.clock.seconds()
        engine = self.engine

        def work() -> list[Transition]:
            transitions: list[Transition] = []
            for imei in imeis:
                transitions.extend(engine.check_device(imei, now, with_history=False))
            self.checks += len(imeis)
            return transitions

        self._run(work)

    def sweep(self) -> defer.Deferred[list[Transition]]:
        """Evaluate every device now; then ask connected devices for evidence a check needs."""
        now = self.clock.seconds()
        self.sweeps += 1
        done = self._run(lambda: self.engine.sweep(now))

        def then_ask(transitions: list[Transition]) -> list[Transition]:
            self._ask_devices(now)
            return transitions

        done.addCallback(then_ask)
        return done

    def _publish(self, transitions: list[Transition]) -> list[Transition]:
        if transitions:
            for listener in self._listeners:
                try:
                    listener(transitions)
                except Exception:
                    self.log.failure("finding listener failed")
        return transitions

    def _failed(self, failure: Failure) -> list[Transition]:
        self.log.failure("diagnostics run failed", failure)
        return []

    def _ask_devices(self, now: float) -> None:
        """Codec 12 questions (APN, status) to connected devices whose evidence is missing or old."""
        pipeline = self.pipeline
        if pipeline is None or not self.running:
            return
        connected = pipeline.connected_devices()
        if not connected:
            return
        wanted = deferToThreadPool(self.reactor, self.pool, self.engine.wanted_queries, connected, now)
        wanted.addCallback(self._send_queries)
        wanted.addErrback(self._failed)

    def _send_queries(self, wanted: list[tuple[str, str]]) -> None:
        assert self.pipeline is not None
        for imei, command in wanted:
            key = f"{imei} {command}"
            if key in self._queries or len(self._queries) >= MAX_QUERIES_IN_FLIGHT:
                continue
            self._queries.add(key)
            answer = self.pipeline.send_command(imei, command)
            answer.addCallback(self._answered, imei, command)
            answer.addErrback(self._not_answered, imei, command)
            answer.addBoth(self._query_done, key)

    def _not_answered(self, failure: Failure, imei: str, command: str) -> None:
        self.log.info(
            "no answer from {imei} to {command}: {why}", imei=imei, command=command, why=failure.getErrorMessage()
        )

    def _query_done(self, _: object, key: str) -> None:
        self._queries.discard(key)

    def _answered(self, answer: str, imei: str, command: str) -> None:
        now = self.clock.seconds()

        def work() -> list[Transition]:
            self.engine.store_answer(imei, command, answer, now)
            return self.engine.check_device(imei, now, with_history=False)

        self._run(work)
