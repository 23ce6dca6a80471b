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

Server commands go through a per-connection :class:`~telediag.ingest.command_gate.CommandGate`:
a command is written only when the device awaits no reply from us and no earlier command awaits
its answer (a Teltonika device would read a Codec 12 command written before its ACK as "0 records
accepted"). This adapter feeds the gate what happens and writes what it hands out; the rules live
there. The session says what reference it wrote a command with (``command_reference``, where the
protocol's answer echoes one) and each answer what it echoes (``CommandResponse.reference``); an
answer the gate gives to no command is stored like any record, logged and counted in the factory's
``unmatched_answers``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from typing import cast

from twisted.internet.defer import Deferred, TimeoutError, fail
from twisted.internet.interfaces import IAddress, IDelayedCall, IPushProducer, IReactorTime, ITCPTransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from protocols.core import CommandResponse, Login, Message, ProtocolError
from protocols.registry import CodecSpec, CommandSession, StreamSession
from protocols.sniff import SNIFF_BYTES, Detection, note, sniff
from telediag.ingest.command_gate import (
    CommandDisconnected,
    CommandError,
    CommandGate,
    CommandNotSent,
    CommandQueueFull,
    Expired,
)
from telediag.ingest.traffic import IN, OUT, Entry
from telediag.pipeline import Pipeline

MAX_ERRORS_PER_CHUNK = 256
"""Resynchronisation attempts on one received chunk before the connection is given up on."""
CLOSE_GRACE_S = 5.0
"""After a deadline close, how long the answer may take to drain before the socket is aborted."""
COMMAND_QUEUE_LIMIT = 16
"""Commands that may wait to be written on one connection; past it ``send_command`` fails at once."""
COMMAND_MAX_WAIT_S = 60.0
"""How long a command may wait for the device to be free before it fails unsent."""


class CommandTimedOut(CommandError, TimeoutError):
    """The command was written but the device gave no answer within the command's timeout."""


class _Command:
    """One server command on its way: the text and whoever waits for the answer."""

    __slots__ = ("text", "timeout_s", "waiter")

    def __init__(self, text: str, timeout_s: float) -> None:
        self.text = text
        self.timeout_s = timeout_s
        self.waiter: Deferred[str] = Deferred()


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
        spec = factory.spec
        self._gate: CommandGate[_Command] | None = None
        """Orders server commands around the device's replies; None when the protocol takes none."""
        if spec.takes_commands:
            self._gate = CommandGate(
                queue_limit=factory.command_queue_limit, max_wait_s=factory.command_max_wait_s,
                half_duplex=spec.half_duplex,
            )
        self._command_timer: IDelayedCall | None = None
        self._receiving = False
        """Inside ``dataReceived``: a command waits until the whole read is decoded."""
        self._frame_timer: IDelayedCall | None = None
        """The deadline of the incomplete frame the session holds, or None."""
        self._abort_timer: IDelayedCall | None = None
        self._keep = factory.pipeline.traffic.add  # bound once: the per-packet path calls it twice
        self._seconds = factory.reactor.seconds
        self.traffic_key = "?"
        """Whose frames these are in the traffic log: the IMEI, else the one claimed, else the remote address."""
        self._entry: Entry | None = None
        """The traffic entry of the read being decoded (what it decoded to is set on it)."""
        self._head: bytes | None = b""
        """The connection's first bytes until it identifies, for wrong-protocol detection; None once sniffed."""
        self._detection: Detection | None = None

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
        self.traffic_key = self.remote
        self.setTimeout(self.factory.idle_timeout_s)  # type: ignore[no-untyped-call]  # TimeoutMixin is unannotated

    def dataReceived(self, data: bytes) -> None:
        self._receiving = True  # a command asked meanwhile waits until the whole read is decoded
        self._entry = self._keep(self.traffic_key, self._seconds(), IN, "tcp", self.remote, data)
        if self.imei is None and self._head is not None and len(self._head) < SNIFF_BYTES:
            self._head += data[:SNIFF_BYTES - len(self._head)]
        try:
            self._receive(data)
        finally:
            self._receiving = False
            self._entry = None
            gate = self._gate
            if gate is not None and not gate.idle:
                self._pump_commands()

    def _receive(self, data: bytes) -> None:
        """Decode ``data`` and act on every message it completes."""
        if self._closing:  # an error answer waits behind pending ACKs; nothing more is read
            return
        self.resetTimeout()  # type: ignore[no-untyped-call]  # TimeoutMixin is unannotated
        session = self.session
        progress = False
        for _ in range(MAX_ERRORS_PER_CHUNK):
            failed = False
            try:
                messages = session.feed(data)
                if data and self._entry is not None:
                    self._entry[6] = messages  # what the read decoded to, summarised when read
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
        gate = self._gate
        if gate is not None and isinstance(message, CommandResponse):
            answered = gate.answer_received(message.reference)
            if answered is not None:
                answered.waiter.callback(message.text)
            else:
                self._unmatched(gate, message)
        if message.records:
            committed = pipeline.submit(self.imei, self.protocol_name, message.records)
            committed.addCallbacks(self._committed, self._commit_failed, callbackArgs=(reply,), errbackArgs=(reply,))
            if pipeline.committer.saturated:
                pipeline.committer.throttle(self._producer)
        else:
            self._committed(None, reply)
        return True

    def _unmatched(self, gate: CommandGate[_Command], answer: CommandResponse) -> None:
        """A command answer no waiting command claims: stored as its record, never given to another command."""
        self.factory.unmatched_answers += 1
        earlier = gate.earlier(answer.reference)
        outstanding = gate.outstanding
        self.log.info(
            "{protocol} device {imei} answered {what} ({answer!r}, reference {reference}); {waiting}: kept as a "
            "record, given to no command",
            protocol=self.protocol_name, imei=self.imei, answer=answer.text[:80], reference=answer.reference,
            what=f"the command {earlier.text!r} after it stopped waiting" if earlier is not None else "no command",
            waiting=f"the command {outstanding.text!r} waits for another" if outstanding is not None
            else "no command waits",
        )

    def _login(self, login: Login) -> bool:
        pipeline = self.factory.pipeline
        if self.imei is not None and login.imei != self.imei:
            return self._protocol_error(
                ProtocolError(f"second login as {login.imei} on a connection of {self.imei}", close=True)
            )
        if not pipeline.identify(login.imei, self.protocol_name):
            if login.reject is not None:
                self._write(login.reject, "login refused")
            self.transport.loseConnection()
            return False
        if self.imei is None:
            self.imei = login.imei
            self.factory.pipeline.traffic.rekey(self.traffic_key, login.imei)
            self.traffic_key = login.imei
            channel = self if self._gate is not None else None
            pipeline.connection_changed(login.imei, self.protocol_name, True, self.remote, channel)
        reply = _PendingReply(login.accept)
        self._replies.append(reply)
        self._committed(None, reply)
        return True

    def _committed(self, _: object, reply: _PendingReply) -> None:
        reply.ready = True
        replies = self._replies
        gate = self._gate
        while replies and replies[0].ready:
            done = replies.popleft()
            if self.transport is not None and self.connected:
                if done.ack:
                    self._write(done.ack, "reply")
                if done.decoded_at is not None:
                    self.factory.pipeline.ack_sent(self.protocol_name, done.decoded_at)
                if done.close:
                    self.transport.loseConnection()
                    return
        if gate is not None and not gate.idle:
            self._pump_commands()

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

    def _write(self, data: bytes, what: str) -> None:
        """Send ``data`` and keep it in the traffic log as ``what`` it is."""
        self._keep(self.traffic_key, self._seconds(), OUT, "tcp", self.remote, data, what)
        self.transport.write(data)

    def _wrong_protocol(self, error: ProtocolError) -> ProtocolError:
        """On the first error of a connection not identified, try its first bytes on every other codec;
        an error of a connection found speaking another protocol says so (``protocols.sniff``)."""
        if self._head is not None and self.imei is None:
            head, self._head = self._head, None
            detection = sniff(head, self.protocol_name)
            if detection is not None:
                self._detection = detection
                traffic = self.factory.pipeline.traffic
                traffic.detected(self.factory.reactor.seconds(), self.protocol_name, "tcp", self.remote, detection,
                                 head)
                if detection.imei:
                    traffic.rekey(self.traffic_key, detection.imei)
                    self.traffic_key = detection.imei
                    self.log.info("{remote} speaks {detected} on the {protocol} port (device {imei})",
                                  remote=self.remote, detected=detection.protocol, protocol=self.protocol_name,
                                  imei=detection.imei)
                error = ProtocolError(f"{note(detection, self.protocol_name)}: {error}", reply=error.reply,
                                      close=error.close, excerpt=error.excerpt or head)
        elif self._detection is not None:
            error = ProtocolError(f"{note(self._detection, self.protocol_name)}: {error}", reply=error.reply,
                                  close=error.close, excerpt=error.excerpt)
        return error

    def _protocol_error(self, error: ProtocolError) -> bool:
        """Count and log the error, answer as the codec advises; False when closing."""
        if self.imei is None:
            error = self._wrong_protocol(error)
        entry = self._entry
        if entry is not None and entry[6] is None:
            entry[6] = error
        else:
            self._keep(self.traffic_key, self._seconds(), IN, "tcp", self.remote, b"", error)
        claimed = self._detection.imei if self._detection is not None else None
        self.factory.pipeline.protocol_error(self.imei or claimed, self.protocol_name, self.remote, error)
        if self._replies:  # answers go out in request order: behind the ACKs still waiting for commits
            self._closing = error.close
            reply = _PendingReply(error.reply, close=error.close)
            self._replies.append(reply)
            self._committed(None, reply)
            return not error.close
        if error.reply:
            self._write(error.reply, "error reply")
        if error.close:
            self.transport.loseConnection()
            return False
        return True

    def timeoutConnection(self) -> None:
        self.log.info("closing idle connection of {imei} at {remote}", imei=self.imei, remote=self.remote)
        self.transport.abortConnection()

    def send_command(self, text: str, timeout_s: float) -> Deferred[str]:
        """Send server command ``text``; the Deferred fires with the device's text answer.

        The command is written once the device awaits nothing from us and no earlier command awaits
        its answer; ``timeout_s`` counts from that moment. It fails with :class:`CommandQueueFull`
        at once when too many wait already, :class:`CommandNotSent` when the device stayed busy
        past the wait bound, :class:`CommandTimedOut` when written and not answered in time,
        :class:`CommandDisconnected` when the connection closes first, and ``ValueError`` when the
        protocol cannot carry the text.
        """
        gate = self._gate
        if gate is None:
            return fail(CommandError(f"{self.protocol_name} connections carry no server commands"))
        if not self.connected:
            return fail(CommandDisconnected(f"device {self.imei} is disconnected", sent=False))
        command = _Command(text, timeout_s)
        try:
            gate.submit(command, timeout_s, self.factory.reactor.seconds())
        except CommandQueueFull as error:
            return fail(CommandQueueFull(f"device {self.imei}: {error}"))
        self._pump_commands()
        return command.waiter

    def _pump_commands(self) -> None:
        """Write the next command if the gate allows it now, then time what is left."""
        gate = self._gate
        if gate is None or self._receiving:
            return
        if not self._closing and self.connected:
            due = sum(1 for reply in self._replies if reply.ack)  # read only while a command waits
            gate.device_awaits(due, getattr(self.session, "buffered", 0) > 0)
            now = self.factory.reactor.seconds()
            session = cast(CommandSession, self.session)
            while (command := gate.writable(now)) is not None:
                try:
                    data = session.encode_command(command.text, now)
                except ValueError as error:  # text the protocol cannot carry: this command fails alone
                    gate.withdraw(command)
                    command.waiter.errback(error)
                    continue
                gate.sent(command, session.command_reference)
                self._write(data, f"command {command.text[:80]!r}")
        self._time_commands()

    def _time_commands(self) -> None:
        """One timer at the gate's next deadline (none while no command waits)."""
        gate = self._gate
        deadline = gate.next_deadline() if gate is not None else None
        timer = self._command_timer
        if timer is not None and timer.active():
            if deadline is not None and timer.getTime() == deadline:
                return
            timer.cancel()
        self._command_timer = None
        if deadline is not None:
            delay = max(0.0, deadline - self.factory.reactor.seconds())
            self._command_timer = self.factory.reactor.callLater(delay, self._commands_due)

    def _commands_due(self) -> None:
        self._command_timer = None
        gate = self._gate
        if gate is None:
            return
        for expired in gate.expire(self.factory.reactor.seconds()):
            expired.item.waiter.errback(self._expiry_error(expired))
        self._pump_commands()

    def _expiry_error(self, expired: Expired[_Command]) -> CommandError:
        command = expired.item
        if expired.sent:
            return CommandTimedOut(
                f"device {self.imei} did not answer the command {command.text!r} within {command.timeout_s:g} s"
            )
        assert self._gate is not None
        return CommandNotSent(
            f"device {self.imei} still awaited replies to its own frames after {self._gate.max_wait_s:g} s: "
            f"the command {command.text!r} was not sent"
        )

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.setTimeout(None)  # type: ignore[no-untyped-call]  # TimeoutMixin is unannotated
        self._stop_frame_timer()
        if self._abort_timer is not None and self._abort_timer.active():
            self._abort_timer.cancel()
        self._abort_timer = None
        self.factory.connection_closed(self)
        self.factory.pipeline.committer.release(self._producer)
        if self._command_timer is not None and self._command_timer.active():
            self._command_timer.cancel()
        self._command_timer = None
        if self._gate is not None:
            for expired in self._gate.close():
                text = expired.item.text
                why = f"before answering the command {text!r}" if expired.sent else (
                    f"before the command {text!r} could be sent"
                )
                expired.item.waiter.errback(
                    CommandDisconnected(f"device {self.imei} disconnected {why}", sent=expired.sent)
                )
        if self.imei is not None:
            channel = self if self._gate is not None else None
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
        command_queue_limit: int = COMMAND_QUEUE_LIMIT,
        command_max_wait_s: float = COMMAND_MAX_WAIT_S,
    ) -> None:
        self.reactor = reactor
        self.spec = spec
        self.pipeline = pipeline
        self.idle_timeout_s = idle_timeout_s
        self.max_frame = max_frame
        self.frame_timeout_s = frame_timeout_s
        self.max_connections_per_address = max_connections_per_address
        self.command_queue_limit = command_queue_limit
        """Commands that may wait on one connection before ``send_command`` refuses more."""
        self.command_max_wait_s = command_max_wait_s
        """How long a command may wait for the device to be free before it fails unsent."""
        self.open_per_address: Counter[str] = Counter()
        """Open connections per peer address."""
        self.refused: Counter[str] = Counter()
        """Connections refused, per reason (``per_address_cap``)."""
        self.unmatched_answers = 0
        """Command answers no waiting command claimed (late, repeated, or to nothing asked)."""

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
