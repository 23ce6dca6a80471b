"""The SMTP listener for support mail (``twisted.mail.smtp``'s ESMTP server): a thin adapter that
collects each message within its limits and hands it to :class:`~telediag.mail.intake.Intake` on the
intake thread. The answer to the end of DATA waits for that work: 250 only once the ticket or comment
is committed, so the forwarding mail system keeps (and retries) anything we did not store.

Limits, each answered with the code RFC 5321 gives it: a message over ``max_message_bytes`` gets 552
(``SIZE`` is advertised, RFC 1870), recipients past ``max_recipients`` get 452, a recipient not in
``recipients`` (when that list is set) gets 550, connections over ``max_connections`` in all or
``max_connections_per_address`` from one address get 421 and are closed, an idle connection is
closed after ``idle_timeout_s``. A failure while storing is 451 (try again later), never a bounce.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.mail.interfaces import IMessageDelivery, IMessageSMTP
from twisted.mail.smtp import ESMTP, SMTPBadRcpt, SMTPServerError, User, rfc822date
from twisted.python.failure import Failure
from zope.interface import implementer

from telediag.config.mail import MailIntakeConfig
from telediag.mail.intake import Intake, Outcome
from telediag.mail.parse import parse_message
from telediag.store.database import Connection, Database
from telediag.store.worker import database_worker

Handle = Callable[[bytes], Deferred[Outcome]]


@implementer(IMessageSMTP)
class _Collected:
    """The lines of one message, up to the size limit (past it: 552 at the end of DATA)."""

    def __init__(self, limit: int, handle: Handle) -> None:
        self.limit = limit
        self.handle = handle
        self.size = 0
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:  # noqa: N802 (Twisted's interface)
        self.size += len(line) + 2
        if self.size > self.limit:
            self.lines = []
            raise SMTPServerError(  # type: ignore[no-untyped-call]  # twisted.mail is unannotated
                552, b"5.3.4 Message too big: at most %d bytes" % self.limit)
        self.lines.append(line)

    def eomReceived(self) -> Deferred[Outcome]:  # noqa: N802
        raw, self.lines = b"\r\n".join(self.lines) + b"\r\n", []
        return self.handle(raw)

    def connectionLost(self) -> None:  # noqa: N802
        self.lines = []


@implementer(IMessageSMTP)
class _Copy:
    """A second recipient of the same message: one message is one ticket, however many addresses."""

    def lineReceived(self, line: bytes) -> None:  # noqa: N802
        """Nothing to keep: the first recipient's copy holds the message."""

    def eomReceived(self) -> Deferred[None]:  # noqa: N802
        return defer.succeed(None)

    def connectionLost(self) -> None:  # noqa: N802
        """Nothing held."""


def _ascii(value: Any) -> bytes:
    """A HELO name or peer address (bytes, str or None) as header-safe ASCII."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return "".join(c for c in str(value or "") if c.isascii() and c.isprintable()).encode("ascii")


@implementer(IMessageDelivery)
class _Delivery:
    """Per connection: checks each transaction's recipients and collects its message."""

    def __init__(self, config: MailIntakeConfig, handle: Handle) -> None:
        self.config = config
        self.handle = handle
        self.recipients = 0
        self.accepted = {address.lower() for address in config.recipients}

    def receivedHeader(self, helo: tuple[Any, Any], origin: Any, recipients: Any) -> bytes:  # noqa: N802
        name, peer = (_ascii(part) for part in helo)
        date: bytes = rfc822date()  # type: ignore[no-untyped-call]
        return (b"Received: from " + (name[:100] or b"unknown") + b" ([" + peer[:60] + b"]) by "
                + self.config.hostname.encode("idna") + b" with ESMTP; " + date)

    def validateFrom(self, helo: Any, origin: Any) -> Any:  # noqa: N802
        self.recipients = 0
        return origin

    def validateTo(self, user: User) -> Callable[[], IMessageSMTP]:  # noqa: N802
        address = str(user.dest).lower()
        if self.accepted and address not in self.accepted:
            raise SMTPBadRcpt(user.dest)  # type: ignore[no-untyped-call]
        self.recipients += 1
        if self.recipients > self.config.max_recipients:
            raise SMTPServerError(  # type: ignore[no-untyped-call]
                452, f"4.5.3 Too many recipients: at most {self.config.max_recipients}")
        if self.recipients > 1:
            return _Copy
        return lambda: _Collected(self.config.max_message_bytes, self.handle)


_CLOSED = Failure(ConnectionError("connection closed"))


class _IntakeSMTP(ESMTP):
    """ESMTP with SIZE advertised and 451 for a message that could not be stored."""

    factory: IntakeFactory

    def connectionMade(self) -> None:  # noqa: N802
        assert self.transport is not None
        if not self.factory.opened(self.transport.getPeer()):
            self.transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            self.transport.loseConnection()
            self.refused = True
            return
        self.refused = False
        ESMTP.connectionMade(self)  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Failure = _CLOSED) -> None:  # noqa: N802
        if not getattr(self, "refused", True):
            assert self.transport is not None
            self.factory.closed(self.transport.getPeer())
            ESMTP.connectionLost(self, reason)  # type: ignore[no-untyped-call]

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        found: dict[bytes, list[bytes] | None] = ESMTP.extensions(self)  # type: ignore[no-untyped-call]
        found[b"SIZE"] = [str(self.factory.config.max_message_bytes).encode("ascii")]
        return found

    def _messageHandled(self, resultList: list[tuple[bool, Any]]) -> None:  # noqa: N802, N803
        """Twisted answers any failure with 550, which makes the sender bounce the message for good;
        a store that failed is temporary, so the sender should keep it and try again (451)."""
        failures = [result for ok, result in resultList if not ok]
        if not failures:
            self.sendCode(250, b"2.0.0 Accepted")  # type: ignore[no-untyped-call]
            return
        for failure in failures:
            self.factory.log.failure("support mail could not be stored", failure)
        self.sendCode(  # type: ignore[no-untyped-call]
            451, b"4.3.0 Could not store the message now, please try again later")


class IntakeFactory(ServerFactory):
    """Builds one ESMTP protocol per connection and counts connections against the limits."""

    log = Logger()

    def __init__(self, config: MailIntakeConfig, handle: Handle) -> None:
        self.config = config
        self.handle = handle
        self.by_address: Counter[str] = Counter()
        self.total = 0

    def buildProtocol(self, addr: Any) -> _IntakeSMTP:  # type: ignore[override]  # noqa: N802
        protocol = _IntakeSMTP()  # type: ignore[no-untyped-call]
        protocol.factory = self
        protocol.host = self.config.hostname.encode("idna")
        protocol.delivery = _Delivery(self.config, self.handle)
        protocol.timeout = int(self.config.idle_timeout_s)
        return protocol

    def opened(self, peer: Any) -> bool:
        """Count a new connection; False (and not counted) when it is over a limit."""
        host = str(getattr(peer, "host", peer))
        if (self.total >= self.config.max_connections
                or self.by_address[host] >= self.config.max_connections_per_address):
            return False
        self.total += 1
        self.by_address[host] += 1
        return True

    def closed(self, peer: Any) -> None:
        """A counted connection ended."""
        host = str(getattr(peer, "host", peer))
        self.total -= 1
        self.by_address[host] -= 1
        if self.by_address[host] <= 0:
            del self.by_address[host]


class IntakeService(Service):
    """The listener at ``[mail_intake] listen`` and the thread that stores what it receives."""

    log = Logger()

    def __init__(self, reactor: Any, database: Database, config: MailIntakeConfig, intake: Intake,
                 clock: Any = None) -> None:
        self.reactor = reactor
        self.clock = clock or reactor
        self.config = config
        self.intake = intake
        self.worker = database_worker(reactor, database, "telediag-mail-intake")
        self.factory = IntakeFactory(config, self.receive)
        self.port: int | None = None
        """The bound TCP port once listening (for ``listen = "tcp:0"``)."""
        self.ready: Deferred[None] = Deferred()
        self.outcomes: Counter[str] = Counter()
        self._listening: Any = None
        self._in_flight: set[Deferred[Any]] = set()

    def startService(self) -> None:
        Service.startService(self)
        listening = serverFromString(self.reactor, self.config.listen).listen(self.factory)
        listening.addCallbacks(self._bound, self.ready.errback)

    def _bound(self, port: Any) -> None:
        self._listening = port
        self.port = getattr(port.getHost(), "port", None)
        self.log.info("support mail: listening for SMTP on {endpoint} (port {port})",
                      endpoint=self.config.listen, port=self.port)
        self.ready.callback(None)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop listening, finish the messages being stored, close the connection."""
        Service.stopService(self)
        if self._listening is not None:
            yield self._listening.stopListening()
            self._listening = None
        if self._in_flight:
            yield defer.DeferredList(list(self._in_flight), consumeErrors=True)
        yield self.worker.stop()

    def receive(self, raw: bytes) -> Deferred[Outcome]:
        """A whole message: parse and act on it on the intake thread."""
        now = self.clock.seconds() if self.clock is not None else time.time()
        limit = self.config.max_body_chars

        def work(db: Connection) -> Outcome:
            return self.intake.handle(db, parse_message(raw, limit), now)

        done = self.worker.run(work)
        self._in_flight.add(done)

        def finished(outcome: Any) -> Any:
            self._in_flight.discard(done)
            if isinstance(outcome, Outcome):
                self.outcomes[outcome.action] += 1
                self.log.info("support mail: {action} (ticket {ticket})", action=outcome.action,
                              ticket=outcome.ticket_id)
            return outcome

        return done.addBoth(finished)
