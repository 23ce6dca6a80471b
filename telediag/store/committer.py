"""Group commit off the reactor thread: the device's ACK waits for this, nothing else does.

Connections hand in record batches and get a Deferred that fires once the batch is durable. One
writer thread commits everything that piled up since its last commit in a single transaction, so
the cost of a commit is shared by every connection that was waiting on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure

from telediag.store.worker import DatabaseWorker
from telediag.store.writer import Change, RecordBatch, Store

CommitListener = Callable[[Sequence[Change], int], None]
FlushListener = Callable[[Sequence[Change]], None]


class QueueFull(Exception):
    """More records are waiting for a commit than the configured limit allows."""


class BatchCommitter:
    """Queues changes, commits them in batches on one thread, fires each waiter after its commit."""

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        max_records: int = 2000,
        max_delay_s: float = 0.002,
        queue_limit: int = 100_000,
        state_flush_s: float = 1.0,
    ) -> None:
        self._reactor: Any = reactor
        """Timers (``IReactorTime``) and, for the writer's worker, threads (``IReactorThreads``)."""
        self._worker: DatabaseWorker[Store] | None = None
        self._max_records = max_records
        self._max_delay = max_delay_s
        self.queue_limit = queue_limit
        self._changes: list[Change] = []
        self._waiters: list[Deferred[None]] = []
        self._queued_records = 0
        self._in_flight_records = 0
        self._in_flight = False
        self._timer: Any = None
        self._throttled: set[IPushProducer] = set()
        self._listeners: list[CommitListener] = []
        self._flushing: list[FlushListener] = []
        self._stopping: Deferred[None] | None = None
        self._closed = False
        self._state_flush_s = state_flush_s
        self._state_flushed_at = float("-inf")
        self._state_timer: Any = None
        self.records_submitted = 0
        self.records_stored = 0
        self.commits = 0
        self.commit_failures = 0

    @property
    def backlog(self) -> int:
        """Records queued or being committed."""
        return self._queued_records + self._in_flight_records

    @property
    def saturated(self) -> bool:
        """True when producers should stop feeding records until the backlog drains."""
        return self.backlog >= self.queue_limit

    def start(self, store: Store) -> None:
        """Start the writer thread on ``store``, which it owns from now on (and closes at stop)."""
        self._worker = DatabaseWorker.holding(self._reactor, store, "telediag-writer")

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener(changes, inserted)`` on the reactor after every successful commit."""
        self._listeners.append(listener)

    def add_flush_listener(self, listener: FlushListener) -> None:
        """Call ``listener(changes)`` on the reactor as each batch of changes is handed to the writer,
        before it commits: a reader of the store (the diagnostics' change feed) may see the rows
        before the commit's listeners run, and can tell them from another process's by this."""
        self._flushing.append(listener)

    def submit(self, batch: RecordBatch) -> Deferred[None]:
        """Queue records; the Deferred fires after they (or their earlier copies) are committed."""
        if self._stopping is not None:
            raise QueueFull("the store is shutting down")
        if self._queued_records + self._in_flight_records + len(batch.records) > self.queue_limit * 2:
            raise QueueFull(f"commit queue over its hard limit of {self.queue_limit * 2} records")
        waiter: Deferred[None] = Deferred()
        self._changes.append(batch)
        self._waiters.append(waiter)
        self._queued_records += len(batch.records)
        self.records_submitted += len(batch.records)
        self._schedule()
        return waiter

    def note(self, change: Change) -> None:
        """Queue a state change (connection, error, registration) for the next commit.

        Changes noted after the store closed are dropped: they are connection bookkeeping that
        the next start rebuilds (every device starts disconnected).
        """
        if self._closed:
            return
        self._changes.append(change)
        self._schedule()

    def throttle(self, producer: IPushProducer) -> None:
        """Pause ``producer`` until the backlog is below half the queue limit."""
        if producer not in self._throttled:
            self._throttled.add(producer)
            producer.pauseProducing()

    def release(self, producer: IPushProducer) -> None:
        """Forget a producer that went away."""
        self._throttled.discard(producer)

    def _schedule(self) -> None:
        if self._in_flight:
            return
        if self._queued_records >= self._max_records:
            self._flush()
        elif self._timer is None:
            self._timer = self._reactor.callLater(self._max_delay, self._flush)

    def _flush(self, force_state: bool = False) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        if self._in_flight or not (self._changes or force_state) or self._closed:
            return
        changes, waiters = self._changes, self._waiters
        self._changes, self._waiters = [], []
        self._in_flight = True
        self._in_flight_records, self._queued_records = self._queued_records, 0
        now = self._reactor.seconds()
        flush_state = now - self._state_flushed_at >= self._state_flush_s
        if flush_state:
            self._state_flushed_at = now
        elif self._state_timer is None:
            self._state_timer = self._reactor.callLater(self._state_flush_s, self._flush_state)
        assert self._worker is not None, "the committer was not started"
        for listener in self._flushing:
            try:
                listener(changes)
            except Exception:
                self.log.failure("flush listener failed")
        done = self._worker.run(Store.commit, changes, flush_state)
        done.addBoth(self._committed, changes, waiters)

    def _flush_state(self) -> None:
        """Write device state that is still only in memory, even when no records follow."""
        self._state_timer = None
        self._state_flushed_at = float("-inf")
        self._flush(force_state=True)

    def _committed(self, result: int | Failure, changes: list[Change], waiters: list[Deferred[None]]) -> None:
        self._in_flight = False
        self._in_flight_records = 0
        if isinstance(result, Failure):
            self.commit_failures += 1
            self.log.failure("commit of {n} changes failed; devices get no ACK", result, n=len(changes))
            for waiter in waiters:
                waiter.errback(result)
        else:
            self.commits += 1
            self.records_stored += result
            for listener in self._listeners:
                try:
                    listener(changes, result)
                except Exception:
                    self.log.failure("commit listener failed")
            for waiter in waiters:
                waiter.callback(None)
        if self._changes:
            self._schedule() if self._stopping is None else self._flush()
        elif self._stopping is not None:
            self._finish_stop()
        elif self._state_flushed_at == float("-inf"):
            self._flush(force_state=True)
        if self._throttled and self.backlog < self.queue_limit // 2:
            throttled, self._throttled = self._throttled, set()
            for producer in throttled:
                producer.resumeProducing()

    def stop(self) -> Deferred[None]:
        """Commit whatever is queued, then stop the writer thread and close the store."""
        if self._stopping is None:
            self._stopping = Deferred()
            if not self._in_flight:
                if self._changes:
                    self._flush()
                else:
                    self._finish_stop()
        return self._stopping

    def _finish_stop(self) -> None:
        assert self._stopping is not None
        stopping = self._stopping
        self._closed = True
        if self._state_timer is not None and self._state_timer.active():
            self._state_timer.cancel()
        self._state_timer = None
        if self._worker is None:  # never started: nothing to commit or close
            stopping.callback(None)
            return
        closed = self._worker.stop()  # the store writes its pending device state as it closes
        closed.addErrback(lambda failure: self.log.failure("closing the store failed", failure))
        closed.addBoth(lambda _: stopping.callback(None) if not stopping.called else None)
