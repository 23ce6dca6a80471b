"""Thin Twisted adapter for datagram (UDP) devices: one datagram, its records, its ACK after commit.

A burst of datagrams waits in the socket's kernel receive buffer while the reactor works; what does
not fit is dropped by the kernel, unseen by the service. :func:`set_receive_buffer` enlarges that
buffer (``[ingest] udp_receive_buffer_bytes``) and :func:`kernel_drops` reads the kernel's count of
what it dropped anyway, for ``/metrics``.
"""

from __future__ import annotations

import os
import socket
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from twisted.internet.interfaces import IUDPTransport
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from protocols.core import Login, ProtocolError
from protocols.registry import DatagramDecoder
from protocols.sniff import Detection, note, sniff
from telediag.ingest.traffic import IN, OUT
from telediag.pipeline import Pipeline

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
"""Linux: set the receive buffer past ``net.core.rmem_max`` (needs CAP_NET_ADMIN, e.g. root)."""
PROC_UDP_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
SNIFFED_SOURCES = 4096
"""Datagram sources (address and port) whose first bad datagram was tried on every codec; each is
tried once while it is remembered, so a flood of bad datagrams costs one sniff per source."""


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a ``size``-byte receive buffer; returns the size the kernel reports it granted.

    ``SO_RCVBUFFORCE`` first (exceeds ``rmem_max`` for a privileged process), else ``SO_RCVBUF``
    (capped at ``rmem_max``). Linux reports double what was asked (it counts its bookkeeping).
    """
    for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
            break
        except OSError:
            continue
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def kernel_drops(sock: socket.socket, tables: Iterable[Path] = PROC_UDP_TABLES) -> int | None:
    """Datagrams the kernel dropped for this socket (its receive buffer was full), or None where
    ``/proc/net/udp`` is not there (not Linux) or does not list the socket.

    The socket's row is the one whose inode is the socket's; ``drops`` is its last column.
    """
    try:
        inode = os.fstat(sock.fileno()).st_ino
    except OSError:
        return None
    wanted = str(inode)
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9] == wanted:
                return int(fields[12])
    return None


class DeviceDatagramProtocol(DatagramProtocol):
    """Every device of one protocol on one UDP port."""

    noisy = False
    transport: IUDPTransport

    def __init__(self, protocol: str, decode: DatagramDecoder, pipeline: Pipeline, max_frame: int) -> None:
        self.protocol_name = protocol
        self.decode = decode
        self.pipeline = pipeline
        self.max_frame = max_frame
        self._sniffed: OrderedDict[str, Detection | None] = OrderedDict()
        """What the first bad datagram of each recent source turned out to be (None: nothing known)."""

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        remote = f"{addr[0]}:{addr[1]}"
        traffic = self.pipeline.traffic
        try:
            if len(data) > self.max_frame:
                raise ProtocolError(
                    f"datagram of {len(data)} bytes over the {self.max_frame}-byte limit", excerpt=data
                )
            messages = self.decode(data)
        except ProtocolError as error:
            detection = self._wrong_protocol(remote, data)
            imei = detection.imei if detection is not None else None
            if detection is not None:
                error = ProtocolError(f"{note(detection, self.protocol_name)}: {error}", reply=error.reply,
                                      excerpt=error.excerpt or data)
            traffic.add(imei or remote, self.pipeline.now(), IN, "udp", remote, data, error)
            self.pipeline.protocol_error(imei, self.protocol_name, remote, error)
            if error.reply:
                traffic.add(imei or remote, self.pipeline.now(), OUT, "udp", remote, error.reply, "error reply")
                self.transport.write(error.reply, addr)
            return
        decoded_at = self.pipeline.now()
        key = next((r.imei for m in messages if not isinstance(m, Login) for r in m.records if r.imei), None) or remote
        traffic.add(key, decoded_at, IN, "udp", remote, data, messages)
        for message in messages:
            if isinstance(message, Login):
                continue  # datagram protocols carry the IMEI in every packet
            imei = next((r.imei for r in message.records if r.imei), None)
            if imei is None:
                if message.ack:
                    traffic.add(key, self.pipeline.now(), OUT, "udp", remote, message.ack, "reply")
                    self.transport.write(message.ack, addr)
                continue
            if not self.pipeline.identify(imei, self.protocol_name):
                continue
            committed = self.pipeline.submit(imei, self.protocol_name, message.records)
            committed.addCallbacks(self._send_ack, self._no_ack, (message.ack, addr, decoded_at, imei))

    def _wrong_protocol(self, remote: str, data: bytes) -> Detection | None:
        """The first bad datagram of a source tried on every other codec, once per remembered source."""
        sniffed = self._sniffed
        if remote in sniffed:
            sniffed.move_to_end(remote)
            return sniffed[remote]
        detection = sniff(data, self.protocol_name, datagram=True)
        sniffed[remote] = detection
        if len(sniffed) > SNIFFED_SOURCES:
            sniffed.popitem(last=False)
        if detection is not None:
            self.pipeline.traffic.detected(self.pipeline.now(), self.protocol_name, "udp", remote, detection, data)
        return detection

    def _send_ack(self, _: object, ack: bytes | None, addr: tuple[str, int], decoded_at: float,
                  imei: str | None = None) -> None:
        if self.transport is not None:
            if ack:
                self.pipeline.traffic.add(imei or f"{addr[0]}:{addr[1]}", self.pipeline.now(), OUT, "udp",
                                          f"{addr[0]}:{addr[1]}", ack, "reply")
                self.transport.write(ack, addr)
            self.pipeline.ack_sent(self.protocol_name, decoded_at)

    def _no_ack(self, failure: Failure) -> None:
        """Not committed: stay silent, the device resends the datagram."""
        failure.trap(Exception)
