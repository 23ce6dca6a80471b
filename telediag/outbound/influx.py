"""InfluxDB export: the ``records`` table is the outbox, a cursor says how far the server has it.

Records are committed to SQLite first (devices get their ACK only then); this exporter copies them to
an InfluxDB v2 write API (InfluxDB 2, or VictoriaMetrics at ``/api/v2/write``) as points of the
measurement ``telemetry`` (schema: :mod:`telediag.outbound.influx_points`). Nothing waits anywhere but
in SQLite (beyond the few batches on their way to the server):

* ``export_cursors`` holds, under the name ``influxdb``, the highest ``records.id`` the server has
  accepted together with every row below it. The exporter reads rows above the cursor in id order and
  moves the cursor only over rows whose points the server answered 2xx for. Row ids only grow and
  become visible in order (one writer; SQLite gives each new row max(id)+1), so no row is passed by.
* An outage or a restart (of the server or of telediag) therefore loses nothing: the rows wait in
  the table and are read again from the cursor. A batch the server stored but could not confirm is
  sent again; points are idempotent (measurement + tags + timestamp: InfluxDB overwrites,
  VictoriaMetrics deduplicates with ``-dedup.minScrapeInterval``), so re-sending makes no duplicates.

Writes go through influxdb-client's batching write API (``WriteType.batching``): each point is handed
to it as one line; it cuts batches by ``batch_size`` and ``flush_interval_ms`` and reports each batch to
the success or error callback with the batch body. The callbacks may report batches in any order and
their boundaries are the client's, so the exporter does not count on either: it keeps the lines it
handed over keyed by their bytes, marks a row written when a success callback carries its line, and
moves the cursor over the longest written prefix of ids. A failed batch stops the reading; once every
line handed over is settled, the exporter waits (doubling from ``retry_initial_s`` up to
``retry_max_s``, or the server's ``Retry-After``) and reads again from the cursor. The client's own
in-memory retries are off (``max_retries=0``): they would sleep on its writer thread and keep copies in
memory, when the outbox already has the rows; so the retry callback only counts. At most three batches
of lines are handed over at once, so an unreachable server costs no memory and never slows ingest.
Lines handed over that get no report at all for ``4 x timeout_ms + flush_interval_ms`` (a client whose
pipeline died) count as a failure too: the client is replaced and the rows are read again.
``stopService`` stops reading, lets the client write what it holds for at most ``timeout_ms``, and
saves the cursor; rows not written by then wait in the table for the next start.

HTTP 422, and 400 that says the lines were refused (partial write, parse error, field type conflict),
mean the server will never take those points (InfluxDB 2: outside the bucket's retention, or a type
conflict); such a batch is counted in ``points_rejected`` and passed, not retried forever. Any other
error (no connection, timeout, 401/403/404, 413, 429, 5xx) is retried until the server accepts.

All SQLite and serialisation work runs on one exporter thread with its own connection; the reactor
only schedules it, on the injected clock. Counters for metrics: ``points_written`` (points the server
accepted, re-sent ones included), ``points_rejected``, ``points_skipped`` (rows that give no point),
``batches_written``, ``batches_failed``, ``lag`` (rows not yet accepted), ``cursor``.
"""

from __future__ import annotations

import math
import queue
import random
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from telediag.config import InfluxSettings
from telediag.outbound.influx_points import ROW_COLUMNS, row_line
from telediag.store.database import Connection, Database
from telediag.store.worker import database_worker

CURSOR_NAME = "influxdb"
"""The row of ``export_cursors`` this exporter keeps."""
IN_FLIGHT_BATCHES = 3
"""Batches' worth of lines handed to the client and not yet answered, at most."""

_SELECT = (
    "SELECT r.id, "
    + ", ".join("d.account" if name == "account" else f"r.{name}" for name in ROW_COLUMNS)
    + " FROM records r LEFT JOIN devices d ON d.imei = r.imei WHERE r.id > ? ORDER BY r.id LIMIT ?"
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


class Ledger:
    """Which rows handed to the client the server has accepted, whatever order batches come back in.

    Pure bookkeeping (exporter thread only). ``cursor``: every row up to it is accepted. A success
    report carries the batch body; each of its lines marks one waiting row with that exact line as
    accepted (two rows with identical lines are interchangeable: the server has that content).
    """

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.read_upto = cursor
        """The highest id handed over (or skipped); reading continues after it."""
        self.in_flight = 0
        """Lines handed over and not yet reported back."""
        self._order: deque[int] = deque()
        self._accepted: set[int] = set()
        self._waiting: dict[bytes, deque[int]] = {}

    def add(self, row_id: int, line: bytes | None) -> None:
        """Row ``row_id`` (ids ascending) was handed over as ``line``; None: it gives no point."""
        self.read_upto = row_id
        self._order.append(row_id)
        if line is None:
            self._accepted.add(row_id)
            self._advance()
        else:
            self._waiting.setdefault(line, deque()).append(row_id)
            self.in_flight += 1

    def settle(self, body: bytes, accepted: bool) -> int:
        """A batch came back (accepted, or not); returns its number of lines."""
        lines = body.split(b"\n")
        self.in_flight = max(0, self.in_flight - len(lines))
        if accepted:
            waiting = self._waiting
            for line in lines:
                ids = waiting.get(line)
                if ids:
                    self._accepted.add(ids.popleft())
                    if not ids:
                        del waiting[line]
            self._advance()
        return len(lines)

    def rewind(self) -> None:
        """Forget what was handed over and not accepted: reading starts again after the cursor."""
        self._order.clear()
        self._accepted.clear()
        self._waiting.clear()
        self.in_flight = 0
        self.read_upto = self.cursor

    def _advance(self) -> None:
        order, accepted = self._order, self._accepted
        while order and order[0] in accepted:
            accepted.discard(order[0])
            self.cursor = order.popleft()


class _Report(NamedTuple):
    kind: str  # "accepted", "rejected" or "failed"
    body: bytes
    error: BaseException | None


class _Pumped(NamedTuple):
    failing: bool
    drained: bool


def classify(error: BaseException) -> str:
    """``"rejected"`` when the server will never take the batch's points, else ``"failed"`` (retry)."""
    status = getattr(error, "status", None)
    if status == 422:
        return "rejected"
    if status == 400:
        text = describe(error).lower()
        if any(marker in text for marker in _REFUSED_MARKERS):
            return "rejected"
    return "failed"


def describe(error: BaseException) -> str:
    """A one-line account of a write error for logs and ``last_error``."""
    status = getattr(error, "status", None)
    if status is not None:
        message = getattr(error, "message", None) or getattr(error, "reason", None) or ""
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        hint = " (lower [influxdb] batch_size)" if status == 413 else ""
        return f"HTTP {status}: {' '.join(str(message).split())[:300]}{hint}"
    reason = getattr(error, "reason", None)  # urllib3 MaxRetryError wraps the connection error
    text = str(reason if isinstance(reason, BaseException) else error)
    return f"{type(reason if isinstance(reason, BaseException) else error).__name__}: {text[:300]}"


def _retry_after(error: BaseException | None) -> float | None:
    value = getattr(error, "retry_after", None)
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):  # an HTTP date: fall back to the own backoff
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


class InfluxExporter(Service):
    """Copies committed records to an InfluxDB v2 write API, resuming from a durable cursor."""

    log = Logger()

    def __init__(
        self, reactor: Any, database: Database, settings: InfluxSettings, clock: Any = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.reactor = reactor
        self.clock = clock or reactor
        """Time and timers (tests pass a ``task.Clock``); the thread still reports through ``reactor``."""
        self.database = database
        self.settings = settings
        self.worker = database_worker(reactor, database, "telediag-influx")
        self.points_written = 0
        self.points_rejected = 0
        self.points_skipped = 0
        self.batches_written = 0
        self.batches_failed = 0
        self.retries = 0
        self.lag = 0
        self.cursor = 0
        self.last_error: str | None = None
        self._rand = rand
        self._max_in_flight = IN_FLIGHT_BATCHES * settings.batch_size
        self._stall_s = ((IN_FLIGHT_BATCHES + 1) * settings.timeout_ms + settings.flush_interval_ms) / 1000
        """Lines out with no report for this long: the client lost them; rewind and read again."""
        self._poll = LoopingCall(self._kick)
        self._poll.clock = self.clock
        self._reports: queue.SimpleQueue[_Report] = queue.SimpleQueue()
        self._busy = False
        self._again = False
        self._resume_wanted = False
        self._retry_timer: Any = None
        self._started = False
        self._stopping = False
        self._closed: defer.Deferred[None] | None = None
        # exporter-thread state
        self._client: Any = None
        self._write_api: Any = None
        self._scheduler: Any = None
        self._ledger: Ledger | None = None
        self._saved_cursor: int | None = None
        self._failing = False
        self._failures = 0
        self._server_delay: float | None = None
        self._waiting_since: float | None = None

    # -- reactor side ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The counters, for ``/metrics`` and logs."""
        return {
            "points_written": self.points_written, "points_rejected": self.points_rejected,
            "points_skipped": self.points_skipped, "batches_written": self.batches_written,
            "batches_failed": self.batches_failed, "lag": self.lag, "cursor": self.cursor,
            "failing": self._failing, "last_error": self.last_error,
        }

    def startService(self) -> None:
        super().startService()
        if not self.settings.enabled:
            self.log.info("InfluxDB export is off ([influxdb] url is empty)")
            return
        self._stopping = False
        self._started = True
        self._poll.start(self.settings.poll_interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        """Stop reading, let the client write what it holds (at most ``timeout_ms``), save the cursor."""
        super().stopService()
        if not self._started or self._stopping:
            return self._closed or defer.succeed(None)
        self._stopping = True
        if self._poll.running:
            self._poll.stop()
        if self._retry_timer is not None and self._retry_timer.active():
            self._retry_timer.cancel()
        self._retry_timer = None
        # the one exporter thread runs jobs in order: this starts once a running pump is done
        closing = self.worker.run(self._close, self.clock.seconds())
        closing.addErrback(lambda failure: self.log.failure("closing the InfluxDB export failed", failure))
        closing.addBoth(lambda _: self.worker.stop())
        self._closed = closing
        return closing

    def _kick(self, resume: bool = False) -> None:
        """Run a pump on the exporter thread now, or right after the running one."""
        if self._stopping or not self.running:
            return
        self._resume_wanted = self._resume_wanted or resume
        if self._busy:
            self._again = True
            return
        self._busy = True
        resume, self._resume_wanted = self._resume_wanted, False
        pumping = self.worker.run(self._pump, self.clock.seconds(), resume)
        pumping.addCallbacks(self._pumped, self._pump_failed)

    def _pumped(self, result: _Pumped) -> None:
        self._busy = False
        if self._stopping:
            return
        if result.failing and result.drained and self._retry_timer is None and not self._resume_wanted:
            delay = self._backoff()
            self.log.warn(
                "InfluxDB export failing ({error}); retrying in {delay:.1f} s, {lag} rows waiting",
                error=self.last_error, delay=delay, lag=self.lag,
            )
            self._retry_timer = self.clock.callLater(delay, self._retry)
        if self._again:
            self._again = False
            self._kick()

    def _pump_failed(self, failure: Any) -> None:
        self._busy = False
        self.log.failure("InfluxDB export pass failed; trying again at the next poll", failure)

    def _retry(self) -> None:
        self._retry_timer = None
        self._kick(resume=True)

    def _backoff(self) -> float:
        """Doubling from ``retry_initial_s`` to ``retry_max_s``, +-10%; at least the server's Retry-After."""
        s = self.settings
        exponent = min(max(self._failures - 1, 0), 60)
        delay = min(s.retry_max_s, s.retry_initial_s * 2.0**exponent) * (0.9 + 0.2 * self._rand())
        if self._server_delay is not None:
            delay = min(max(delay, self._server_delay), s.retry_max_s)
        return delay

    # -- client callbacks (the client's writer thread) ---------------------------------------------

    def _on_success(self, _conf: Any, body: bytes) -> None:
        self._reports.put(_Report("accepted", body, None))
        self.reactor.callFromThread(self._kick)

    def _on_error(self, _conf: Any, body: bytes, error: BaseException) -> None:
        self._reports.put(_Report(classify(error), body, error))
        self.reactor.callFromThread(self._kick)

    def _on_retry(self, _conf: Any, _body: bytes, _error: BaseException) -> None:
        self.retries += 1  # only if client-side retries are ever turned on

    # -- exporter thread -----------------------------------------------------------------------------

    def _open(self, db: Connection) -> Ledger:
        """The cursor and the client, whichever is not open yet."""
        if self._ledger is None:
            self.cursor = self._saved_cursor = read_cursor(db)
            self._ledger = Ledger(self.cursor)
            self.log.info(
                "InfluxDB export to {url} bucket {bucket}, from records.id > {cursor}",
                url=self.settings.url, bucket=self.settings.bucket, cursor=self.cursor,
            )
        if self._write_api is None:
            self._open_client()
        return self._ledger

    def _open_client(self) -> None:
        # imported here: the client pulls in reactivex and more, which only a configured export needs
        from influxdb_client import InfluxDBClient, WriteOptions
        from influxdb_client.client.write_api import WriteType
        from reactivex.scheduler import ThreadPoolScheduler

        s = self.settings
        client = InfluxDBClient(url=s.url, token=s.token or None, org=s.org, timeout=s.timeout_ms)
        # a scheduler of our own: WriteOptions' default one is created once and shared process-wide
        scheduler = ThreadPoolScheduler(max_workers=1)
        options = WriteOptions(
            write_type=WriteType.batching, batch_size=s.batch_size, flush_interval=s.flush_interval_ms,
            jitter_interval=0, retry_interval=int(s.retry_initial_s * 1000), max_retries=0,
            max_retry_delay=int(s.retry_max_s * 1000), exponential_base=2, max_close_wait=s.timeout_ms,
            write_scheduler=scheduler,
        )
        self._write_api = client.write_api(
            write_options=options, success_callback=self._on_success, error_callback=self._on_error,
            retry_callback=self._on_retry,
        )
        self._client, self._scheduler = client, scheduler

    def _close_client(self) -> None:
        """Let the client write what it holds (at most ``timeout_ms``), then let it go."""
        write_api, client, scheduler = self._write_api, self._client, self._scheduler
        self._write_api = self._client = self._scheduler = None
        try:
            if write_api is not None:
                write_api.close()
        finally:
            if client is not None:
                client.close()
            if scheduler is not None:
                scheduler.executor.shutdown(wait=False)

    def _pump(self, db: Connection, now: float, resume: bool) -> _Pumped:
        """Settle what the client reported, hand over more rows if allowed, save the cursor."""
        ledger = self._open(db)
        self._settle_reports(ledger, now)
        if self._failing and resume:
            ledger.rewind()
            self._failing = False
            self._server_delay = None
        elif not self._failing and ledger.in_flight and self._waiting_since is not None:
            if now - self._waiting_since > self._stall_s:
                # the client lost batches (its pipeline died?): a fresh one gets the rows again
                self._fail(f"no answer from the client for {now - self._waiting_since:.0f} s")
                ledger.in_flight = 0
                self._close_client()
        if not self._failing:
            self._hand_over(db, ledger, now)
        self._save_cursor(db, ledger, now)
        newest = db.execute("SELECT max(id) FROM records").fetchone()[0] or 0
        self.lag = max(0, newest - ledger.cursor)
        return _Pumped(self._failing, ledger.in_flight == 0)

    def _hand_over(self, db: Connection, ledger: Ledger, now: float) -> None:
        s = self.settings
        while ledger.in_flight < self._max_in_flight:
            rows = db.execute(_SELECT, (ledger.read_upto, s.batch_size)).fetchall()
            if not rows:
                return
            lines: list[bytes] = []
            for row in rows:
                try:
                    line = row_line(row[1:])
                except Exception:  # a row no point can be made of must not stop the export
                    self.log.failure("record {id} cannot be exported; skipped", id=row[0])
                    line = None
                if line is None:
                    self.points_skipped += 1
                else:
                    lines.append(line)
                ledger.add(row[0], line)
            if lines:
                if ledger.in_flight == len(lines):
                    self._waiting_since = now
                # "ns" is WritePrecision.NS; the points carry nanosecond timestamps
                self._write_api.write(bucket=s.bucket, org=s.org, record=lines, write_precision="ns")
            if len(rows) < s.batch_size:
                return

    def _settle_reports(self, ledger: Ledger, now: float) -> None:
        while True:
            try:
                report = self._reports.get_nowait()
            except queue.Empty:
                return
            self._waiting_since = now
            lines = ledger.settle(report.body, accepted=report.kind != "failed")
            if report.kind == "accepted":
                self.points_written += lines
                self.batches_written += 1
                if not self._failing:
                    if self._failures:
                        self.log.info("InfluxDB export recovered")
                    self._failures = 0
            elif report.kind == "rejected":
                assert report.error is not None
                self.points_rejected += lines
                self.log.error(
                    "InfluxDB refused {lines} points for good, passing them: {error}",
                    lines=lines, error=describe(report.error),
                )
            else:
                assert report.error is not None
                self.batches_failed += 1
                self._server_delay = _retry_after(report.error)
                self._fail(describe(report.error))

    def _fail(self, why: str) -> None:
        self.last_error = why
        if not self._failing:
            self._failing = True
            self._failures += 1

    def _save_cursor(self, db: Connection, ledger: Ledger, now: float) -> None:
        self.cursor = ledger.cursor
        if ledger.cursor != self._saved_cursor:
            write_cursor(db, ledger.cursor, now)
            self._saved_cursor = ledger.cursor

    def _close(self, db: Connection, now: float) -> None:
        """Exporter thread, at stop: flush the client within ``timeout_ms``, settle, save."""
        try:
            self._close_client()
            if self._ledger is not None:
                self._settle_reports(self._ledger, now)
                self._save_cursor(db, self._ledger, now)
        finally:
            self._ledger = None
