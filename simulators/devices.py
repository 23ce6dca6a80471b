"""Protocol clients for simulated trackers, built on the device-side encoders of ``protocols``.

Each client logs in, sends what the outbox holds, waits for the server's ACK the way the real device
does, and on a dropped connection puts the unacknowledged records back to be resent. A shadow server
session decodes every packet the client sends, so the records kept as "acknowledged" are exactly the
values the server must have stored (after the protocol's rounding). A device with the
``protocol_garbage`` fault also sends undecodable frames; they never touch the outbox or the
shadow session, so they cannot be counted as records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.protocol import DatagramProtocol, Protocol, ReconnectingClientFactory
from twisted.python.failure import Failure

from protocols import gt06, teltonika
from protocols.core import Report
from protocols.record import Record
from simulators.outbox import Outbox

COMMAND_ANSWERS: dict[str, Callable[[SimDevice], str]] = {
    "getinfo": lambda device: "INI:2026/1/1 0:00 RTC:2026/1/1 0:00 RST:2 ERR:0 SR:0 BR:0 CF:0 FG:0 FL:0 "
    "TU:0/0 UT:0 SMS:0 NOGPS:0:0 GPS:1 SAT:9 RS:3 RF:65 SF:1 MD:0",
    "getstatus": lambda device: f"Data Link: 1 GPRS: 1 Phone: 0 SIM: 0 OpCode: {device.operator} Signal: 5 "
    "NewSMS: 0 Roaming: 0 SMSFull: 0 LAC: 1 Cell ID: 1 NetType: 1 FwUpd:-1",
    "getparam 2001": lambda device: f"Param ID:2001 Value:{device.apn}",
    "getimei": lambda device: f"IMEI: {device.imei}",
}
"""Command -> the device's answer (``getparam 2001`` is its configured APN). Devices of every
protocol answer from this table, so a test can ask any of them the same question."""


def command_answer(device: SimDevice, text: str) -> str:
    """What a simulated device answers to server command ``text``; ``setparam 2001:<apn>`` (the fix a
    wrong-APN finding offers) changes the device's APN, as the tracker's own setting would."""
    text = text.strip()
    if text.startswith("setparam "):
        return _set_parameters(device, text.removeprefix("setparam ").strip())
    answer = COMMAND_ANSWERS.get(text)
    return answer(device) if answer is not None else f"Unknown command: {text}"


def _set_parameters(device: SimDevice, assignments: str) -> str:
    """``setparam ID:VALUE[;ID:VALUE...]`` answered as Teltonika does (``New value ID:VALUE;...``)."""
    pairs = [part.partition(":") for part in assignments.split(";") if part]
    if not pairs or any(not key.isdigit() or not colon for key, colon, _ in pairs):
        return f"Unknown command: setparam {assignments}"
    for key, _, value in pairs:
        if key == "2001":
            device.apn = value
    return "New value " + ";".join(f"{key}:{value}" for key, _, value in pairs) + ";"

_GARBAGE_RECORD = Record(imei=None, protocol="teltonika", fix_time=1_000_000_000.0, valid=False)


class SimDevice:
    """A simulated tracker's state shared by its connections: identity, outbox and settings."""

    def __init__(self, imei: str, protocol: str, transport: str, records_per_packet: int,
                 apn: str = "internet", operator: int = 26001) -> None:
        self.imei = imei
        self.protocol = protocol
        self.transport = transport
        self.records_per_packet = records_per_packet
        self.apn = apn
        self.operator = operator
        self.outbox = Outbox()
        self.link: Any = None
        self.online = True
        """False while the device has no data session (its fault): it neither connects nor sends."""
        self.connects = 0
        self.commands_answered = 0
        self.garbage_due = 0
        self.garbage_sent = 0

    def pump(self) -> None:
        """Send more if the link is ready."""
        if self.link is not None and self.online:
            self.link.pump()

    def send_garbage(self) -> None:
        """Queue one undecodable frame; the link sends it when nothing is in flight."""
        self.garbage_due += 1
        self.pump()


def teltonika_bad_crc() -> bytes:
    """A Teltonika AVL frame whose CRC does not match: answered with a zero record count."""
    frame = teltonika.encode_avl([_GARBAGE_RECORD], codec_id=0x08)
    return frame[:-2] + bytes((frame[-2] ^ 0xFF, frame[-1] ^ 0x5A))


def gt06_bad_crc(imei: str) -> bytes:
    """A GT06 login frame with a broken CRC-ITU: skipped by the server without an answer."""
    frame = gt06.encode_login(imei, 1)
    return frame[:-4] + bytes((frame[-4] ^ 0xFF, frame[-3] ^ 0x5A)) + frame[-2:]


class TeltonikaTcpLink(Protocol):
    """Teltonika over TCP: IMEI handshake, one AVL packet in flight, 4-byte record-count ACK."""

    def __init__(self, device: SimDevice, codec_id: int) -> None:
        self.device = device
        self.codec_id = codec_id
        self.receiver = teltonika.DeviceReceiver()
        self.shadow = teltonika.ServerSession()
        self.accepted = False
        self.decoded_in_flight: tuple[Record, ...] = ()
        self.garbage_in_flight = False
        self.closing = False

    def connectionMade(self) -> None:
        self.device.link = self
        self.device.connects += 1
        handshake = teltonika.encode_imei(self.device.imei)
        self.shadow.feed(handshake)
        self.transport.write(handshake)

    def dataReceived(self, data: bytes) -> None:
        for reply in self.receiver.feed(data):
            if isinstance(reply, teltonika.LoginAnswer):
                self.accepted = reply.accepted
                if not reply.accepted:
                    self.transport.loseConnection()
                    return
            elif isinstance(reply, teltonika.RecordAck):
                if self.garbage_in_flight:  # the answer to the bad frame, not to records
                    self.garbage_in_flight = False
                elif self.device.outbox.in_flight and reply.count == len(self.device.outbox.in_flight[0]):
                    self.device.outbox.ack_oldest(self.decoded_in_flight)
                else:  # a short count means "send it again"
                    self.device.outbox.requeue()
            elif isinstance(reply, teltonika.ServerCommand):
                text = command_answer(self.device, reply.text)
                self.transport.write(teltonika.encode_command_response(text))
                self.device.commands_answered += 1
        self.pump()

    def pump(self) -> None:
        outbox = self.device.outbox
        if not self.accepted or self.closing or self.garbage_in_flight or outbox.in_flight:
            return
        if self.device.garbage_due:
            self._send_garbage()
            return
        if not outbox.pending:
            return
        batch = outbox.take(self.device.records_per_packet)
        packet = teltonika.encode_avl(batch, codec_id=self.codec_id)
        self.decoded_in_flight = _decoded(self.shadow.feed(packet))
        self.receiver.expect_ack()  # a 00000000 NAK must not be read as the start of a command
        self.transport.write(packet)

    def _send_garbage(self) -> None:
        """Alternately a bad-CRC frame (the server answers 0 and carries on) and GT06 bytes (it closes)."""
        device = self.device
        device.garbage_due -= 1
        device.garbage_sent += 1
        if device.garbage_sent % 2 == 1:
            self.garbage_in_flight = True
            self.receiver.expect_ack()
            self.transport.write(teltonika_bad_crc())
        else:
            self.closing = True  # nothing more on this connection: the server drops it
            self.transport.write(gt06.encode_login(device.imei, 1))

    def connectionLost(self, reason: Failure) -> None:
        if self.device.link is self:
            self.device.link = None
        self.device.outbox.requeue()


class Gt06Link(Protocol):
    """GT06 over TCP: login, then one location frame per record, each ACKed by its serial number;
    0x80 commands are answered with 0x15 (or 0x21) echoing the server flag."""

    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self.receiver = gt06.DeviceReceiver()
        self.shadow = gt06.ServerSession()
        self.serial = 0
        self.logged_in = False
        self.by_serial: dict[int, tuple[tuple[Record, ...], tuple[Record, ...]]] = {}

    def _next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    def connectionMade(self) -> None:
        self.device.link = self
        self.device.connects += 1
        login = gt06.encode_login(self.device.imei, self._next_serial())
        self.shadow.feed(login)
        self.transport.write(login)

    def dataReceived(self, data: bytes) -> None:
        for ack in self.receiver.feed(data):
            if ack.type_id == 0x01:
                self.logged_in = True
            elif ack.type_id == gt06.MSG_COMMAND:
                command = gt06.decode_command(ack.content, ack.serial)
                text = command_answer(self.device, command.text)
                self.transport.write(gt06.encode_answer(text, command.server_flag, self._next_serial()))
                self.device.commands_answered += 1
            elif ack.serial in self.by_serial:
                batch, decoded = self.by_serial.pop(ack.serial)
                self.device.outbox.ack_batch(batch, decoded)
        self.pump()

    def pump(self) -> None:
        outbox = self.device.outbox
        if not self.logged_in:
            return
        while self.device.garbage_due:  # never answered: it cannot be mistaken for an ACK
            self.device.garbage_due -= 1
            self.device.garbage_sent += 1
            imei = self.device.imei
            bad = gt06_bad_crc(imei) if self.device.garbage_sent % 2 else teltonika.encode_imei(imei)
            self.transport.write(bad)
        if outbox.in_flight or not outbox.pending:
            return
        frames = []
        for _ in range(self.device.records_per_packet):
            batch = outbox.take(1)
            if not batch:
                break
            serial = self._next_serial()
            frame = gt06.encode_location(batch[0], serial, type_id=0x22)
            self.by_serial[serial] = (batch, _decoded(self.shadow.feed(frame)))
            frames.append(frame)
        self.transport.write(b"".join(frames))

    def connectionLost(self, reason: Failure) -> None:
        if self.device.link is self:
            self.device.link = None
        self.by_serial.clear()
        self.device.outbox.requeue()


class TeltonikaUdpLink(DatagramProtocol):
    """Teltonika over UDP: one datagram in flight, resent until the ACK echoes its packet ID."""

    def __init__(self, device: SimDevice, host: str, port: int, codec_id: int, reactor: Any,
                 resend_after_s: float = 1.0) -> None:
        self.device = device
        self.address = (host, port)
        self.codec_id = codec_id
        self.reactor = reactor
        self.resend_after_s = resend_after_s
        self.packet_id = 0
        self.avl_packet_id = 0
        self.datagram = b""
        self.decoded: tuple[Record, ...] = ()
        self.timer: Any = None

    def startProtocol(self) -> None:
        # Unconnected on purpose: a connected UDP port is closed by Twisted when an ICMP
        # "port unreachable" arrives, and a tracker must keep resending while the server is down.
        self.device.link = self
        self.device.connects += 1
        self.pump()

    def pump(self) -> None:
        outbox = self.device.outbox
        if self.transport is None:
            return
        while self.device.garbage_due:  # a datagram whose length field lies: no ACK comes back
            self.device.garbage_due -= 1
            self.device.garbage_sent += 1
            self._write(gt06.encode_login(self.device.imei, 1))
        if outbox.in_flight or not outbox.pending:
            return
        batch = outbox.take(self.device.records_per_packet)
        self.packet_id = (self.packet_id + 1) & 0xFFFF
        self.avl_packet_id = (self.avl_packet_id + 1) & 0xFF
        self.datagram = teltonika.encode_udp(
            self.device.imei, self.packet_id, self.avl_packet_id, batch, codec_id=self.codec_id
        )
        self.decoded = _decoded(teltonika.decode_datagram(self.datagram))
        self._send()

    def _write(self, datagram: bytes) -> None:
        try:
            self.transport.write(datagram, self.address)
        except Exception:  # Twisted's ConnectionRefusedError (ICMP unreachable) while the server is down
            pass  # the timer resends

    def _send(self) -> None:
        self._write(self.datagram)
        self.timer = self.reactor.callLater(self.resend_after_s, self._resend)

    def _resend(self) -> None:
        self.timer = None
        if self.device.outbox.in_flight and self.transport is not None and self.device.online:
            self.device.outbox.counters.resent += len(self.device.outbox.in_flight[0])
            self.device.outbox.counters.sent += len(self.device.outbox.in_flight[0])
            self._send()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        try:
            ack = teltonika.decode_udp_ack(data)
        except Exception:
            return
        outbox = self.device.outbox
        if ack.packet_id != self.packet_id or not outbox.in_flight:
            return
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None
        if ack.count == len(outbox.in_flight[0]):
            outbox.ack_oldest(self.decoded)
        else:
            outbox.requeue()
        self.pump()

    def stop(self) -> None:
        """Cancel the resend timer."""
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


def _decoded(messages: Any) -> tuple[Record, ...]:
    """The records the server decodes from what a client just sent."""
    return tuple(record for message in messages if isinstance(message, Report) for record in message.records)


class ReconnectingDeviceFactory(ReconnectingClientFactory):
    """Reconnects a TCP device with exponential backoff, as trackers do after losing the server."""

    noisy = False
    initialDelay = 0.2
    factor = 1.6

    def __init__(self, device: SimDevice, build: Callable[[SimDevice], Protocol], max_delay: float) -> None:
        self.device = device
        self.build = build
        self.maxDelay = max_delay

    def buildProtocol(self, addr: Any) -> Protocol:
        self.resetDelay()
        protocol = self.build(self.device)
        protocol.factory = self
        return protocol
