"""All database work off the reactor: one thread, one connection, jobs in the order they were submitted.

Twisted code reaches the store through a :class:`DatabaseWorker` (the batch committer, ticket
automation, the outbound senders, the API's writer): the reactor thread never runs a query, and the
connection is only ever used by the worker's one thread (SQLite connections must not be shared by
threads at once). It opens on that thread at the first job, so a service built before twistd forks
holds none yet.

``stop()`` lets every job submitted so far finish (and the work their callbacks submit in turn),
closes the connection on the worker's thread, and joins that thread from a thread of the reactor's
pool: the reactor keeps serving while a long job finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from telediag.store.database import Connection, Database

T = TypeVar("T")
R = TypeVar("R")


class Closeable(Protocol):
    """What a worker holds: a connection, or an object owning one (the ingest ``Store``)."""

    def close(self) -> None: ...


C = TypeVar("C", bound=Closeable)


class WorkerStopped(RuntimeError):
    """Work was submitted to a worker that is stopping or stopped."""


class DatabaseWorker(Generic[C]):
    """``run(work, *args)`` calls ``work(connection, *args)`` on the worker's one thread."""

    def __init__(self, reactor: Any, open_connection: Callable[[], C], name: str) -> None:
        self.name = name
        self._reactor = reactor
        self._open = open_connection
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name=name)
        self._connection: C | None = None  # the worker thread's only
        self._in_flight = 0
        self._idle: list[Deferred[None]] = []
        self._closing = False
        self._stopped: Deferred[None] | None = None
        self._stop_waiters: list[Deferred[None]] = []

    @classmethod
    def holding(cls, reactor: Any, connection: C, name: str) -> DatabaseWorker[C]:
        """A worker for a connection opened before any thread used it (at start-up): it closes it at stop."""
        worker = cls(reactor, lambda: connection, name)
        worker._connection = connection
        return worker

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not finished yet."""
        return self._in_flight

    def run(self, work: Callable[..., T], *args: Any) -> Deferred[T]:
        """``work(connection, *args)`` on the worker thread, after every job submitted before it.

        The Deferred fires on the reactor with the result, or fails with the job's error (or
        :class:`WorkerStopped` once ``stop()`` has closed the connection).
        """
        if self._closing:
            return defer.fail(WorkerStopped(f"{self.name} is stopped"))
        if not self._pool.started:
            self._pool.start()
        self._in_flight += 1
        done = deferToThreadPool(self._reactor, self._pool, self._call, work, args)
        done.addBoth(self._settled)
        return done

    def _call(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self._connection is None:
            self._connection = self._open()
        return work(self._connection, *args)

    def _settled(self, result: R) -> R:
        self._in_flight -= 1
        if not self._in_flight and self._idle:
            # after the callbacks the job's owner added have run (they may submit more work)
            self._reactor.callLater(0, self._wake_idle)
        return result

    def _wake_idle(self) -> None:
        waiting, self._idle = self._idle, []
        for waiter in waiting:
            waiter.callback(None)

    def _until_idle(self) -> Deferred[None]:
        waiter: Deferred[None] = Deferred()
        if self._in_flight:
            self._idle.append(waiter)
        else:
            waiter.callback(None)
        return waiter

    def stop(self) -> Deferred[None]:
        """Finish the work in flight, close the connection on its thread, let the thread go.

        Never blocks the reactor; every caller gets its own Deferred, fired once all of it is done.
        """
        waiter: Deferred[None] = Deferred()
        if self._stopped is not None and self._stopped.called:
            waiter.callback(None)
            return waiter
        self._stop_waiters.append(waiter)
        if self._stopped is None:
            self._stopped = self._stop()
            self._stopped.addBoth(self._release_waiters)
        return waiter

    @defer.inlineCallbacks
    def _stop(self) -> Any:
        while self._in_flight:
            yield self._until_idle()
        self._closing = True
        if self._connection is None and not self._pool.started:
            return
        if not self._pool.started:
            self._pool.start()
        try:
            yield deferToThreadPool(self._reactor, self._pool, self._close)
        finally:
            yield deferToThreadPool(self._reactor, self._reactor.getThreadPool(), self._pool.stop)

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _release_waiters(self, result: object) -> None:
        waiting, self._stop_waiters = self._stop_waiters, []
        for waiter in waiting:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(None)


def database_worker(reactor: Any, database: Database, name: str, readonly: bool = False) -> DatabaseWorker[Connection]:
    """A worker holding one connection to ``database`` (read-only ones never migrate or write)."""
    return DatabaseWorker(reactor, lambda: database.connect(readonly=readonly), name)
