"""Sends the mail outbox through the configured SMTP server with Twisted's ESMTP client
(``twisted.mail.smtp.ESMTPSenderFactory``): STARTTLS when the server offers it (required with
``require_tls`` or a username), AUTH with a username.

Delivery is at least once: a message whose server answer is lost (a crash between the server's 250
and our bookkeeping) is sent again, with the same ``Message-ID``, which mail readers use to drop the
copy. A temporary failure (4xx, a refused or broken connection, a timeout) waits for
:class:`~telediag.outbound.backoff.Backoff`; a permanent one (5xx) is given up at once, as is a
message that reached ``max_attempts``.
"""

from __future__ import annotations

import math
import random
from io import BytesIO
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.mail.smtp import ESMTPSenderFactory, SMTPClientError
from twisted.python.failure import Failure

from telediag.config.mail import MailConfig
from telediag.mail import outbox
from telediag.mail.outbox import Outgoing
from telediag.outbound.backoff import Backoff
from telediag.store.database import Connection, Database
from telediag.store.worker import database_worker

PRUNE_EVERY_S = 3600.0


def describe(failure: Failure) -> tuple[str, bool]:
    """What went wrong, for ``last_error``, and whether it is permanent (a 5xx from the server)."""
    error = failure.value
    if isinstance(error, SMTPClientError):
        text = error.resp.decode("utf-8", "replace") if isinstance(error.resp, bytes) else str(error.resp)
        return f"SMTP {error.code}: {' '.join(text.split())}"[:300], 500 <= error.code < 600
    return f"{type(error).__name__}: {error}"[:300], False


def smtp_send(reactor: Any, config: MailConfig, recipient: str, message: bytes) -> Deferred[Any]:
    """One SMTP conversation delivering ``message`` to ``recipient``; fires when the server took it."""
    done: Deferred[Any] = Deferred()
    secure = config.require_tls or bool(config.username)
    factory = ESMTPSenderFactory(  # type: ignore[no-untyped-call]  # twisted.mail is unannotated
        config.username.encode() or None, config.password.encode() or None, config.sender, [recipient],
        BytesIO(message), done, retries=0, timeout=int(math.ceil(config.timeout_s)),
        requireAuthentication=bool(config.username), requireTransportSecurity=secure,
        hostname=config.host if secure else None,
    )
    factory.domain = config.helo_name.encode("idna")
    connector = reactor.connectTCP(config.host, config.port, factory, timeout=config.timeout_s)

    def bound(result: Any) -> Any:
        if isinstance(result, Failure) and connector.state != "disconnected":
            connector.disconnect()
        return result

    return done.addBoth(bound)


class MailSender(Service):
    """Polls the mail outbox on the injected clock; the store only on its worker thread."""

    log = Logger()

    def __init__(self, reactor: Any, database: Database, config: MailConfig, clock: Any = None) -> None:
        self.reactor = reactor
        self.clock = clock or reactor
        self.database = database
        self.config = config
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.random = random.Random()
        self.sent = 0
        self.failed = 0
        self.worker = database_worker(reactor, database, "telediag-mail")
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._running: Deferred[int] | None = None
        self._last_prune = -math.inf  # worker thread only
        self._stopping = False

    def startService(self) -> None:
        Service.startService(self)
        self._stopping = False
        self._loop.start(self.config.poll_interval_s, now=True)

    def stopService(self) -> Deferred[None]:
        """Finish the message in flight (``timeout_s`` bounds it); unsent rows stay queued."""
        Service.stopService(self)
        self._stopping = True
        if self._loop.running:
            self._loop.stop()
        return self._shutdown()

    @inlineCallbacks
    def _shutdown(self) -> Any:
        if self._running is not None:
            yield self._running
        yield self.worker.stop()

    def send_now(self) -> Deferred[int]:
        """Send what is due now (after the poll running, if any); fires with how many were sent."""
        if self._running is None:
            return self._tick()
        following: Deferred[int] = Deferred()
        self._running.addBoth(lambda _: self._tick().chainDeferred(following))
        return following

    def _tick(self) -> Deferred[int]:
        if self._running is not None or self._stopping:
            return defer.succeed(0)
        running = self._poll()
        running.addErrback(self._poll_failed)
        self._running = running

        def finished(count: int) -> int:
            self._running = None
            return count

        return running.addCallback(finished)

    def _poll_failed(self, failure: Failure) -> int:
        self.log.failure("mail poll failed", failure)
        return 0

    @inlineCallbacks
    def _poll(self) -> Any:
        total = 0
        while not self._stopping:
            rows = yield self.worker.run(self._read_due, self.clock.seconds())
            for row in rows:
                if self._stopping:
                    break
                total += int((yield self._attempt(row)))
            if len(rows) < self.config.batch:
                break
        return total

    def _read_due(self, db: Connection, now: float) -> list[Outgoing]:
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            outbox.prune(db, now, self.config.keep_sent_s)
        return outbox.due(db, now, self.config.batch)

    @inlineCallbacks
    def _attempt(self, row: Outgoing) -> Any:
        try:
            yield smtp_send(self.reactor, self.config, row.recipient, row.message)
        except Exception:
            error, permanent = describe(Failure())
        else:
            yield self.worker.run(outbox.mark_sent, row.id, self.clock.seconds())
            self.sent += 1
            return True
        self.failed += 1
        now = self.clock.seconds()
        attempts = row.attempts + 1
        domain = row.recipient.rpartition("@")[2]  # never the whole address in the log
        if permanent or (self.config.max_attempts and attempts >= self.config.max_attempts):
            self.log.warn("mail {id} to @{domain} given up after {n} attempt(s): {error}",
                          id=row.id, domain=domain, n=attempts, error=error)
            yield self.worker.run(outbox.give_up, row.id, now, f"after {attempts} attempt(s): {error}")
            return False
        delay = self.backoff.delay(attempts, self.random.random)
        self.log.info("mail {id} to @{domain} failed (attempt {n}), retry in {delay:.1f}s: {error}",
                      id=row.id, domain=domain, n=attempts, delay=delay, error=error)
        yield self.worker.run(outbox.mark_failed, row.id, now, error, now + delay)
        return False
