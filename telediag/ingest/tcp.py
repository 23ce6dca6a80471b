"""Thin Twisted adapter for stream (TCP) device connections.

The codec session frames and decodes; the pipeline commits. This class only moves bytes between them
and the socket, keeps ACKs in the order the frames arrived, and sends each ACK after its commit.

Two limits hold against hostile peers, the same for every protocol:

* a frame deadline: once the session holds bytes of an incomplete frame (``session.buffered``), that
  frame must complete within ``frame_timeout_s`` or the connection is closed and the event stored as
  an ingest error. The idle timeout alone is reset by every byte, so a peer trickling one byte at a
  time would never be closed; the deadline is not reset by bytes, only by a frame completing. For
  OsmAnd it bounds how long a request head and body may take (answered 408).
* connections per source address: past ``max_connections_per_address`` a new connection is closed
  at once (high by default: trackers sit behind operator NAT).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from typing import cast

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.interfaces import IAddress, IDelayedCall, IPushProducer, IReactorTime, ITCPTransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from protocols.core import CommandResponse, Login, Message, ProtocolError
from protocols.registry import CodecSpec, StreamSession
from telediag.pipeline import Pipeline

MAX_ERRORS_PER_CHUNK = 256
"""Resynchronisation attempts on one received chunk before the connection is given up on."""
CLOSE_GRACE_S = 5.0
"""After a deadline close, how long the answer may take to drain before the socket is aborted."""


class _PendingReply:
    """An ACK waiting for its commit; written in arrival order once ready."""

    __slots__ = ("ack", "ready", "decoded_at", "close")

    def __init__(self, ack: bytes | None, decoded_at: float | None = None, close: bool = False) -> None:
        self.ack = ack
        self.ready = False
        self.close = close
        """Close the connection once this reply is written (an error answer behind pending ACKs)."""
        self.decoded_at = decoded_at
        """When a packet with records was decoded (pipeline clock), for the ACK latency metric."""


class DeviceStreamProtocol(Protocol, TimeoutMixin):
    """One tracker's TCP connection."""

    log = Logger()
    factory: DeviceStreamFactory
    transport: ITCPTransport
    callLater: Callable[..., IDelayedCall]

    def __init__(self, factory: DeviceStreamFactory) -> None:
        self.factory = factory
        self.callLater = factory.reactor.callLater  # TimeoutMixin reads the clock from here
        self.session: StreamSession = factory.spec.new_session(max_frame=factory.max_frame)
        self.imei: str | None = None
        self.remote: str | None = None
        self.host: str | None = None
        """The peer's address, counted against ``max_connections_per_address``."""
        self._replies: deque[_PendingReply] = deque()
        self._closing = False
        self._commands: deque[tuple[Deferred[str], IDelayedCall]] = deque()
        self._frame_timer: IDelayedCall | None = None
        """The deadline of the incomplete frame the session holds, or None."""
        self._abort_timer: IDelayedCall | None = None

    @property
    def protocol_name(self) -> str:
        """The codec this connection speaks."""
        return self.factory.spec.name

    @property
    def _producer(self) -> IPushProducer:
        """The connection as the producer the committer pauses (a TCP transport is one; its
        interface does not say so)."""
        return cast(IPushProducer, self.transport)

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.remote = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self.setTimeout(self.factory.idle_timeout_s)  # type: ignore[no-untyped-call]  # TimeoutMixin is unannotated

    def dataReceived(self, data: bytes) -> None:
        if self._closing:  # an error answer waits behind pending ACKs; nothing more is read
            return
        self.resetTimeout()  # type: ignore[no-untyped-call]  # TimeoutMixin is unannotated
        session = self.session
        progress = False
        for _ in range(MAX_ERRORS_PER_CHUNK):
            failed = False
            try:
                messages = session.feed(data)
            except ProtocolError as error:
                if not self._protocol_error(error):
                    return
                messages, failed = [], True
            data = b""  # what follows a bad frame, or a held-back error, is decoded on the next round
            progress = progress or failed or bool(messages)
            for message in messages:
                if not self._handle(message):
                    return
            if not failed and not getattr(session, "pending", False):
                self._watch_frame(progress)
                return
        self._protocol_error(ProtocolError("too many malformed frames in one read", close=True))

    def _watch_frame(self, progress: bool) -> None:
        """Start the frame deadline when an incomplete frame is held, stop it when none is.

        ``progress`` (a frame completed in this read) restarts it: the deadline is per frame, so a
        device streaming frames whose reads never end on a boundary is not cut off.
        """
        if self._closing or not self.connected:
            self._stop_frame_timer()
            return
        if getattr(self.session, "buffered", 0) <= 0:
            self._stop_frame_timer()
            return
        if progress:
            self._stop_frame_timer()
        if self._frame_timer is None:
            self._frame_timer = self.factory.reactor.callLater(self.factory.frame_timeout_s, self._frame_timed_out)

    def _stop_frame_timer(self) -> None:
        if self._frame_timer is not None:
            if self._frame_timer.active():
                self._frame_timer.cancel()
            self._frame_timer = None

    def _frame_timed_out(self) -> None:
        self._frame_timer = None
        if self._closing or not self.connected:
            return
        committer = self.factory.pipeline.committer
        if committer.backlog * 2 >= committer.queue_limit:
            # the store is behind and connections are paused: the wait is the service's, not the peer's
            self._frame_timer = self.factory.reactor.callLater(self.factory.frame_timeout_s, self._frame_timed_out)
            return
        waiting = getattr(self.session, "buffered", 0)
        if waiting <= 0:
            return
        timeout_reply = getattr(self.session, "timeout_reply", None)
        seconds = self.factory.frame_timeout_s
        self.log.info(
            "closing {protocol} connection of {imei} at {remote}: incomplete frame for {seconds} s",
            protocol=self.protocol_name, imei=self.imei or "an unidentified device", remote=self.remote,
            seconds=seconds,
        )
        self._protocol_error(ProtocolError(
            f"incomplete frame for {seconds:g} s ({waiting} bytes waiting)",
            reply=timeout_reply() if timeout_reply is not None else None,
            close=True,
        ))
        if self.connected:
            self._abort_timer = self.factory.reactor.callLater(min(CLOSE_GRACE_S, seconds), self._abort)

    def _abort(self) -> None:
        """A peer that does not read our last answer does not keep the socket open either."""
        self._abort_timer = None
        if self.connected:
            self.transport.abortConnection()

    def _handle(self, message: Message) -> bool:
        """Act on one message; False when the connection is being closed."""
        if isinstance(message, Login):
            return self._login(message)
        if self.imei is None:
            return self._protocol_error(
                ProtocolError(f"{type(message).__name__} before login", close=True)
            )
        pipeline = self.factory.pipeline
        reply = _PendingReply(message.ack, pipeline.now() if message.records else None)
        self._replies.append(reply)
        if isinstance(message, CommandResponse) and self._commands:
            waiter, timer = self._commands.popleft()
            timer.cancel()
            waiter.callback(message.text)
        if message.records:
            committed = pipeline.submit(self.imei, self.protocol_name, message.records)
            committed.addCallbacks(self._committed, self._commit_failed, callbackArgs=(reply,), errbackArgs=(reply,))
            if pipeline.committer.saturated:
                pipeline.committer.throttle(self._producer)
        else:
            self._committed(None, reply)
        return True

    def _login(self, login: Login) -> bool:
        pipeline = self.factory.pipeline
        if self.imei is not None and login.imei != self.imei:
            return self._protocol_error(
                ProtocolError(f"second login as {login.imei} on a connection of {self.imei}", close=True)
            )
        if not pipeline.identify(login.imei, self.protocol_name):
            if login.reject is not None:
                self.transport.write(login.reject)
            self.transport.loseConnection()
            return False
        if self.imei is None:
            self.imei = login.imei
            channel = self if self.factory.command_encoder is not None else None
            pipeline.connection_changed(login.imei, self.protocol_name, True, self.remote, channel)
        reply = _PendingReply(login.accept)
        self._replies.append(reply)
        self._committed(None, reply)
        return True

    def _committed(self, _: object, reply: _PendingReply) -> None:
        reply.ready = True
        replies = self._replies
        while replies and replies[0].ready:
            done = replies.popleft()
            if self.transport is not None and self.connected:
                if done.ack:
                    self.transport.write(done.ack)
                if done.decoded_at is not None:
                    self.factory.pipeline.ack_sent(self.protocol_name, done.decoded_at)
                if done.close:
                    self.transport.loseConnection()
                    return

    def _commit_failed(self, failure: Failure, reply: _PendingReply) -> None:
        """No ACK for records that are not durable: close so the device reconnects and resends."""
        self.log.warn(
            "commit failed for {imei}, closing so it resends: {error}",
            imei=self.imei, error=failure.getErrorMessage(),
        )
        if reply in self._replies:
            self._replies.remove(reply)
        if self.connected:
            self.transport.loseConnection()

    def _protocol_error(self, error: ProtocolError) -> bool:
        """Count and log the error, answer as the codec advises; False when closing."""
        self.factory.pipeline.protocol_error(self.imei, self.protocol_name, self.remote, error)
        if self._replies:  # answers go out in request order: behind the ACKs still waiting for commits
            self._closing = error.close
            reply = _PendingReply(error.reply, close=error.close)
            self._replies.append(reply)
            self._committed(None, reply)
            return not error.close
        if error.reply:
            self.transport.write(error.reply)
        if error.close:
            self.transport.loseConnection()
            return False
        return True

    def timeoutConnection(self) -> None:
        self.log.info("closing idle connection of {imei} at {remote}", imei=self.imei, remote=self.remote)
        self.transport.abortConnection()

    def send_command(self, text: str, timeout_s: float) -> Deferred[str]:
        """Send a server command; the Deferred fires with the device's text answer."""
        encoder = self.factory.command_encoder
        assert encoder is not None
        waiter: Deferred[str] = Deferred()
        timer = self.callLater(timeout_s, self._command_timed_out, waiter)
        self._commands.append((waiter, timer))
        self.transport.write(encoder(text))
        return waiter

    def _command_timed_out(self, waiter: Deferred[str]) -> None:
        for entry in self._commands:
            if entry[0] is waiter:
                self._commands.remove(entry)
                break
        waiter.errback(TimeoutError(f"device {self.imei} did not answer the command"))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.setTimeout(None)  # type: ignore[no-untyped-call]  # TimeoutMixin is unannotated
        self._stop_frame_timer()
        if self._abort_timer is not None and self._abort_timer.active():
            self._abort_timer.cancel()
        self._abort_timer = None
        self.factory.connection_closed(self)
        self.factory.pipeline.committer.release(self._producer)
        while self._commands:
            waiter, timer = self._commands.popleft()
            timer.cancel()
            waiter.errback(ConnectionError(f"device {self.imei} disconnected"))
        if self.imei is not None:
            channel = self if self.factory.command_encoder is not None else None
            self.factory.pipeline.connection_changed(
                self.imei, self.protocol_name, False, self.remote, channel
            )


class DeviceStreamFactory(Factory[DeviceStreamProtocol]):
    """Builds a :class:`DeviceStreamProtocol` per accepted connection of one protocol.

    It counts open connections per source address; past ``max_connections_per_address`` a new one
    is refused (closed at once, logged, counted in ``refused``).
    """

    noisy = False
    log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        spec: CodecSpec,
        pipeline: Pipeline,
        idle_timeout_s: float,
        max_frame: int,
        frame_timeout_s: float = 30.0,
        max_connections_per_address: int = 1000,
    ) -> None:
        self.reactor = reactor
        self.spec = spec
        self.pipeline = pipeline
        self.idle_timeout_s = idle_timeout_s
        self.max_frame = max_frame
        self.frame_timeout_s = frame_timeout_s
        self.max_connections_per_address = max_connections_per_address
        self.command_encoder: Callable[[str], bytes] | None = spec.command_encoder
        self.open_per_address: Counter[str] = Counter()
        """Open connections per peer address."""
        self.refused: Counter[str] = Counter()
        """Connections refused, per reason (``per_address_cap``)."""

    @property
    def protocol_name(self) -> str:
        return self.spec.name

    def buildProtocol(self, addr: IAddress | None) -> DeviceStreamProtocol | None:
        host = str(getattr(addr, "host", "?"))
        if self.open_per_address[host] >= self.max_connections_per_address:
            self.refused["per_address_cap"] += 1
            self.log.warn(
                "refusing a {protocol} connection from {host}: {open} already open, the limit per address",
                protocol=self.spec.name, host=host, open=self.open_per_address[host],
            )
            return None  # Twisted closes a connection whose factory builds no protocol
        self.open_per_address[host] += 1
        protocol = DeviceStreamProtocol(self)
        protocol.host = host
        return protocol

    def connection_closed(self, protocol: DeviceStreamProtocol) -> None:
        """Forget a closed connection in the per-address count."""
        host = protocol.host
        if host is None:
            return
        protocol.host = None
        self.open_per_address[host] -= 1
        if self.open_per_address[host] <= 0:
            del self.open_per_address[host]
