"""Webhook delivery of ticket events: durable (outbox rows in the store), signed, retried with backoff.

Delivery is at least once: a receiver can get the same event twice (a crash or a shutdown between its
2xx and our bookkeeping) and must de-duplicate on ``X-Telediag-Delivery``. Each request carries

    Content-Type: application/json
    User-Agent: telediag-webhooks
    X-Telediag-Event: ticket.updated
    X-Telediag-Delivery: 42                       (the outbox row id, the same on every retry)
    X-Telediag-Timestamp: 1790000000              (epoch seconds of this attempt)
    X-Telediag-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body bytes)>

and the body ``{"id": 42, "event": ..., "created_at": ISO 8601 Z, "data": {...}}``. A receiver checks
the signature over the raw body bytes before parsing them, in constant time, and refuses timestamps
too far from its own clock (replays): that is ``verify_signature`` below. In another language: HMAC-SHA256
keyed with the UTF-8 secret over the ASCII timestamp, a ".", then the body; lower-case hex; compare
with the header after ``sha256=`` using a constant-time comparison.

Requests go out through treq (:mod:`telediag.outbound.http`), redirects are not followed, and a
failed row waits for :class:`~telediag.outbound.backoff.Backoff` before its next attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers

from protocols.record import iso_utc
from telediag.config import WebhookConfig
from telediag.outbound.backoff import Backoff
from telediag.outbound.http import describe_failure, http_client, read_excerpt, timed
from telediag.store.database import Connection, Database
from telediag.store.worker import database_worker
from telediag.tickets import outbox
from telediag.tickets.outbox import Delivery

PRUNE_EVERY_S = 3600.0
"""How often delivered rows older than ``keep_delivered_s`` are deleted."""
MAX_RESPONSE_EXCERPT = 200
"""Bytes of a receiver's answer kept in ``last_error``; the rest of the body is read and dropped."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Telediag-Signature`` value: ``sha256=`` + hex HMAC-SHA256 over ``"<timestamp>." + body``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | bytes | int,
    body: bytes,
    header: str | bytes,
    *,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """What a receiver runs on the raw body and the two headers; with ``now``, also refuses a
    timestamp more than ``tolerance_s`` away (a replayed request)."""
    if isinstance(timestamp, bytes):
        timestamp = timestamp.decode("ascii", "replace")
    if isinstance(header, bytes):
        header = header.decode("ascii", "replace")
    text = str(timestamp)
    if not text.isascii() or not text.isdigit():
        return False
    if now is not None and abs(now - int(text)) > tolerance_s:
        return False
    expected = sign(secret, int(text), body).encode("ascii")
    return hmac.compare_digest(expected, header.encode("utf-8", "replace"))


def encode_body(delivery: Delivery) -> bytes:
    """The request body, byte for byte the same on every attempt of one delivery."""
    document = {
        "id": delivery.id,
        "event": delivery.event,
        "created_at": iso_utc(delivery.created_at),
        "data": delivery.data,
    }
    return orjson.dumps(document)


def request_headers(config: WebhookConfig, delivery: Delivery, body: bytes, timestamp: int) -> Headers:
    """The headers of one attempt, signed for ``timestamp``."""
    return Headers({
        b"Content-Type": [b"application/json"],
        b"User-Agent": [b"telediag-webhooks"],
        b"X-Telediag-Event": [delivery.event.encode("utf-8")],
        b"X-Telediag-Delivery": [str(delivery.id).encode("ascii")],
        b"X-Telediag-Timestamp": [str(timestamp).encode("ascii")],
        b"X-Telediag-Signature": [sign(config.secret, timestamp, body).encode("ascii")],
    })


def _status_error(code: int, excerpt: bytes) -> str:
    """``last_error`` for a non-2xx answer: the status and the start of the body on one line."""
    text = " ".join(excerpt.decode("utf-8", "replace").split())
    return f"HTTP {code}: {text}" if text else f"HTTP {code}"


class WebhookDeliverer(Service):
    """Polls the outbox on the injected clock and POSTs due rows; the store only on its worker thread.

    At most one poll runs at a time; within a poll each URL gets its rows one after the other in
    creation order and stops at its first failure, while different URLs are served side by side.
    """

    log = Logger()

    def __init__(self, reactor: Any, database: Database, config: WebhookConfig, clock: Any = None) -> None:
        self.reactor = reactor
        self.clock = clock or reactor
        """Timers, backoff and request timeouts (tests pass a ``task.Clock``); sockets use ``reactor``."""
        self.database = database
        self.config = config
        self.stop_timeout_s = min(config.timeout_s, 5.0)
        """How long ``stopService`` lets requests in flight finish before cancelling them."""
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.random = random.Random()
        """Draws the backoff's jitter (tests seed it)."""
        self.delivered = 0
        self.failed = 0
        self.worker = database_worker(reactor, database, "telediag-webhooks")
        self._last_prune = -math.inf  # worker thread only
        self._http, self._connections = http_client(reactor, config.timeout_s)
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._current: list[Deferred[int]] | None = None  # waiters of the running poll; None: idle
        self._next: list[Deferred[int]] = []  # waiters of the poll that follows it
        self._requests: set[Deferred[Any]] = set()
        self._aborted: set[Deferred[Any]] = set()  # cancelled by stopService, not failed
        self._started = False
        self._stopping = False

    def startService(self) -> None:
        Service.startService(self)
        if not self.config.enabled:
            self.log.info("webhooks off: no [webhooks] urls configured")
            return
        self._started = True
        self._stopping = False
        self._loop.start(self.config.poll_interval_s, now=True)

    def stopService(self) -> Deferred[None]:
        """Let requests in flight finish (for ``stop_timeout_s`` at most); undelivered rows stay queued."""
        Service.stopService(self)
        if not self._started:
            return defer.succeed(None)
        self._started = False
        self._stopping = True
        if self._loop.running:
            self._loop.stop()
        waiting, self._next = self._next, []
        for waiter in waiting:
            waiter.callback(0)
        return self._shutdown()

    @inlineCallbacks
    def _shutdown(self) -> Any:
        bound = self.reactor.callLater(self.stop_timeout_s, self._cancel_requests)
        yield self.idle()
        if bound.active():
            bound.cancel()
        yield self.worker.stop()
        yield self._connections.closeCachedConnections()  # type: ignore[no-untyped-call]

    def _cancel_requests(self) -> None:
        for request in list(self._requests):
            self._aborted.add(request)
            request.cancel()

    def deliver_now(self) -> Deferred[int]:
        """Poll now, or right after the running poll (which read its rows before this call).

        Fires with how many rows that poll delivered. Call it on the reactor thread.
        """
        waiter: Deferred[int] = Deferred()
        if not self._started or self._stopping:
            waiter.callback(0)
        elif self._current is None:
            self._current = [waiter]
            self._run_poll()
        else:
            self._next.append(waiter)
        return waiter

    def idle(self) -> Deferred[int]:
        """Fires when no poll is running (at once if none is)."""
        waiter: Deferred[int] = Deferred()
        if self._current is None:
            waiter.callback(0)
        else:
            self._current.append(waiter)
        return waiter

    def _tick(self) -> Deferred[int]:
        """LoopingCall body: start a poll unless one runs; the loop waits for it either way."""
        if self._current is None:
            return self.deliver_now()
        return self.idle()

    def _run_poll(self) -> None:
        done = self._poll()
        done.addErrback(self._poll_failed)
        done.addCallback(self._polled)

    def _poll_failed(self, failure: Failure) -> int:
        self.log.failure("webhook poll failed", failure)
        return 0

    def _polled(self, delivered: int) -> None:
        waiters, self._current = self._current or [], None
        if self._next:
            self._current, self._next = self._next, []
            self._run_poll()
        for waiter in waiters:
            waiter.callback(delivered)

    @inlineCallbacks
    def _poll(self) -> Any:
        """Read due rows on the worker thread and deliver them; again at once while batches come full."""
        total = 0
        while not self._stopping:
            now = self.clock.seconds()
            rows = yield self.worker.run(self._read_due, now)
            if not rows:
                break
            by_url: dict[str, list[tuple[Delivery, bytes]]] = {}
            for delivery, body in rows:
                by_url.setdefault(delivery.url, []).append((delivery, body))
            queues = [self._deliver_in_order(queue) for queue in by_url.values()]
            counts = yield defer.gatherResults(queues, consumeErrors=True)
            total += sum(counts)
            if len(rows) < self.config.batch or sum(counts) == 0:
                break
        return total

    @inlineCallbacks
    def _deliver_in_order(self, queue: list[tuple[Delivery, bytes]]) -> Any:
        """One URL's rows, oldest first, stopping at the first that fails (it keeps its place)."""
        done = 0
        for delivery, body in queue:
            if self._stopping or not (yield self._attempt(delivery, body)):
                break
            done += 1
        return done

    @inlineCallbacks
    def _attempt(self, delivery: Delivery, body: bytes) -> Any:
        """POST one row and record the outcome; True when the receiver answered 2xx."""
        timestamp = int(self.clock.seconds())
        request = self._http.post(
            delivery.url, data=body, headers=request_headers(self.config, delivery, body, timestamp),
            allow_redirects=False, unbuffered=True,
        )
        request.addCallback(read_excerpt, MAX_RESPONSE_EXCERPT)
        timed(request, self.config.timeout_s, self.clock)
        self._requests.add(request)
        try:
            code, excerpt = yield request
            error = None if 200 <= code < 300 else _status_error(code, excerpt)
        except Exception:
            if request in self._aborted:
                return False  # cancelled by stopService: not the receiver's fault, the row stays as it was
            error = describe_failure(Failure(), self.config.timeout_s)
        finally:
            self._requests.discard(request)
            self._aborted.discard(request)
        now = self.clock.seconds()
        if error is None:
            yield self._mark(outbox.mark_delivered, delivery.id, now)
            self.delivered += 1
            return True
        self.failed += 1
        attempts = delivery.attempts + 1
        where = urlsplit(delivery.url).netloc  # never the path or query: they may hold a token
        if self.config.max_attempts and attempts >= self.config.max_attempts:
            self.log.warn("webhook {id} to {where} given up after {n} attempts: {error}",
                          id=delivery.id, where=where, n=attempts, error=error)
            yield self._mark(outbox.give_up, delivery.id, now, f"after {attempts} attempts: {error}")
            return False
        delay = self.backoff.delay(attempts, self.random.random)
        self.log.info("webhook {id} to {where} failed (attempt {n}), retry in {delay:.1f}s: {error}",
                      id=delivery.id, where=where, n=attempts, delay=delay, error=error)
        yield self._mark(outbox.mark_failed, delivery.id, now, error, now + delay)
        return False

    def _mark(self, mark: Callable[..., None], *args: Any) -> Deferred[None]:
        """Run an outbox mark on the worker thread (each is its own autocommitted statement)."""
        return self.worker.run(mark, *args)

    def _read_due(self, db: Connection, now: float) -> list[tuple[Delivery, bytes]]:
        """Worker thread: prune now and then, read the due rows and encode their bodies."""
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            outbox.prune(db, now, self.config.keep_delivered_s)
        due = outbox.due(db, self.database.dialect, now, self.config.batch)
        return [(delivery, encode_body(delivery)) for delivery in due]
