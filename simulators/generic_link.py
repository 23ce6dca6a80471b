"""One TCP client for every protocol that provides a ``DeviceCodec`` (see ``protocols.device_codec``).

It logs in, sends what the outbox holds one packet at a time, and takes the server's answers as
acknowledgements when the protocol has them; for protocols whose servers never acknowledge positions
a packet counts as delivered once written to the connection (a real device of that kind knows no
better). A shadow server session decodes every packet, so "acknowledged" records are exactly what the
server must have stored after the protocol's rounding.

A codec that also takes server commands (:class:`AnswersCommands`: GT06 has its own client, H02,
GL200, Meitrack, JT808 use this one) hands them out after ``acks``; the client answers each at
once from the same table as the Teltonika client (``simulators.devices.command_answer``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, runtime_checkable
from typing import Protocol as TypingProtocol

from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from protocols.core import CommandResponse, Report
from protocols.record import Record
from simulators.devices import command_answer


@runtime_checkable
class AnswersCommands(TypingProtocol):
    """A device codec that collects server commands while reading the server's bytes."""

    def take_commands(self) -> list[Any]:
        """Commands received since the last call (each has a ``text``), oldest first."""
        ...

    def answer(self, command: Any, text: str) -> bytes:
        """The device's answer to ``command`` saying ``text``."""
        ...


CodecFactory = Callable[[str], Any]
SessionFactory = Callable[[], Any]


class GenericTcpLink(Protocol):
    """A simulated tracker of any codec-registered protocol over TCP."""

    def __init__(self, device: Any, codec_factory: CodecFactory, session_factory: SessionFactory) -> None:
        self.device = device
        self.codec = codec_factory(device.imei)
        self.shadow = session_factory()
        self._pending_decoded: list[tuple[Record, ...]] = []
        """What the server made of each packet still waiting for its acknowledgement, oldest first."""

    def connectionMade(self) -> None:
        self.device.link = self
        self.device.connects += 1
        login = self.codec.login()
        if login:
            self._shadow(login)
            self.transport.write(login)
        self.pump()

    def dataReceived(self, data: bytes) -> None:
        for _ in range(self.codec.acks(data)):
            self.device.outbox.ack_oldest(self._pending_decoded.pop(0) if self._pending_decoded else None)
        if isinstance(self.codec, AnswersCommands):
            for command in self.codec.take_commands():
                self.transport.write(self.codec.answer(command, command_answer(self.device, command.text)))
                self.device.commands_answered += 1
        self.pump()

    def _shadow(self, data: bytes) -> tuple[Record, ...]:
        records: list[Record] = []
        for message in self.shadow.feed(data):
            if isinstance(message, (Report, CommandResponse)):
                records.extend(message.records)
        return tuple(records)

    def pump(self) -> None:
        outbox = self.device.outbox
        self.device.garbage_due = 0  # garbage frames are a Teltonika/GT06 fault only
        while outbox.pending and (not self.codec.acks_positions or not outbox.in_flight):
            batch = outbox.take(self.device.records_per_packet)
            packet = self.codec.encode(batch)
            decoded = self._shadow(packet)
            self.transport.write(packet)
            if self.codec.acks_positions:
                self._pending_decoded.append(decoded)
                return
            outbox.ack_oldest(decoded)

    def connectionLost(self, reason: Failure) -> None:
        if self.device.link is self:
            self.device.link = None
        self._pending_decoded = []
        self.device.outbox.requeue()
