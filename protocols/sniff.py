"""Which protocol do these bytes speak? Wrong-port detection for bytes another codec refused.

A tracker set to the wrong server port (a GT06 pointed at the Teltonika port) sends frames the port's
codec can never decode; the ingest error alone says "bad IMEI length" and nobody sees why. Here the
first bytes of such a source are fed to a fresh server session (or datagram decoder) of every other
codec, in :data:`PREFERENCE` order, and the first one that decodes a message naming a device wins.

Pure and bounded: no sockets, no clock; at most :data:`SNIFF_BYTES` bytes, each codec once. The
adapters call it on the first failure of a connection (or datagram source) only.

The detection travels inside the ingest error's message (:func:`note` writes it, :func:`noted` reads
it back), so the store, diagnostics and the console need no new column to carry it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols import registry
from protocols.core import CommandResponse, Login, Message, ProtocolError, Report

SNIFF_BYTES = 512
"""Bytes of a source tried against the other codecs: a login or first report fits in it."""

PREFERENCE = (
    "teltonika", "gt06", "ruptela", "meitrack", "gl200", "watch", "osmand", "gps103", "tk103", "jt808", "h02",
)
"""Most specific framing first. Where one codec also decodes another's frames, the other comes first:
H02's binary frames start with ``$`` as Meitrack's ``$$`` do, and JT808 sessions take the ``(...)``
text frames TK103 devices send (Traccar's huabao decoder does too); measured on every Traccar
vector (``tests/protocols/test_sniff.py``)."""

DISPLAY_NAMES = {
    "teltonika": "Teltonika", "gt06": "GT06", "ruptela": "Ruptela", "meitrack": "Meitrack", "gl200": "GL200",
    "watch": "Watch", "osmand": "OsmAnd", "gps103": "GPS103", "tk103": "TK103", "jt808": "JT808", "h02": "H02",
}
"""How people write each protocol's name (hints, the console)."""

_NOTE = re.compile(r"^wrong protocol: (?P<detected>[a-z0-9_]+) frames on the (?P<port>[a-z0-9_]+) port "
                   r"\(its own default port (?P<default>\d+)(?:, device (?P<imei>[0-9A-Za-z]+))?\)")


@dataclass(frozen=True, slots=True)
class Detection:
    """Bytes refused on one port that another codec decodes."""

    protocol: str
    """The protocol the bytes speak."""
    default_port: int
    """That protocol's default port (``protocols.registry``): where the tracker should send."""
    imei: str | None
    """The device id the decoded frame names, when it names one."""


def display_name(protocol: str) -> str:
    """``gt06`` as people write it: ``GT06``."""
    return DISPLAY_NAMES.get(protocol, protocol)


def candidates(exclude: str, order: Sequence[str] = PREFERENCE) -> list[str]:
    """Codecs to try for bytes refused by ``exclude``: the preferred order, then any newer codec."""
    known = registry.names()
    ordered = [name for name in order if name in known] + sorted(set(known) - set(order))
    return [name for name in ordered if name != exclude]


def sniff(data: bytes, exclude: str, limit: int = SNIFF_BYTES, datagram: bool = False) -> Detection | None:
    """The protocol ``data`` (the first bytes of a source) speaks, if another codec decodes them.

    ``datagram``: one UDP datagram; codecs with a datagram decoder are tried with it, the others
    with a stream session (some trackers send the same frames over UDP as over TCP).
    """
    head = bytes(data[:limit])
    if not head:
        return None
    for name in candidates(exclude):
        spec = registry.get(name)
        imei = _identity(_decoded(spec, head, datagram))
        if imei is not None:
            return Detection(name, spec.default_port, imei or None)
    return None


def _decoded(spec: registry.CodecSpec, head: bytes, datagram: bool) -> Sequence[Message]:
    """What one codec makes of ``head``; nothing when it refuses the bytes."""
    try:
        if datagram and spec.datagram_decoder is not None:
            return spec.datagram_decoder(head)
        if spec.stream_session is None:
            return ()
        return spec.new_session(max_frame=max(len(head), 1024)).feed(head)
    except ProtocolError:
        return ()


def _identity(messages: Iterable[Message]) -> str | None:
    """The device a decoded run names ("" when it decoded without naming one), or None: nothing that
    counts as decoding. A bare command answer proves little (any text in brackets is one to JT808)."""
    found: str | None = None
    for message in messages:
        if isinstance(message, Login):
            return message.imei
        if isinstance(message, Report | CommandResponse):
            for record in message.records:
                if record.imei:
                    return record.imei
            if isinstance(message, Report):
                found = ""
    return found


def note(detection: Detection, port_protocol: str) -> str:
    """The detection as the start of an ingest error's message (read back by :func:`noted`)."""
    device = f", device {detection.imei}" if detection.imei else ""
    return (f"wrong protocol: {detection.protocol} frames on the {port_protocol} port "
            f"(its own default port {detection.default_port}{device})")


@dataclass(frozen=True, slots=True)
class Noted:
    """A detection read back from an ingest error's message."""

    protocol: str
    """What the bytes speak."""
    port_protocol: str
    """The protocol of the port they arrived on."""
    default_port: int
    imei: str | None


def noted(message: str | None) -> Noted | None:
    """The detection an ingest error's message starts with, or None."""
    if not message:
        return None
    found = _NOTE.match(message)
    if found is None:
        return None
    return Noted(found["detected"], found["port"], int(found["default"]), found["imei"])
