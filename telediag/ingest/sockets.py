"""Listening sockets that several ingest processes share through SO_REUSEPORT.

Each worker gets a socket of its own bound to the same address and port; the kernel then spreads new
TCP connections (and UDP peers, by their address and port) across the sockets of the group. The
parent makes them all: it binds the first (port 0 gets its number from the kernel), then binds the
others to that port, and hands each worker its own as an inherited descriptor that the worker's
reactor adopts. The parent keeps its copies open, so a worker that dies leaves its socket in the
group and connections queued on it wait for the restarted worker instead of being refused.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

T = TypeVar("T")

TWISTED_BACKLOG = 50
"""Twisted's own default for ``tcp:`` endpoints without ``backlog=``, kept so nothing changes."""


class UnsharableEndpoint(ValueError):
    """An endpoint string that cannot be shared across workers (only ``tcp:`` and ``udp:`` can)."""


@dataclass(frozen=True, slots=True)
class SharedAddress:
    """One configured endpoint, as the socket calls need it."""

    protocol: str
    endpoint: str
    transport: Literal["tcp", "udp"]
    interface: str
    port: int
    backlog: int = TWISTED_BACKLOG

    @property
    def family(self) -> socket.AddressFamily:
        """IPv6 when the interface is an IPv6 address, IPv4 otherwise (``""`` is every IPv4 address)."""
        return socket.AF_INET6 if ":" in self.interface else socket.AF_INET


def shared_address(protocol: str, endpoint: str) -> SharedAddress:
    """Parse ``tcp:PORT[:interface=ADDR][:backlog=N]`` or ``udp:PORT[:interface=ADDR]`` (Twisted's
    syntax: ``port=PORT`` also works, and colons of an IPv6 address are escaped, ``interface=\\:\\:1``).

    UnsharableEndpoint for any other endpoint type or option (TLS, UNIX sockets, ...).
    """
    kind, *parts = _fields(endpoint)
    allowed = {"tcp": {"port", "interface", "backlog"}, "udp": {"port", "interface"}}.get(kind)
    if allowed is None or not parts:
        raise UnsharableEndpoint(f"{protocol}: {endpoint!r} cannot be shared by workers; use tcp:PORT or udp:PORT")
    options: dict[str, str] = {}
    for index, part in enumerate(parts):
        key, sep, value = part.partition("=")
        if not sep:
            if index:
                raise UnsharableEndpoint(f"{protocol}: bad option {part!r} in {endpoint!r}")
            key, value = "port", part
        if key not in allowed or key in options:
            raise UnsharableEndpoint(f"{protocol}: option {key!r} of {endpoint!r} cannot be shared by workers")
        options[key] = value
    try:
        port = int(options.get("port", ""))
        backlog = int(options.get("backlog", TWISTED_BACKLOG))
    except ValueError:
        raise UnsharableEndpoint(f"{protocol}: bad port or backlog in {endpoint!r}") from None
    if not 0 <= port <= 65535 or backlog < 1:
        raise UnsharableEndpoint(f"{protocol}: bad port or backlog in {endpoint!r}")
    transport: Literal["tcp", "udp"] = "tcp" if kind == "tcp" else "udp"
    return SharedAddress(protocol, endpoint, transport, options.get("interface", ""), port, backlog)


def _fields(endpoint: str) -> list[str]:
    """The colon-separated fields of an endpoint string; ``\\:`` is a colon inside one (IPv6)."""
    fields, current, escaped = [], "", False
    for char in endpoint:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
    return [*fields, current] if fields or current else []


def reuseport_sockets(address: SharedAddress, count: int) -> list[socket.socket]:
    """``count`` non-blocking sockets in one SO_REUSEPORT group on ``address`` (TCP ones listening).

    With port 0 the first socket's port, chosen by the kernel, is the port of all. OSError (the port
    is taken by a process outside the group) closes whatever was made.
    """
    made: list[socket.socket] = []
    port = address.port
    try:
        for _ in range(count):
            kind = socket.SOCK_STREAM if address.transport == "tcp" else socket.SOCK_DGRAM
            sock = socket.socket(address.family, kind)
            made.append(sock)
            if address.transport == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted's own ports
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((address.interface, port))
            port = sock.getsockname()[1]
            if address.transport == "tcp":
                sock.listen(address.backlog)
            sock.setblocking(False)
    except OSError:
        for sock in made:
            sock.close()
        raise
    return made


@dataclass(frozen=True, slots=True)
class Inherited:
    """A bound socket handed down from the parent as descriptor ``fd``, for the reactor to adopt."""

    fd: int
    family: int

    def adopt(self, adopter: Callable[[int, int], T]) -> T:
        """``adopter(fd, family)`` (``reactor.adoptStreamPort`` or ``adoptDatagramPort``, which work on
        a duplicate), then close the inherited descriptor."""
        try:
            return adopter(self.fd, self.family)
        finally:
            os.close(self.fd)
