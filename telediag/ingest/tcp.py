"""Thin Twisted adapter for stream (TCP) device connections.

The codec session frames and decodes; the pipeline commits. This class only moves bytes between them
and the socket, keeps ACKs in the order the frames arrived, and sends each ACK after its commit.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from protocols.core import CommandResponse, Login, Message, ProtocolError
from protocols.registry import CodecSpec, StreamSession
from telediag.pipeline import Pipeline

MAX_ERRORS_PER_CHUNK = 256
"""Resynchronisation attempts on one received chunk before the connection is given up on."""


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

    def __init__(self, factory: "DeviceStreamFactory") -> None:
        self.factory = factory
        self.callLater = factory.reactor.callLater  # TimeoutMixin reads the clock from here
        self.session: StreamSession = factory.spec.new_session(max_frame=factory.max_frame)
        self.imei: str | None = None
        self.remote: str | None = None
        self._replies: deque[_PendingReply] = deque()
        self._closing = False
        self._commands: deque[tuple[Deferred[str], Any]] = deque()

    @property
    def protocol_name(self) -> str:
        """The codec this connection speaks."""
        return self.factory.spec.name

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.remote = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self.setTimeout(self.factory.idle_timeout_s)

    def dataReceived(self, data: bytes) -> None:
        if self._closing:  # an error answer waits behind pending ACKs; nothing more is read
            return
        self.resetTimeout()
        session = self.session
        for _ in range(MAX_ERRORS_PER_CHUNK):
            failed = False
            try:
                messages = session.feed(data)
            except ProtocolError as error:
                if not self._protocol_error(error):
                    return
                messages, failed = [], True
            data = b""  # what follows a bad frame, or a held-back error, is decoded on the next round
            for message in messages:
                if not self._handle(message):
                    return
            if not failed and not getattr(session, "pending", False):
                return
        self._protocol_error(ProtocolError("too many malformed frames in one read", close=True))

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
            committed.addCallbacks(self._committed, self._commit_failed, (reply,), None, (reply,))
            if pipeline.committer.saturated:
                pipeline.committer.throttle(self.transport)
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
        self.setTimeout(None)
        self.factory.pipeline.committer.release(self.transport)
        while self._commands:
            waiter, timer = self._commands.popleft()
            timer.cancel()
            waiter.errback(ConnectionError(f"device {self.imei} disconnected"))
        if self.imei is not None:
            channel = self if self.factory.command_encoder is not None else None
            self.factory.pipeline.connection_changed(
                self.imei, self.protocol_name, False, self.remote, channel
            )


class DeviceStreamFactory(Factory):
    """Builds a :class:`DeviceStreamProtocol` per accepted connection of one protocol."""

    noisy = False

    def __init__(
        self,
        reactor: Any,
        spec: CodecSpec,
        pipeline: Pipeline,
        idle_timeout_s: float,
        max_frame: int,
    ) -> None:
        self.reactor = reactor
        self.spec = spec
        self.pipeline = pipeline
        self.idle_timeout_s = idle_timeout_s
        self.max_frame = max_frame
        self.command_encoder: Callable[[str], bytes] | None = spec.command_encoder

    def buildProtocol(self, addr: Any) -> DeviceStreamProtocol:
        return DeviceStreamProtocol(self)
