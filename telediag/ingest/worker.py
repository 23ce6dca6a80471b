"""One ingest worker process (``[ingest] workers`` > 1): the ingest part of the service tree on
listening sockets made by the parent (``telediag.ingest.workers``).

The parent starts ``python -m telediag.ingest.worker`` with the worker's sockets as inherited
descriptors and writes its plan (the config, its index, which descriptor is which endpoint) as one
JSON line on its standard input, which then stays open: its end means the parent is gone, and the
worker stops. The worker runs the store writer and committer, the pipeline and the listeners, the
delivery of queued commands to its own devices, plus MQTT ingest in worker 0 only; diagnostics,
tickets, outbound and the API run in the parent. Once a second it sends its counters and the
devices that got new data to the parent on descriptor 3.

SIGTERM (from the parent) stops it the same way as the whole service stops: no more input, the
queued records committed, then exit. SIGINT is ignored: Ctrl-C in a terminal reaches every process
of the group, and the parent stops its workers itself, in order.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import sys
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from twisted.application.service import MultiService, Service
from twisted.internet import defer, protocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from telediag.config import Config, parse_config
from telediag.ingest.listeners import ListenerService
from telediag.ingest.reports import make_report
from telediag.ingest.sockets import Inherited
from telediag.ingest.traffic import TrafficLog
from telediag.ordered import OrderedService
from telediag.pipeline import Pipeline
from telediag.store.service import StoreService
from telediag.store.writer import Change, IngestError, RecordBatch

REPORT_FD = 3
"""The worker's descriptor for reports to the parent (JSON lines)."""
FIRST_SOCKET_FD = 4
"""Inherited sockets are numbered from here, in the plan's order."""
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SocketPlan:
    """Which endpoint an inherited descriptor listens on."""

    protocol: str
    endpoint: str
    fd: int
    family: int


@dataclass(frozen=True)
class WorkerPlan:
    """What a worker is told at start."""

    index: int
    config: Config
    sockets: tuple[SocketPlan, ...]
    mqtt: bool
    """Whether this worker runs MQTT ingest (one worker of the node does)."""
    log_level: str = "info"
    report_s: float = 1.0

    def encode(self) -> bytes:
        """The plan as one JSON line."""
        def builtin(value: Any) -> Any:
            return dict(value) if isinstance(value, Mapping) else str(value)  # mappings, paths

        document = msgspec.to_builtins(self, enc_hook=builtin)
        return json.dumps(document).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> WorkerPlan:
        """The plan from its JSON line; the config goes through the one config schema again."""
        document = json.loads(line)
        sockets = tuple(SocketPlan(**entry) for entry in document["sockets"])
        return cls(document["index"], parse_config(document["config"]), sockets, document["mqtt"],
                   document["log_level"], document["report_s"])


def ingest_pipeline(config: Config, store: StoreService, reactor: Any) -> Pipeline:
    """The pipeline every listener of a process hands decoded messages to."""
    ingest = config.ingest
    return Pipeline(reactor, store.committer, store.registered, ingest.auto_register, ingest.command_timeout_s,
                    ingest.bounds)


MAX_REQUEST_LINE = 64 * 1024
"""A request line from the parent longer than this is dropped (requests are a few dozen bytes)."""


class ParentLink(protocol.Protocol):
    """The pipes to the parent: reports out on descriptor 3; the end of standard input means the
    parent is gone. Standard input also brings the parent's traffic requests, one JSON line each
    (``{"traffic": request, "id": n}``), answered on descriptor 3 from ``traffic``."""

    def __init__(self, parent_gone: Any) -> None:
        self.parent_gone = parent_gone
        self.traffic: TrafficLog | None = None
        self.registered: Container[str] = ()
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_REQUEST_LINE:
            self._buffer = b""
        for line in lines:
            try:
                message = json.loads(line)
                request, ident = message["traffic"], message["id"]
            except (ValueError, KeyError, TypeError):
                continue
            answer = self.traffic.query(request, self.registered) if self.traffic is not None else None
            self.send({"traffic": {"id": ident, "answer": answer}})

    def send(self, message: Mapping[str, Any]) -> None:
        """One JSON line to the parent."""
        if self.transport is not None:
            self.transport.write(json.dumps(message).encode() + b"\n")

    def connectionLost(self, reason: Any = None) -> None:
        self.parent_gone()


class Reporter(Service):
    """Sends the worker's counters, and the devices that got new data, once every ``report_s``."""

    def __init__(self, index: int, link: ParentLink, pipeline: Pipeline, listeners: ListenerService,
                 clock: Any, report_s: float) -> None:
        self.index = index
        self.link = link
        self.pipeline = pipeline
        self.listeners = listeners
        self._devices: dict[str, str] = {}
        self._loop = LoopingCall(self.report)
        self._loop.clock = clock
        self.report_s = report_s
        pipeline.committer.add_listener(self.committed)

    def committed(self, changes: Sequence[Change], inserted: int) -> None:
        """Committer listener: remember the devices that sent records or bad frames."""
        for change in changes:
            if isinstance(change, RecordBatch | IngestError) and change.imei:
                self._devices[change.imei] = change.protocol

    def report(self) -> None:
        """Send the counters now."""
        devices, self._devices = list(self._devices.items()), {}
        self.link.send({"report": make_report(self.pipeline.stats, self.pipeline.committer,
                                              self.listeners.factories, devices)})

    def startService(self) -> None:
        Service.startService(self)
        self._loop.start(self.report_s, now=False)

    def stopService(self) -> None:
        Service.stopService(self)
        if self._loop.running:
            self._loop.stop()


class WorkerService(OrderedService):
    """A worker's tree: reporter, store, MQTT ingest (worker 0), listeners; ``ready`` once listening."""

    log = Logger(namespace="telediag.ingest.worker.WorkerService")  # not __main__

    def __init__(self, plan: WorkerPlan, reactor: Any, link: ParentLink) -> None:
        MultiService.__init__(self)
        config = plan.config
        self.plan = plan
        self.link = link
        store = StoreService(config.store, reactor, fresh_start=False)
        pipeline = ingest_pipeline(config, store, reactor)
        link.traffic, link.registered = pipeline.traffic, store.registered
        inherited = {(s.protocol, s.endpoint): Inherited(s.fd, s.family) for s in plan.sockets}
        self.listeners = ListenerService(config.listen, config.ingest, pipeline, reactor, inherited=inherited)
        children: list[Service] = [Reporter(plan.index, link, pipeline, self.listeners, reactor, plan.report_s), store]
        if plan.mqtt and config.mqtt.ingest_enabled:
            from telediag.ingest.mqtt import MqttIngest  # paho only where it is used

            children.append(MqttIngest(reactor, config.mqtt, pipeline))
        from telediag.commands.delivery import DeliveryService  # queued commands to this worker's devices

        children.append(DeliveryService(reactor, store.database, pipeline, config.commands))
        for child in [*children, self.listeners]:
            child.setServiceParent(self)
        self.ready: defer.Deferred[None] = self.listeners.ready.addCallback(self._listening)

    def _listening(self, _: object) -> None:
        self.link.send({"ready": os.getpid()})
        self.log.info("worker {index} (pid {pid}) listening on the shared sockets",
                      index=self.plan.index, pid=os.getpid())
        gc.freeze()  # as in the parent: what start-up built lives as long as the process


def die_with_parent() -> None:
    """Linux: SIGTERM this process when its parent ends, even before the reactor watches the pipe."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the end of standard input still stops the worker
        pass


def read_plan(fd: int = 0) -> bytes:
    """The first line on ``fd`` (empty when the parent closed it before writing one)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            return b""
        data += chunk
    return data


def main() -> int:
    """Run one worker until SIGTERM or its parent's end; 1 when it could not start."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = read_plan()
    if not line:
        return 1
    plan = WorkerPlan.decode(line)
    from twisted.internet import reactor

    from telediag.runner import start_logging, stop_on_signals, stop_reactor

    start_logging(plan.log_level, system=f"worker {plan.index}")
    status = {"code": 0}
    link = ParentLink(lambda: stop_reactor(reactor))
    service = WorkerService(plan, reactor, link)

    def failed(failure: Any) -> None:
        status["code"] = 1
        print(f"telediag worker {plan.index}: cannot start: {failure.value}", file=sys.stderr)
        stop_reactor(reactor)

    def start() -> None:
        StandardIO(link, stdin=0, stdout=REPORT_FD, reactor=reactor)  # type: ignore[call-arg, no-untyped-call]  # POSIX one
        try:
            MultiService.startService(service)
        except Exception as error:  # an unusable store: say why and end
            service.ready.errback(error)

    service.ready.addErrback(failed)
    reactor.callWhenRunning(stop_on_signals, reactor, (signal.SIGTERM,))
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
