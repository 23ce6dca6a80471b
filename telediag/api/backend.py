"""Where API work runs: a small pool of reader threads and one writer thread, never the reactor.

Each reader thread keeps its own read-only connection (SQLite connections must not be used by two
threads at once); the writer is a :class:`DatabaseWorker` with one write connection, which WAL lets
commit beside the ingest writer (``busy_timeout`` makes either wait for the other instead of failing).
Stopping joins the threads from a thread of the reactor's pool, then closes every connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from telediag.api.pseudonyms import Pseudonymiser
from telediag.api.views import DiagnosticsView
from telediag.config import Config
from telediag.ingest.traffic_source import TrafficSource
from telediag.metrics import Metrics
from telediag.store.database import Connection, open_database
from telediag.store.reader import Reader
from telediag.store.worker import DatabaseWorker
from telediag.tickets.desk import TicketDesk

T = TypeVar("T")
READ_THREADS = 4


@dataclass(frozen=True)
class Limits:
    """Request limits of one service."""

    max_body_bytes: int


class ApiBackend:
    """Thread pools, connections, diagnostics and the pseudonymiser the handlers use."""

    def __init__(
        self, config: Config, reactor: Any, diagnostics: DiagnosticsView, pseudonyms: Pseudonymiser,
        read_threads: int = READ_THREADS, desk: TicketDesk | None = None, metrics: Metrics | None = None,
        traffic: TrafficSource | None = None,
    ) -> None:
        self.config = config
        self.database = open_database(config.store)
        self.reactor = reactor
        self.diagnostics = diagnostics
        self.pseudonyms = pseudonyms
        self.limits = Limits(config.api.max_body_bytes)
        self.desk = desk
        """The ticket desk, when tickets are served."""
        self.metrics = metrics if metrics is not None else Metrics(config.metrics, reactor)
        """What ``/metrics`` reports; without ingest in the process, the store gauges alone."""
        self.traffic = traffic
        """The ingest processes' raw traffic (``telediag.ingest.traffic_source``); None: no ingest here."""
        self._read_pool = ThreadPool(read_threads, read_threads, name="telediag-api-read")
        self._local = threading.local()
        self._readers: list[Reader] = []
        self._readers_lock = threading.Lock()
        self._writer: DatabaseWorker[Connection] | None = None

    def start(self) -> None:
        """Open the write connection (creating or migrating the store before the API listens, so
        the readers find it), then start the reader threads."""
        self._writer = DatabaseWorker.holding(self.reactor, self.database.connect(), "telediag-api-write")
        self._read_pool.start()

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Wait for running work, then close every connection; the reactor never waits on a thread."""
        if self._read_pool.started:
            yield deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self._stop_readers)
        if self._writer is not None:
            yield self._writer.stop()
            self._writer = None

    def _stop_readers(self) -> None:
        """A thread of the reactor's pool: join the reader threads, then close what they opened (the
        readers and the diagnostics' connections of those threads)."""
        self._read_pool.stop()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()
        self.diagnostics.close()

    def now(self) -> float:
        """The injected clock's time."""
        return float(self.reactor.seconds())

    def _reader(self) -> Reader:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = Reader(self.database)
            self._local.reader = reader
            with self._readers_lock:
                self._readers.append(reader)
        return reader

    def read(self, function: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """``function(reader, *args)`` on a reader thread."""
        return deferToThreadPool(self.reactor, self._read_pool, lambda: function(self._reader(), *args))

    def compute(self, function: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """``function(*args)`` on a reader thread (diagnostics calls, filtering and encoding big bodies)."""
        return deferToThreadPool(self.reactor, self._read_pool, function, *args)

    def write(self, function: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """``function(write_connection, *args)`` on the single writer thread."""
        assert self._writer is not None, "the API service is not running"
        return self._writer.run(function, *args)
