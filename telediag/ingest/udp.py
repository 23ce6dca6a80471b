"""Thin Twisted adapter for datagram (UDP) devices: one datagram, its records, its ACK after commit.

A burst of datagrams waits in the socket's kernel receive buffer while the reactor works; what does
not fit is dropped by the kernel, unseen by the service. :func:`set_receive_buffer` enlarges that
buffer (``[ingest] udp_receive_buffer_bytes``) and :func:`kernel_drops` reads the kernel's count of
what it dropped anyway, for ``/metrics``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path

from twisted.internet.interfaces import IUDPTransport
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from protocols.core import Login, ProtocolError
from protocols.registry import DatagramDecoder
from telediag.pipeline import Pipeline

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
"""Linux: set the receive buffer past ``net.core.rmem_max`` (needs CAP_NET_ADMIN, e.g. root)."""
PROC_UDP_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


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

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        remote = f"{addr[0]}:{addr[1]}"
        try:
            if len(data) > self.max_frame:
                raise ProtocolError(
                    f"datagram of {len(data)} bytes over the {self.max_frame}-byte limit", excerpt=data
                )
            messages = self.decode(data)
        except ProtocolError as error:
            self.pipeline.protocol_error(None, self.protocol_name, remote, error)
            if error.reply:
                self.transport.write(error.reply, addr)
            return
        decoded_at = self.pipeline.now()
        for message in messages:
            if isinstance(message, Login):
                continue  # datagram protocols carry the IMEI in every packet
            imei = next((r.imei for r in message.records if r.imei), None)
            if imei is None:
                if message.ack:
                    self.transport.write(message.ack, addr)
                continue
            if not self.pipeline.identify(imei, self.protocol_name):
                continue
            committed = self.pipeline.submit(imei, self.protocol_name, message.records)
            committed.addCallbacks(self._send_ack, self._no_ack, (message.ack, addr, decoded_at))

    def _send_ack(self, _: object, ack: bytes | None, addr: tuple[str, int], decoded_at: float) -> None:
        if self.transport is not None:
            if ack:
                self.transport.write(ack, addr)
            self.pipeline.ack_sent(self.protocol_name, decoded_at)

    def _no_ack(self, failure: Failure) -> None:
        """Not committed: stay silent, the device resends the datagram."""
        failure.trap(Exception)
