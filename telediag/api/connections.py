"""Connections of the API port: a guard in front of twisted.web's HTTP channel, one per connection.

The guard (``GuardedConnection``, a ``ProtocolWrapper``) feeds the inbound bytes through the pure
``http_guard.Framer``: only checked request heads and exactly Content-Length body bytes reach the
channel, so whatever twisted.web would answer with a bare ``400`` is answered here first as the API's
JSON error. It also holds the deadlines (a request head must be complete ``header_timeout_s`` after its
first byte, its body ``body_timeout_s`` after the head: a slowloris client gets 408 and is closed), and
``GuardedFactory`` caps the open connections per source address (past the cap: 503, closed).

A refusal never overtakes answers the channel still owes: with pipelined requests, the JSON error is
written after the answers to the requests before it, so a client reads every answer in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from twisted.internet import defer
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IProtocol,
    IPushProducer,
    IReactorTime,
    ITCPTransport,
    ITransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel, Request
from twisted.web.server import Site

from telediag.api.errors import ApiError, request_timeout, too_many_connections
from telediag.api.http_guard import BodyData, Framer, FramingLimits, HeadPassed, Refused
from telediag.api.jsonio import LINGER_S, half_close, raw_error_response
from telediag.config import ApiConfig


@dataclass(frozen=True)
class GuardSettings:
    """The ``[api]`` limits the guard enforces."""

    limits: FramingLimits
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections_per_address: int = 64

    @classmethod
    def from_config(cls, api: ApiConfig) -> GuardSettings:
        """The settings of one API listener."""
        return cls(
            FramingLimits(api.max_header_bytes, api.max_headers, api.max_body_bytes),
            api.header_timeout_s, api.body_timeout_s, api.max_connections_per_address,
        )


class ApiChannel(HTTPChannel):
    """twisted.web's HTTP/1.1 channel, telling its guard each time an answer is complete."""

    guard: GuardedConnection | None = None

    def requestDone(self, request: Request) -> None:
        HTTPChannel.requestDone(self, request)
        if self.guard is not None:
            self.guard.answered_one()


class GuardedConnection(ProtocolWrapper):
    """One API connection: checked framing, deadlines, and JSON refusals that keep answers in order."""

    log = Logger()
    transport: ITCPTransport

    def __init__(self, factory: GuardedFactory, wrapped: IProtocol, refusal: ApiError | None = None) -> None:
        super().__init__(factory, wrapped)
        self.settings = factory.settings
        self.clock = factory.clock
        self.framer = Framer(factory.settings.limits)
        self.host: str | None = None
        """The source address counted against the per-address cap (None: not counted)."""
        self._refusal = refusal
        self._passed = 0
        """Request heads given to the channel."""
        self._answered = 0
        """Answers the channel completed."""
        self._waiting: tuple[ApiError, int] | None = None
        """A refusal held back until the channel has written this many answers."""
        self._closing = False
        self._refused = False
        self._paused = False
        """The channel stopped reading (answers pile up unsent): no deadline runs against the client."""
        self._deadline: IDelayedCall | None = None
        self._deadline_for: tuple[str, int] | None = None
        self._abort: IDelayedCall | None = None

    # --- from the network ---------------------------------------------------------------------

    def makeConnection(self, transport: ITransport) -> None:
        ProtocolWrapper.makeConnection(self, transport)
        if self._refusal is not None:
            self._answer_and_close(self._refusal)

    def dataReceived(self, data: bytes) -> None:
        if self._closing or self._waiting is not None:
            return  # refused or closing: what the client still sends is read and dropped
        for event in self.framer.feed(data):
            if self._closing:
                return
            if isinstance(event, HeadPassed):
                self._passed += 1
                self.wrappedProtocol.dataReceived(event.data)
            elif isinstance(event, BodyData):
                self.wrappedProtocol.dataReceived(event.data)
            elif isinstance(event, Refused):
                self.log.info("API request from {peer} refused: {status} {message}", peer=self.host,
                              status=event.error.status, message=event.error.message)
                self._refuse(event.error, owed=self._passed)
                return
        if not self._closing:
            self._watch()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closing = True
        self._cancel()
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = None
        ProtocolWrapper.connectionLost(self, reason)

    # --- from the channel (it uses this wrapper as its transport) ------------------------------

    def write(self, data: bytes) -> None:
        if not self._refused:
            ProtocolWrapper.write(self, data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        if not self._refused:
            ProtocolWrapper.writeSequence(self, data)

    def loseConnection(self) -> None:
        self._stop_reading()
        ProtocolWrapper.loseConnection(self)

    def loseWriteConnection(self) -> None:
        self._stop_reading()
        half_close(self.transport)

    def abortConnection(self) -> None:
        self._stop_reading()
        self.transport.abortConnection()

    def pauseProducing(self) -> None:
        self._paused = True
        self._cancel()
        cast(IPushProducer, self.transport).pauseProducing()

    def resumeProducing(self) -> None:
        self._paused = False
        cast(IPushProducer, self.transport).resumeProducing()
        if not self._closing and self._waiting is None:
            self._watch()

    def answered_one(self) -> None:
        """The channel finished one answer; a held-back refusal may go now."""
        self._answered += 1
        if self._waiting is not None and not self._closing and self._answered >= self._waiting[1]:
            error, _ = self._waiting
            self._waiting = None
            if self._abort is not None and self._abort.active():
                self._abort.cancel()
            self._answer_and_close(error)

    # --- deadlines and refusals ---------------------------------------------------------------

    def _watch(self) -> None:
        """Arm the deadline of what is arriving now: a head, a body, or nothing (idle)."""
        if self._paused:
            wanted: tuple[str, int] | None = None
        elif self.framer.in_head:
            wanted = ("head", self._passed)
        elif self.framer.in_body:
            wanted = ("body", self._passed)
        else:
            wanted = None
        if wanted == self._deadline_for:
            return
        self._cancel()
        if wanted is not None:
            seconds = self.settings.header_timeout_s if wanted[0] == "head" else self.settings.body_timeout_s
            self._deadline = self.clock.callLater(seconds, self._expired, wanted[0], seconds)
            self._deadline_for = wanted

    def _cancel(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None
        self._deadline_for = None

    def _expired(self, part: str, seconds: float) -> None:
        self._deadline = None
        self._deadline_for = None
        self.log.info("API request {part} from {peer} incomplete after {seconds} s: 408, closing",
                      part=part, peer=self.host, seconds=seconds)
        # a body that is late belongs to a request the channel has but can never answer
        self._refuse(request_timeout(part, seconds), owed=self._passed - (1 if part == "body" else 0))

    def _refuse(self, error: ApiError, owed: int) -> None:
        """Answer ``error`` once the channel wrote ``owed`` answers, then close."""
        self._cancel()
        if self._answered >= owed:
            self._answer_and_close(error)
            return
        self._waiting = (error, owed)
        # the answers owed come from handlers with their own limits; never wait longer than a body may take
        self._abort = self.clock.callLater(self.settings.body_timeout_s, self._abort_now)

    def _answer_and_close(self, error: ApiError) -> None:
        """Write the JSON error with ``Connection: close``, stop sending, drop input, abort after a grace."""
        self._closing = True
        self._cancel()
        self.transport.write(raw_error_response(error))
        self._refused = True
        half_close(self.transport)
        self._abort = self.clock.callLater(LINGER_S, self._abort_now)

    def _abort_now(self) -> None:
        self._abort = None
        self.transport.abortConnection()

    def _stop_reading(self) -> None:
        """The channel is closing the connection: nothing more goes to it, no deadline applies."""
        self._closing = True
        self._cancel()


class GuardedFactory(WrappingFactory[GuardedConnection]):
    """Wraps every API connection in a guard, caps connections per address, closes them all on stop."""

    protocol = GuardedConnection
    log = Logger()

    def __init__(self, site: Site, settings: GuardSettings, clock: IReactorTime) -> None:
        super().__init__(site)  # type: ignore[no-untyped-call]  # WrappingFactory is unannotated
        self.settings = settings
        self.clock = clock
        self.open_per_address: dict[str, int] = {}
        self._idle: list[defer.Deferred[None]] = []

    def buildProtocol(  # type: ignore[override]  # None refuses the connection, as Factory allows
        self, addr: IAddress | None
    ) -> GuardedConnection | None:
        host = getattr(addr, "host", None)
        limit = self.settings.max_connections_per_address
        if host is not None and self.open_per_address.get(host, 0) >= limit:
            self.log.info("API connection from {host} refused: {limit} already open", host=host, limit=limit)
            return GuardedConnection(self, Protocol(), refusal=too_many_connections(limit))
        channel = self.wrappedFactory.buildProtocol(addr)
        if channel is None:
            return None
        limits = self.settings.limits
        # twisted.web's own limits never below ours, so it never answers first with its bare 400
        channel.maxHeaders = limits.max_headers
        channel.totalHeadersSize = limits.max_header_bytes
        channel.MAX_LENGTH = limits.max_header_bytes
        connection = GuardedConnection(self, channel)
        if isinstance(channel, ApiChannel):
            channel.guard = connection
        if host is not None:
            connection.host = host
            self.open_per_address[host] = self.open_per_address.get(host, 0) + 1
        return connection

    def unregisterProtocol(self, protocol: GuardedConnection) -> None:
        super().unregisterProtocol(protocol)  # type: ignore[no-untyped-call]  # WrappingFactory is unannotated
        host = getattr(protocol, "host", None)
        if host is not None:
            left = self.open_per_address.get(host, 0) - 1
            if left > 0:
                self.open_per_address[host] = left
            else:
                self.open_per_address.pop(host, None)
        if not self.protocols:
            waiting, self._idle = self._idle, []
            for waiter in waiting:
                waiter.callback(None)

    def close_all(self, clock: IReactorTime, grace_s: float) -> defer.Deferred[None]:
        """Ask every connection to close; abort the ones still open after ``grace_s``."""
        if not self.protocols:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        self._idle.append(done)
        for protocol in list(self.protocols):
            protocol.transport.loseConnection()

        def abort() -> None:
            for protocol in list(self.protocols):
                protocol.transport.abortConnection()

        def stop_timer(result: Failure | None) -> Failure | None:
            if timer.active():
                timer.cancel()
            return result

        timer = clock.callLater(grace_s, abort)
        done.addBoth(stop_timer)
        return done
