"""Which codecs exist, which transports they speak and on which port they listen by default.

The service builds its listeners from this table, so adding a protocol is: write the module, add a
line to ``_SPECS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from protocols.core import DEFAULT_MAX_FRAME, Message


class StreamSession(Protocol):
    """Server side of one device's byte stream (TCP): feed bytes, get messages.

    A session may also offer ``timeout_reply() -> bytes``: what to answer before the service closes
    a connection whose incomplete frame outlived the frame deadline (OsmAnd: 408).
    """

    imei: str | None
    pending: bool
    """True when ``feed(b"")`` has work without new input (an error held back behind good frames)."""

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held; above 0 the service's frame deadline runs."""
        ...

    def feed(self, data: bytes) -> list[Message]:
        """Decode what ``data`` completes; keep partial frames; raise ``ProtocolError`` on bad input."""
        ...


class CommandSession(StreamSession, Protocol):
    """A stream session that can also carry server commands (Teltonika Codec 12, GT06 0x80, ...).

    The session encodes because the command needs what only the connection knows: the device id,
    serial numbers, the header version it speaks. ``now`` (seconds since the epoch) is for the
    protocols whose commands carry the server time (H02); the others ignore it. A session may
    also remember what it sent, so the device's answer comes out as a ``CommandResponse``
    (Meitrack answers with the command's own code, JT808 with a general response to its serial).
    ``ValueError`` when the text cannot be carried (not ASCII, too long, device not identified).
    """

    command_reference: str | None
    """What the last encoded command's answer will echo (GT06 server flag, Queclink serial, ...);
    None where the protocol echoes nothing and answers go by order."""

    def encode_command(self, text: str, now: float) -> bytes:
        """The bytes of server command ``text`` for this connection."""
        ...


DatagramDecoder = Callable[[bytes], Sequence[Message]]
"""Server side of a datagram transport (UDP): one datagram in, its messages out (stateless)."""


@dataclass(frozen=True)
class CodecSpec:
    """How the service runs a protocol: its session factory, datagram decoder and default ports."""

    name: str
    default_port: int
    stream_session: Callable[..., StreamSession] | None
    datagram_decoder: DatagramDecoder | None
    half_duplex: bool = False
    """The device reads whatever follows its frame as the answer to it (Teltonika: a command
    written while a packet is half received would be read as that packet's ACK), so commands wait
    until no frame is half received, not only until the replies are written."""

    @property
    def takes_commands(self) -> bool:
        """Whether a stream connection of this protocol can carry server commands."""
        return self.stream_session is not None and hasattr(self.stream_session, "encode_command")

    @property
    def transports(self) -> tuple[str, ...]:
        """Transports this codec can be served on."""
        found = []
        if self.stream_session is not None:
            found.append("tcp")
        if self.datagram_decoder is not None:
            found.append("udp")
        return tuple(found)

    def new_session(self, max_frame: int = DEFAULT_MAX_FRAME) -> StreamSession:
        """A fresh stream session for one connection."""
        if self.stream_session is None:
            raise ValueError(f"protocol {self.name} has no stream transport")
        return self.stream_session(max_frame=max_frame)


_SPECS: dict[str, tuple[str, int]] = {
    "teltonika": ("protocols.teltonika", 5027),
    "gt06": ("protocols.gt06", 5023),
    "gps103": ("protocols.gps103", 5001),
    "tk103": ("protocols.tk103", 5002),
    "osmand": ("protocols.osmand", 5055),
    "h02": ("protocols.h02", 5013),
    "watch": ("protocols.watch", 5093),
    "meitrack": ("protocols.meitrack", 5020),
    "gl200": ("protocols.gl200", 5004),
    "jt808": ("protocols.jt808", 5015),
    "ruptela": ("protocols.ruptela", 5046),
}


def names() -> list[str]:
    """Every registered protocol name."""
    return sorted(_SPECS)


def get(name: str) -> CodecSpec:
    """The spec of protocol ``name``; ``KeyError`` with the known names otherwise."""
    try:
        module_name, port = _SPECS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(names())}") from None
    module = importlib.import_module(module_name)
    return CodecSpec(
        name=name,
        default_port=port,
        stream_session=getattr(module, "ServerSession", None),
        datagram_decoder=getattr(module, "decode_datagram", None),
        half_duplex=bool(getattr(module, "HALF_DUPLEX", False)),
    )
