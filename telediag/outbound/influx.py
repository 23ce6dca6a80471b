"""InfluxDB export: the ``records`` table is the outbox, a cursor says how far the server has it.

Records are committed to the store first (devices get their ACK only then); this exporter copies
them to an InfluxDB v2 write API (InfluxDB 2, or VictoriaMetrics at ``/api/v2/write``) as points of
the measurement ``telemetry`` (schema: :mod:`telediag.outbound.influx_points`). Nothing waits
anywhere but in the store (beyond the few batches on their way to the server):

* ``export_cursors`` holds, under the name ``influxdb``, the highest ``records.id`` the server has
  accepted together with every row below it. The exporter reads rows above the cursor in id order and
  moves the cursor only over rows whose points the server answered 2xx for. Row ids only grow and
  become visible in order (one writer per store), so no row is passed by.
* An outage or a restart (of the server or of telediag) therefore loses nothing: the rows wait in
  the table and are read again from the cursor. A batch the server stored but could not confirm is
  sent again; points are idempotent (measurement + tags + timestamp: InfluxDB overwrites,
  VictoriaMetrics deduplicates with ``-dedup.minScrapeInterval``), so re-sending makes no duplicates.

Each batch is up to ``batch_size`` rows read together, POSTed as one request (treq, on the reactor)
and kept with the ids of its rows, so an answer settles exactly the rows it carried. At most three
batches are out at once, so an unreachable server costs no memory and never slows ingest. The
cursor moves over the longest prefix of settled batches. A failed batch stops the reading; once
every batch out is answered, the exporter waits (the shared backoff over ``retry_initial_s`` ..
``retry_max_s``, at least the server's ``Retry-After``) and reads again from the cursor. A request
with no answer after ``timeout_ms`` (on the injected clock) has failed. ``stopService`` stops
reading, gives the batches out ``timeout_ms`` to be answered, and saves the cursor; rows not
written by then wait in the table for the next start.

HTTP 422, and 400 that says the lines were refused (partial write, parse error, field type conflict),
mean the server will never take those points (InfluxDB 2: outside the bucket's retention, or a type
conflict); such a batch is counted in ``points_rejected`` and passed, not retried forever. Any other
error (no connection, timeout, 401/403/404, 413, 429, 5xx) is retried until the server accepts.

Reading rows and turning them into lines runs on the exporter's database worker; the reactor only
schedules, on the injected clock, and talks HTTP. Counters for metrics: ``points_written`` (points
the server accepted, re-sent ones included), ``points_rejected``, ``points_skipped`` (rows that give
no point), ``batches_written``, ``batches_failed``, ``lag`` (rows not yet accepted), ``cursor``.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IResponse

from telediag.config import InfluxSettings
from telediag.outbound.backoff import Backoff
from telediag.outbound.http import describe_failure, http_client, read_excerpt, timed
from telediag.outbound.influx_points import ROW_COLUMNS, row_line
from telediag.store.database import Connection, Database
from telediag.store.worker import database_worker

CURSOR_NAME = "influxdb"
"""The row of ``export_cursors`` this exporter keeps."""
IN_FLIGHT_BATCHES = 3
"""Batches sent and not yet answered, at most."""
MAX_ANSWER_EXCERPT = 500
"""Bytes of an error answer kept for the log and ``last_error``."""

_SELECT = (
    "SELECT r.id, "
    + ", ".join("d.account" if name == "account" else f"r.{name}" for name in ROW_COLUMNS)
    + " FROM records r LEFT JOIN devices d ON d.imei = r.imei WHERE r.id > ? AND r.id <= ? ORDER BY r.id LIMIT ?"
)
_REFUSED_MARKERS = ("partial write", "unable to parse", "failed to parse", "cannot parse", "type conflict")


def read_cursor(db: Connection, name: str = CURSOR_NAME) -> int:
    """The last exported ``records.id`` (0 when nothing was exported yet)."""
    row = db.execute("SELECT last_id FROM export_cursors WHERE name = ?", (name,)).fetchone()
    return 0 if row is None else int(row[0])


def write_cursor(db: Connection, last_id: int, now: float, name: str = CURSOR_NAME) -> None:
    """Persist the cursor (also how an operator re-exports: set it back, e.g. to 0, while stopped)."""
    db.execute(
        "INSERT INTO export_cursors (name, last_id, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at",
        (name, last_id, now),
    )


@dataclass(frozen=True, slots=True, eq=False)
class Batch:
    """Rows read together: their ids (ascending) and the line protocol of those that give a point."""

    ids: tuple[int, ...]
    body: bytes
    points: int

    @property
    def last_id(self) -> int:
        """The newest row of the batch."""
        return self.ids[-1]


_log = Logger()


def make_batch(rows: Sequence[Sequence[Any]]) -> Batch:
    """A batch of ``_SELECT`` rows (the id first); a row that gives no point is in ``ids`` only."""
    lines = []
    for row in rows:
        try:
            line = row_line(row[1:])
        except Exception:  # a row no point can be made of must not stop the export
            _log.failure("record {id} cannot be exported; skipped", id=row[0])
            continue
        if line is not None:
            lines.append(line)
    return Batch(tuple(row[0] for row in rows), b"\n".join(lines), len(lines))


class Ledger:
    """Which batches the server has, whatever order their answers come back in.

    Pure bookkeeping on the reactor. ``cursor``: every row up to it is accepted (or refused for good).
    """

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.read_upto = cursor
        """The newest row read; reading continues after it."""
        self._out: deque[Batch] = deque()
        self._settled: set[Batch] = set()
        self._answered: set[Batch] = set()

    @property
    def in_flight(self) -> int:
        """Batches handed over and not answered yet."""
        return len(self._out) - len(self._answered)

    def hand_over(self, batch: Batch) -> None:
        """``batch`` was read after ``read_upto`` and is on its way (one without points is settled)."""
        self.read_upto = batch.last_id
        self._out.append(batch)
        if not batch.points:
            self.settle(batch, True)

    def settle(self, batch: Batch, accepted: bool) -> None:
        """The server answered ``batch``: accepted (or refused for good), or not (it is read again
        after a rewind). An answer to a batch from before the last rewind changes nothing."""
        if batch not in self._out or batch in self._answered:
            return
        self._answered.add(batch)
        if accepted:
            self._settled.add(batch)
        while self._out and self._out[0] in self._settled:
            done = self._out.popleft()
            self._settled.discard(done)
            self._answered.discard(done)
            self.cursor = done.last_id

    def rewind(self) -> None:
        """Forget what was handed over and not accepted: reading starts again after the cursor."""
        self._out.clear()
        self._settled.clear()
        self._answered.clear()
        self.read_upto = self.cursor


def classify(status: int, text: str) -> str:
    """``"accepted"`` for 2xx, ``"rejected"`` when the server will never take the batch's points,
    else ``"failed"`` (retried)."""
    if 200 <= status < 300:
        return "accepted"
    if status == 422:
        return "rejected"
    if status == 400 and any(marker in text.lower() for marker in _REFUSED_MARKERS):
        return "rejected"
    return "failed"


def describe(status: int, text: str) -> str:
    """A one-line account of an error answer for logs and ``last_error``."""
    hint = " (lower [influxdb] batch_size)" if status == 413 else ""
    return f"HTTP {status}: {' '.join(text.split())[:300]}{hint}"


def retry_after(value: bytes | str | None) -> float | None:
    """The seconds of a ``Retry-After`` header; None when absent or an HTTP date (the own backoff then)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class _Read:
    batch: Batch | None
    newest: int


def _read(db: Connection, database: Database, after: int, limit: int) -> _Read:
    """Worker thread: the next batch after ``after`` (None when there is none) and the newest row id.

    Only rows up to the database's settled id are read: with several writers a lower id can still be
    committed after a higher one, and the cursor must never pass a row that is not visible yet.
    """
    newest = database.settled_record_id(db)
    rows = db.execute(_SELECT, (after, newest, limit)).fetchall()
    return _Read(make_batch(rows) if rows else None, newest)


class InfluxExporter(Service):
    """Copies committed records to an InfluxDB v2 write API, resuming from a durable cursor."""

    log = Logger()

    def __init__(
        self, reactor: Any, database: Database, settings: InfluxSettings, clock: Any = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.reactor = reactor
        self.clock = clock or reactor
        """Timers, backoff and request timeouts (tests pass a ``task.Clock``); sockets use ``reactor``."""
        self.settings = settings
        self.database = database
        self.worker = database_worker(reactor, database, "telediag-influx")
        self.backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self.points_written = 0
        self.points_rejected = 0
        self.points_skipped = 0
        self.batches_written = 0
        self.batches_failed = 0
        self.lag = 0
        self.cursor = 0
        self.last_error: str | None = None
        self._rand = rand
        self._timeout_s = settings.timeout_ms / 1000
        self._url = settings.url.rstrip("/") + "/api/v2/write"
        self._params = {"org": settings.org, "bucket": settings.bucket, "precision": "ns"}
        self._headers: dict[bytes | str, bytes | str] = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.token:
            self._headers["Authorization"] = f"Token {settings.token}"
        self._http, self._connections = http_client(reactor, self._timeout_s)
        self._poll = LoopingCall(self._pump)
        self._poll.clock = self.clock
        self._ledger: Ledger | None = None
        self._saving: int | None = None  # the cursor last handed to the worker to save
        self._newest = 0
        self._requests: set[Deferred[Any]] = set()
        self._reading = False
        self._again = False
        self._failing = False
        self._failures = 0
        self._server_delay: float | None = None
        self._retry_timer: Any = None
        self._started = False
        self._stopping = False
        self._closed: Deferred[None] | None = None

    def stats(self) -> dict[str, Any]:
        """The counters, for ``/metrics`` and logs."""
        return {
            "points_written": self.points_written, "points_rejected": self.points_rejected,
            "points_skipped": self.points_skipped, "batches_written": self.batches_written,
            "batches_failed": self.batches_failed, "lag": self.lag, "cursor": self.cursor,
            "failing": self._failing, "last_error": self.last_error,
        }

    def startService(self) -> None:
        Service.startService(self)
        if not self.settings.enabled:
            self.log.info("InfluxDB export is off ([influxdb] url is empty)")
            return
        self._started = True
        self._poll.start(self.settings.poll_interval_s, now=True)

    def stopService(self) -> Deferred[None]:
        """Stop reading, give the batches out ``timeout_ms`` to be answered, save the cursor."""
        Service.stopService(self)
        if not self._started or self._stopping:
            return self._closed or defer.succeed(None)
        self._stopping = True
        if self._poll.running:
            self._poll.stop()
        if self._retry_timer is not None and self._retry_timer.active():
            self._retry_timer.cancel()
        self._retry_timer = None
        self._closed = self._close()
        return self._closed

    @defer.inlineCallbacks
    def _close(self) -> Any:
        bound = self.reactor.callLater(self._timeout_s, self._cancel_requests)
        while self._requests or self._reading:
            yield defer.DeferredList(list(self._requests)) if self._requests else self._next_tick()
        if bound.active():
            bound.cancel()
        yield self._save_cursor()
        yield self.worker.stop()
        yield self._connections.closeCachedConnections()  # type: ignore[no-untyped-call]

    def _next_tick(self) -> Deferred[None]:
        waited: Deferred[None] = Deferred()
        self.reactor.callLater(0.01, waited.callback, None)
        return waited

    def _cancel_requests(self) -> None:
        for request in list(self._requests):
            request.cancel()

    # -- reading and sending (reactor thread) -------------------------------------------------------

    @defer.inlineCallbacks
    def _pump(self) -> Any:
        """Read and send batches while fewer than three are out; the poll and every answer call it."""
        if self._reading:
            self._again = True
            return
        self._reading = True
        try:
            while not (self._stopping or self._failing):
                self._again = False
                yield self._read_and_send()
                if not self._again:
                    break
        except Exception:
            self.log.failure("InfluxDB export pass failed; trying again at the next poll")
        finally:
            self._reading = False

    @defer.inlineCallbacks
    def _read_and_send(self) -> Any:
        if self._ledger is None:
            self.cursor = self._saving = yield self.worker.run(read_cursor)
            self._ledger = Ledger(self.cursor)
            self.log.info("InfluxDB export to {url} bucket {bucket}, from records.id > {cursor}",
                          url=self.settings.url, bucket=self.settings.bucket, cursor=self.cursor)
        ledger = self._ledger
        while not (self._stopping or self._failing) and ledger.in_flight < IN_FLIGHT_BATCHES:
            after = ledger.read_upto
            read = yield self.worker.run(_read, self.database, after, self.settings.batch_size)
            self._newest = read.newest
            self.lag = max(0, self._newest - self.cursor)
            if ledger.read_upto != after:
                continue  # rewound while reading: these rows are not the ones after the cursor
            if read.batch is None or self._stopping or self._failing:  # either may have come meanwhile
                break
            self._hand_over(ledger, read.batch)
            if len(read.batch.ids) < self.settings.batch_size:
                break
        yield self._save_cursor()

    def _hand_over(self, ledger: Ledger, batch: Batch) -> None:
        self.points_skipped += len(batch.ids) - batch.points
        ledger.hand_over(batch)
        if not batch.points:
            return
        request = self._http.post(self._url, data=batch.body, params=self._params, headers=self._headers,
                                  allow_redirects=False, unbuffered=True)
        request.addCallback(self._answer)
        timed(request, self._timeout_s, self.clock)
        self._requests.add(request)
        request.addBoth(self._answered, request, ledger, batch)

    def _answer(self, response: IResponse) -> Deferred[tuple[int, bytes, float | None]]:
        delay = retry_after((response.headers.getRawHeaders(b"retry-after") or [None])[-1])
        excerpt = read_excerpt(response, MAX_ANSWER_EXCERPT)
        return excerpt.addCallback(lambda answer: (answer[0], answer[1], delay))

    def _answered(self, result: tuple[int, bytes, float | None] | Failure, request: Deferred[Any],
                  ledger: Ledger, batch: Batch) -> None:
        self._requests.discard(request)
        if isinstance(result, Failure):
            if self._stopping:
                return  # cancelled by the stop: the rows are read again at the next start
            kind, why, delay = "failed", describe_failure(result, self._timeout_s), None
        else:
            status, excerpt, delay = result
            text = excerpt.decode("utf-8", "replace")
            kind, why = classify(status, text), describe(status, text)
        ledger.settle(batch, accepted=kind != "failed")
        self._save_cursor()
        if kind == "accepted":
            self.points_written += batch.points
            self.batches_written += 1
            if self._failures and not self._failing:
                self.log.info("InfluxDB export recovered")
                self._failures = 0
        elif kind == "rejected":
            self.points_rejected += batch.points
            self.log.error("InfluxDB refused {lines} points for good, passing them: {error}",
                           lines=batch.points, error=why)
        else:
            self.batches_failed += 1
            self.last_error = why
            self._server_delay = delay
            if not self._failing:
                self._failing = True
                self._failures += 1
        if self._failing:
            if not ledger.in_flight and not self._stopping and self._retry_timer is None:
                self._schedule_retry()
        elif not self._stopping:
            self._pump()

    def _schedule_retry(self) -> None:
        delay = self.retry_delay()
        self.log.warn("InfluxDB export failing ({error}); retrying in {delay:.1f} s, {lag} rows waiting",
                      error=self.last_error, delay=delay, lag=self.lag)
        self._retry_timer = self.clock.callLater(delay, self._retry)

    def retry_delay(self) -> float:
        """The shared backoff after this many failed passes, at least the server's ``Retry-After``
        (within ``retry_max_s``)."""
        delay = self.backoff.delay(self._failures, self._rand)
        if self._server_delay is not None:
            delay = min(max(delay, self._server_delay), self.settings.retry_max_s)
        return delay

    def _retry(self) -> None:
        self._retry_timer = None
        assert self._ledger is not None
        self._ledger.rewind()
        self._failing = False
        self._server_delay = None
        self._pump()

    def _save_cursor(self) -> Deferred[None]:
        """Persist the ledger's cursor on the worker when it moved; ``cursor`` and ``lag`` follow once
        it is saved (saves run in order on the one worker thread)."""
        if self._ledger is None or self._ledger.cursor == self._saving:
            return defer.succeed(None)
        cursor = self._saving = self._ledger.cursor
        saving = self.worker.run(write_cursor, cursor, self.clock.seconds())
        return saving.addCallbacks(self._saved, self._not_saved, (cursor,))

    def _saved(self, _: None, cursor: int) -> None:
        self.cursor = cursor
        self.lag = max(0, self._newest - cursor)

    def _not_saved(self, failure: Failure) -> None:
        self._saving = None  # saved again at the next pass
        self.log.failure("saving the InfluxDB export cursor failed", failure)
