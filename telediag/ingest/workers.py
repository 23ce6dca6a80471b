"""Ingest on every core: ``[ingest] workers = N`` processes share each listening port (SO_REUSEPORT).

The parent (``telediag serve`` or ``twistd telediag``) makes N sockets for every endpoint of
``[listen]`` (``telediag.ingest.sockets``) and starts N worker processes (``telediag.ingest.worker``),
each with its own socket per endpoint; the kernel spreads connections across them. Every worker
writes its records to the store itself. The parent keeps the API, and diagnostics, tickets and
outbound when this node is elected (``telediag.election``); it hears from each worker once a second
(counters for ``/metrics``, devices with new data for diagnostics).

With SQLite every worker writes to the one file and the commits take turns under SQLite's write lock
(its busy timeout waits for the lock): decoding, framing and the network scale with the workers,
commits do not. With PostgreSQL each worker writes concurrently.

A worker that dies is started again on the same sockets after ``restart_delay_s`` (connections
queued on its socket meanwhile wait for it); more than ``max_restarts`` restarts of one worker
within ``restart_window_s`` stop the node (``on_fatal``), as something is wrong beyond one process.
Stopping the pool stops every worker with SIGTERM (each commits what is queued, then exits) and
waits for them; a worker never outlives the parent (it stops when its standard input ends, and on
Linux the kernel sends it SIGTERM when the parent dies).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from twisted.application.service import Service
from twisted.internet import defer, protocol
from twisted.logger import Logger

import telediag
from telediag.config import Config
from telediag.ingest.reports import Report, WorkerTotals
from telediag.ingest.sockets import SharedAddress, reuseport_sockets, shared_address
from telediag.ingest.worker import FIRST_SOCKET_FD, REPORT_FD, SocketPlan, WorkerPlan
from telediag.metrics import Metrics
from telediag.store.committer import CommitListener
from telediag.store.writer import RecordBatch

MAX_REPORT_LINE = 16 * 1024 * 1024
"""A worker's report line longer than this is a fault: the worker is stopped (and restarted)."""


TRAFFIC_TIMEOUT_S = 5.0
"""How long the parent waits for the workers' answers about raw traffic; one that is late is left out."""


class _TrafficQuestion:
    """One traffic question to the workers: whose answers are still awaited, and what came."""

    def __init__(self, asked: Sequence[int]) -> None:
        self.answers: dict[int, dict[str, Any] | None] = dict.fromkeys(asked)
        self.waiting = set(asked)
        self.answered: defer.Deferred[list[dict[str, Any] | None]] = defer.Deferred()
        self.timer: Any = None


@dataclass
class RestartBudget:
    """At most ``limit`` restarts within any ``window_s``; one more means the worker cannot run."""

    limit: int = 5
    window_s: float = 300.0
    times: deque[float] = field(default_factory=deque)

    def allow(self, now: float) -> bool:
        """Count a restart at ``now`` if the budget has room for it."""
        while self.times and self.times[0] <= now - self.window_s:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


class WorkerProcess(protocol.ProcessProtocol):
    """The parent's end of one worker: its plan in, its ready line and reports out, its exit."""

    def __init__(self, pool: WorkerPool, index: int, plan: bytes) -> None:
        self.pool = pool
        self.index = index
        self.plan = plan
        self.pid: int | None = None
        self.ready = False
        self.ended: defer.Deferred[None] = defer.Deferred()
        self._buffer = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.pid = self.transport.pid
        self.transport.writeToChild(0, self.plan)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD != REPORT_FD:
            return
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_REPORT_LINE:
            self._buffer = b""
            self.pool.log.error("worker {index} sent an oversized report; stopping it", index=self.index)
            self.signal("KILL")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                self.pool.log.error("worker {index} sent a bad report line", index=self.index)
                continue
            if "ready" in message:
                self.ready = True
                self.pool.worker_ready(self)
            elif "report" in message:
                self.pool.worker_report(self.index, message["report"])
            elif "traffic" in message:
                self.pool.traffic_answer(self.index, message["traffic"])

    def ask(self, line: bytes) -> bool:
        """Write a request line to the worker's standard input; False when it is not running."""
        if self.transport is None or self.transport.pid is None:
            return False
        self.transport.writeToChild(0, line)
        return True

    def signal(self, name: str) -> None:
        """Send ``SIG<name>`` unless the worker already ended."""
        if self.transport is not None and self.transport.pid is not None:
            try:
                self.transport.signalProcess(name)
            except ProcessLookupError:
                pass

    def processEnded(self, reason: Any) -> None:
        self.pool.worker_ended(self, reason.value)
        self.ended.callback(None)


class WorkerPool(Service):
    """``WorkerPool(config, reactor)``: the node's ingest workers. ``ready`` fires once every worker
    listens; :meth:`bound` then lists (protocol, transport, port) like the listeners of one process.

    It also stands in for a single process's committer and pipeline where the parent needs them:
    :meth:`add_listener` hears the devices the workers committed data of, and ``totals`` sums the
    workers' counters for the metrics collectors.
    """

    log = Logger()

    def __init__(
        self, config: Config, reactor: Any, log_level: str = "info", on_fatal: Callable[[str], None] | None = None,
        restart_delay_s: float = 1.0, max_restarts: int = 5, restart_window_s: float = 300.0,
        stop_timeout_s: float = 60.0, ready_timeout_s: float = 60.0,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self.count = config.ingest.workers
        self.log_level = log_level
        self.on_fatal = on_fatal
        self.restart_delay_s = restart_delay_s
        self.stop_timeout_s = stop_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self.addresses: list[SharedAddress] = [
            shared_address(name, endpoint) for name, endpoints in config.listen.items() for endpoint in endpoints
        ]
        self.totals = WorkerTotals(a.protocol for a in self.addresses if a.transport == "tcp")
        self.budgets = [RestartBudget(max_restarts, restart_window_s) for _ in range(self.count)]
        self.restarts = [0] * self.count
        self.ready: defer.Deferred[None] = defer.Deferred()
        self.workers: dict[int, WorkerProcess] = {}
        self._sockets: list[list[socket.socket]] = []
        """Per address, one socket per worker; the parent keeps them open while it runs."""
        self._listeners: list[CommitListener] = []
        self._pending: dict[int, Any] = {}
        self._ready_timer: Any = None
        self._stopping = False
        self._asked: dict[int, _TrafficQuestion] = {}
        self._next_question = 0
        self.traffic_timeout_s = TRAFFIC_TIMEOUT_S
        self._metrics: Metrics | None = None

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener(changes, 0)`` with a record-less batch per device the workers committed data of."""
        self._listeners.append(listener)

    def bound(self) -> list[tuple[str, str, int]]:
        """(protocol, transport, port number) of every shared endpoint."""
        return [(a.protocol, a.transport, sockets[0].getsockname()[1])
                for a, sockets in zip(self.addresses, self._sockets, strict=True)]

    def port(self, protocol: str, transport: str = "tcp") -> int:
        """The bound port number of the first ``protocol`` endpoint on ``transport``."""
        for name, kind, port in self.bound():
            if name == protocol and kind == transport:
                return port
        raise LookupError(f"no {protocol} {transport} listener")

    def pids(self) -> dict[int, int]:
        """The process id of each running worker."""
        return {index: worker.pid for index, worker in self.workers.items() if worker.pid is not None}

    def startService(self) -> None:
        Service.startService(self)
        try:
            for address in self.addresses:
                self._sockets.append(reuseport_sockets(address, self.count))
        except OSError as error:
            self._close_sockets()
            self.log.error("cannot listen: {error}", error=error)
            self.ready.errback(error)
            return
        self._watch_udp()
        backend = self.config.store.backend
        if backend == "sqlite":
            self.log.info(
                "{count} ingest workers share the listening ports and write to one SQLite file: their commits "
                "take turns under SQLite's write lock (decoding and the network scale with the workers, commits "
                'do not); [store] backend = "postgresql" lets every worker write at once', count=self.count)
        else:
            self.log.info("{count} ingest workers share the listening ports, each writing to {backend}",
                          count=self.count, backend=backend)
        for index in range(self.count):
            self._spawn(index)
        self._ready_timer = self.reactor.callLater(self.ready_timeout_s, self._not_ready)

    def _spawn(self, index: int) -> None:
        self._pending.pop(index, None)
        if self._stopping:
            return
        sockets = [SocketPlan(a.protocol, a.endpoint, FIRST_SOCKET_FD + n, int(a.family))
                   for n, a in enumerate(self.addresses)]
        plan = WorkerPlan(index, self.config, tuple(sockets), mqtt=index == 0, log_level=self.log_level)
        worker = WorkerProcess(self, index, plan.encode())
        child_fds: dict[int, int | str] = {0: "w", 1: 1, 2: 2, REPORT_FD: "r"}
        for n, group in enumerate(self._sockets):
            child_fds[FIRST_SOCKET_FD + n] = group[index].fileno()
        self.workers[index] = worker
        executable = sys.executable
        self.reactor.spawnProcess(
            worker, executable, [executable, "-m", "telediag.ingest.worker"], env=worker_environment(),
            path=os.getcwd(), childFDs=child_fds,
        )
        self.log.info("started ingest worker {index} (pid {pid})", index=index, pid=worker.pid)

    def worker_ready(self, worker: WorkerProcess) -> None:
        """``worker`` listens; the pool is ready once every worker is."""
        if not self.ready.called and all(w.ready for w in self.workers.values()) and len(self.workers) == self.count:
            if self._ready_timer is not None and self._ready_timer.active():
                self._ready_timer.cancel()
            self.ready.callback(None)

    def worker_report(self, index: int, report: Report) -> None:
        """Worker ``index`` sent its counters: keep them, and tell listeners about its devices."""
        devices = report.pop("devices", [])
        self.totals.update(index, report)
        if devices and self._listeners:
            now = self.reactor.seconds()
            changes = [RecordBatch(imei, protocol, (), now) for imei, protocol in devices]
            for listener in self._listeners:
                try:
                    listener(changes, 0)
                except Exception:
                    self.log.failure("worker commit listener failed")

    def ask_traffic(self, request: dict[str, Any]) -> defer.Deferred[list[dict[str, Any] | None]]:
        """Ask every running worker about its raw traffic (``TrafficLog.query``); each answer, or None
        for a worker that did not answer within ``traffic_timeout_s`` (``telediag.ingest.traffic_source``)."""
        self._next_question += 1
        ident = self._next_question
        line = json.dumps({"traffic": request, "id": ident}).encode() + b"\n"
        asked = [index for index, worker in sorted(self.workers.items()) if worker.ask(line)]
        question = _TrafficQuestion(asked)
        if not asked:
            return defer.succeed([])
        self._asked[ident] = question
        question.timer = self.reactor.callLater(self.traffic_timeout_s, self._traffic_done, ident)
        return question.answered

    def traffic_answer(self, index: int, message: dict[str, Any]) -> None:
        """Worker ``index`` answered a traffic question."""
        ident = message.get("id")
        if not isinstance(ident, int):
            return
        question = self._asked.get(ident)
        if question is None or index not in question.answers:
            return
        question.answers[index] = message.get("answer")
        question.waiting.discard(index)
        if not question.waiting:
            self._traffic_done(ident)

    def _traffic_done(self, ident: int) -> None:
        question = self._asked.pop(ident, None)
        if question is None:
            return
        if question.timer is not None and question.timer.active():
            question.timer.cancel()
        question.answered.callback(list(question.answers.values()))

    def worker_ended(self, worker: WorkerProcess, reason: BaseException) -> None:
        """A worker exited: restart it, or give up on the node."""
        index = worker.index
        if self.workers.get(index) is worker:
            del self.workers[index]
        self.totals.retire(index)
        if self._stopping:
            self.log.info("ingest worker {index} (pid {pid}) stopped", index=index, pid=worker.pid)
            return
        if not self.ready.called:  # judged after the delay: a stop of the whole group may be on its way
            message = f"ingest worker {index} exited before it listened: {reason}"
            self._pending[index] = self.reactor.callLater(self.restart_delay_s, self._give_up_starting, message)
            return
        now = self.reactor.seconds()
        if not self.budgets[index].allow(now):
            budget = self.budgets[index]
            message = (f"ingest worker {index} ended {budget.limit + 1} times within {budget.window_s:g} s "
                       f"(last: {reason}); stopping the node")
            self.log.critical("{message}", message=message)
            if self.on_fatal is not None:
                self.on_fatal(message)
            return
        self.restarts[index] += 1
        self.log.warn("ingest worker {index} (pid {pid}) ended ({reason}); restarting it in {delay} s",
                      index=index, pid=worker.pid, reason=reason, delay=self.restart_delay_s)
        self._pending[index] = self.reactor.callLater(self.restart_delay_s, self._spawn, index)

    def _not_ready(self) -> None:
        self._ready_timer = None
        if not self.ready.called:
            self._give_up_starting(f"ingest workers did not listen within {self.ready_timeout_s:g} s")

    def _give_up_starting(self, message: str) -> None:
        self._pending.clear()
        if self.ready.called:
            return
        self.log.error("{message}", message=message)
        self._stopping = True  # no restarts: the node cannot start
        for worker in self.workers.values():
            worker.signal("KILL")
        self.ready.errback(RuntimeError(message))

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """SIGTERM every worker and wait until all ended (SIGKILL after ``stop_timeout_s``)."""
        Service.stopService(self)
        self._stopping = True
        for timer in [*self._pending.values(), self._ready_timer]:
            if timer is not None and timer.active():
                timer.cancel()
        self._pending.clear()
        self._close_sockets()  # the workers' copies stay open until each stops listening
        workers = list(self.workers.values())
        for worker in workers:
            worker.signal("TERM")
        if workers:
            ended = defer.DeferredList([w.ended for w in workers])
            killer = self.reactor.callLater(self.stop_timeout_s, self._kill, workers)
            yield ended
            if killer.active():
                killer.cancel()

    def _kill(self, workers: Sequence[WorkerProcess]) -> None:
        for worker in workers:
            if not worker.ended.called:
                self.log.error("ingest worker {index} did not stop within {timeout:g} s; killing it",
                               index=worker.index, timeout=self.stop_timeout_s)
                worker.signal("KILL")

    def _close_sockets(self) -> None:
        for group in self._sockets:
            for sock in group:
                sock.close()

    def watch(self, metrics: Metrics) -> None:
        """Report the workers' TCP listeners and per-worker figures in ``metrics`` (its ingest and
        commit figures are given ``totals`` and ``totals.committer`` at construction)."""
        for figures in self.totals.tcp:
            metrics.watch_tcp(figures)
        metrics.registry.register(WorkerCollector(self))
        self._metrics = metrics

    def _watch_udp(self) -> None:
        """The workers' UDP sockets are the parent's too: their buffers and kernel drops are read here."""
        if self._metrics is None:
            return
        for address, sockets in zip(self.addresses, self._sockets, strict=True):
            if address.transport == "udp":
                for sock in sockets:
                    self._metrics.watch_udp(address.protocol, sock.getsockname()[1], sock,
                                            self.config.ingest.udp_receive_buffer_bytes)


class WorkerCollector(Collector):
    """Each worker's restarts and records since its start, by worker index."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        pool = self.pool
        restarts = CounterMetricFamily("telediag_ingest_worker_restarts",
                                       "Times an ingest worker was started again after it ended.", labels=["worker"])
        records = GaugeMetricFamily("telediag_ingest_worker_records",
                                    "Records an ingest worker received since it (last) started, as of its "
                                    "last report (once a second).", labels=["worker"])
        for index in range(pool.count):
            restarts.add_metric([str(index)], pool.restarts[index])
            records.add_metric([str(index)], pool.totals.records_of(index))
        yield restarts
        yield records


def worker_environment() -> dict[str, str]:
    """The parent's environment, with the tree this telediag was imported from first on the path."""
    root = str(Path(telediag.__file__).resolve().parents[1])
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (root, environment.get("PYTHONPATH", "")) if p)
    return environment
