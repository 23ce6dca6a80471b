"""When diagnostics run: whenever a device's inputs change, in a periodic sweep, and after a device
answered a server command. The work runs on one diagnostics thread, never on the reactor.

Every input schedules the devices it concerns, and a short debounce (``batch_check_min_interval_s``)
gathers them into one bounded run (``check_batch_max`` devices): records and bad frames committed
here (the committer's listener; with ingest workers, the pool's per-device reports), connections and
disconnections (committed as changes too), and, through the change feed read every
``change_poll_interval_s`` (:mod:`telediag.diagnostics.changes`), whatever reached the store on any
node: connectivity events posted to an API or imported by the CLI, registry imports and edits,
connections and records of other nodes. A run caused by connectivity events tells the transition
listeners even when no finding changed: the tickets correlate network-side signals on every call.
The sweep is left with what only time changes (silence, activation windows).
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

from telediag.diagnostics.changes import ChangeFeed, Changes
from telediag.diagnostics.engine import DiagnosticsEngine, EngineView
from telediag.diagnostics.findings import Transition
from telediag.pipeline import Pipeline
from telediag.store.writer import Change, ConnectionChange, IngestError, RecordBatch, Registration

TransitionListener = Callable[[Sequence[Transition]], None]
MAX_QUERIES_IN_FLIGHT = 50
"""Server commands the diagnostics may have outstanding at once (each waits for a device answer)."""
LOCAL_ARRIVALS_KEPT_S = 300.0
"""How long the arrival time of a batch committed here is remembered, so the change feed does not
schedule its device a second time when it reads the same records back from the store."""


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
        self.feed = ChangeFeed()
        self._poll = LoopingCall(self.poll_changes)
        self._poll.clock = self.clock
        self._polling = False
        self._pending: set[str] = set()
        """Devices to evaluate from the store (inputs other than records folded here)."""
        self._batches: list[RecordBatch] = []
        """Committed records not folded into the engine's rolling state yet."""
        self._elsewhere: set[str] = set()
        """Devices whose records were committed elsewhere (ingest workers, other nodes): read back and folded."""
        self._replan: set[str] = set()
        """Devices whose registry entry changed (their coverage plan is read again)."""
        self._network_pending = False
        """Connectivity events are among the pending inputs: publish the run even without transitions."""
        self._local_arrivals: dict[str, float] = {}
        self._local_connections: dict[str, float] = {}
        """Records and connections committed here, by device: the feed reads them back and skips them."""
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
        self._poll.start(self.thresholds.change_poll_interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        if self._sweep.running:
            self._sweep.stop()
        if self._poll.running:
            self._poll.stop()
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

    def on_flush(self, changes: Iterable[Change]) -> None:
        """Committer flush listener: note what this process is about to commit, before the change feed
        can read it back. Noted only after the commit, a device streaming records would often be
        read by the feed first, taken for one another node or worker wrote to, and evaluated from the
        store at every poll."""
        for change in changes:
            if isinstance(change, RecordBatch):
                arrived = self._local_arrivals.get(change.imei)
                if arrived is None or change.server_time > arrived:
                    self._local_arrivals[change.imei] = change.server_time
            elif isinstance(change, ConnectionChange):
                self._local_connections[change.imei] = max(change.at, self._local_connections.get(change.imei, 0.0))

    def on_commit(self, changes: Iterable[Change], inserted: int) -> None:
        """Committer listener: check the devices that sent records or bad frames, connected or left,
        or were registered on first contact."""
        devices: set[str] = set()
        folded = False
        for change in changes:
            if isinstance(change, RecordBatch):
                if change.records:  # folded on the diagnostics thread: evaluated only if it can matter
                    self._batches.append(change)
                    folded = True
                else:  # an ingest worker's report: the records are in the store only, read back there
                    self._elsewhere.add(change.imei)
                    folded = True
            elif isinstance(change, ConnectionChange):
                devices.add(change.imei)
            elif isinstance(change, Registration) or (
                isinstance(change, IngestError) and change.imei
            ):
                assert change.imei is not None
                devices.add(change.imei)
        self.schedule(devices, folded=folded)

    def schedule(self, imeis: Iterable[str], network: bool = False, folded: bool = False) -> None:
        """Check ``imeis`` once the debounce has passed; ``network``: connectivity events are among
        their inputs (the run is published even when no finding changed); ``folded``: records wait
        to be folded."""
        before = len(self._pending)
        self._pending.update(imeis)
        self._network_pending |= network
        if (len(self._pending) > before or network or folded) and self._timer is None and self.running:
            self._timer = self.clock.callLater(self.thresholds.batch_check_min_interval_s, self._check_pending)

    def poll_changes(self) -> defer.Deferred[None]:
        """Read the store's change watermarks on the diagnostics thread; schedule what changed."""
        if self._polling:  # the previous poll is still queued behind a long run
            return defer.succeed(None)
        self._polling = True
        done = deferToThreadPool(self.reactor, self.pool, self.engine.changes, self.feed)

        def scheduled(changes: Changes) -> None:
            self._polling = False
            self._schedule_changes(changes)

        def failed(failure: Failure) -> None:
            self._polling = False
            self.log.failure("reading the store's changes failed", failure)

        polled: defer.Deferred[None] = done.addCallbacks(scheduled, failed)
        self._in_flight.add(polled)
        polled.addBoth(lambda _: self._in_flight.discard(polled))
        return polled

    def _schedule_changes(self, changes: Changes) -> None:
        foreign = _not_seen_here(changes.connections, self._local_connections)
        horizon = self.clock.seconds() - LOCAL_ARRIVALS_KEPT_S
        for local in (self._local_arrivals, self._local_connections):
            for imei in [imei for imei, at in local.items() if at < horizon]:
                del local[imei]
        elsewhere = _not_seen_here(changes.records, self._local_arrivals)
        self._elsewhere |= elsewhere
        self._replan |= changes.registry
        if changes.events:
            self.schedule(changes.events, network=True)
        self.schedule(changes.registry | foreign, folded=bool(elsewhere))

    def _run(self, work: Callable[[], list[Transition]], always: bool = False) -> defer.Deferred[list[Transition]]:
        """Run ``work`` on the diagnostics thread; its one worker runs jobs in submission order.
        ``always``: tell the listeners even when nothing changed."""
        done = deferToThreadPool(self.reactor, self.pool, work)
        done.addCallbacks(self._publish, self._failed, callbackArgs=(always,))
        self._in_flight.add(done)

        def forget(result: object) -> object:
            self._in_flight.discard(done)
            return result

        done.addBoth(forget)
        return done

    def _check_pending(self) -> None:
        """One bounded run over the pending devices; the rest get the next run straight after."""
        self._timer = None
        pending, self._pending = self._pending, set()
        batches, self._batches = self._batches, []
        elsewhere, self._elsewhere = self._elsewhere, set()
        replan, self._replan = self._replan, set()
        network, self._network_pending = self._network_pending, False
        now = self.clock.seconds()
        engine = self.engine
        most = self.thresholds.check_batch_max
        rest: list[str] = []

        def work() -> list[Transition]:
            if replan:
                engine.refresh_plans(replan)
            waiting = sorted(engine.fold(batches, elsewhere) | pending)
            rest.extend(waiting[most:])
            self.checks += len(waiting[:most])
            return engine.check_devices(waiting[:most], now)

        done = self._run(work, always=network)
        done.addBoth(self._next_batch, rest)

    def _next_batch(self, result: object, rest: list[str]) -> object:
        """Devices left over by a bounded run get the next run straight after."""
        self._pending.update(rest)
        if self._pending and self._timer is None and self.running:
            self._timer = self.clock.callLater(0, self._check_pending)
        return result

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

    def _publish(self, transitions: list[Transition], always: bool = False) -> list[Transition]:
        if transitions or always:
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

    def _answered(self, answer: str, imei: str, command: str) -> defer.Deferred[list[Transition]]:
        """File the answer; the question stays in flight until it is stored, so a sweep whose list of
        wanted questions was read before that does not ask the device again."""
        now = self.clock.seconds()

        def work() -> list[Transition]:
            self.engine.store_answer(imei, command, answer, now)
            return self.engine.check_device(imei, now, with_history=False)

        return self._run(work)


def _not_seen_here(found: dict[str, float], local: dict[str, float]) -> set[str]:
    """Devices of ``found`` (imei -> latest time) with something newer than what was committed here."""
    return {imei for imei, at in found.items() if local.get(imei, float("-inf")) < at}
