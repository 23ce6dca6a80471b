"""The last frames each device sent and was sent, in memory of the process holding its connection.

When a tracker misbehaves, support wants the bytes: what arrived, what we answered, what failed to
decode. Every ingest adapter appends here; the API and the console read it. It is bounded everywhere:
:data:`FRAMES_PER_DEVICE` frames per device (a ring), :data:`EXCERPT_BYTES` kept of each frame,
:data:`DEVICES` devices (the least recently active dropped first), :data:`DETECTIONS` wrong-protocol
detections.

A device is keyed by its IMEI once known; before that by the remote address of its connection (the
frames move to the IMEI when it logs in), or by the IMEI it claimed in a wrong protocol
(``protocols.sniff``).

The per-packet cost is an append of references: the entry is a small list holding the received
bytes object itself (sliced only past the excerpt limit) and whatever the decoder made of them (the
messages, the error, or a label for what we sent). Hex and summaries are made only when read
(:meth:`TrafficLog.frames`); bench/ingest_path_bench.py measures it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Container, Iterable
from typing import Any

from protocols.core import CommandResponse, Login, ProtocolError, Report
from protocols.record import Record, iso_utc
from protocols.sniff import Detection

FRAMES_PER_DEVICE = 50
"""Frames kept per device, in and out together; older ones drop off the ring."""
EXCERPT_BYTES = 512
"""Bytes kept of one frame; its full length is kept too."""
DEVICES = 10_000
"""Devices (or unidentified sources) kept; the one silent longest is dropped first. At most
``DEVICES * FRAMES_PER_DEVICE * EXCERPT_BYTES`` bytes of frames (256 MB) in the worst case; typical
frames are tens of bytes."""
DETECTIONS = 1_000
"""Wrong-protocol detections kept, newest last."""
SENDERS = 500
"""Unknown senders listed at most in one answer."""
SENDER_FRAMES = 10
"""Frames of each unknown sender in a listing (the newest; a device's own answer has them all)."""

IN = "in"
OUT = "out"

Entry = list[Any]
"""``[at, direction, transport, remote, data, size, detail]``: a list so the adapter can say what the
bytes decoded to after appending them (the order of in and out stays the order of events)."""
AT, DIRECTION, TRANSPORT, REMOTE, DATA, SIZE, DETAIL = range(7)


class TrafficLog:
    """Bounded rings of raw frames per device, and the wrong-protocol detections (reactor thread only)."""

    __slots__ = ("frames_per_device", "excerpt_bytes", "max_devices", "_rings", "_touch", "_detections")

    def __init__(self, frames_per_device: int = FRAMES_PER_DEVICE, excerpt_bytes: int = EXCERPT_BYTES,
                 devices: int = DEVICES, detections: int = DETECTIONS) -> None:
        if min(frames_per_device, excerpt_bytes, devices, detections) < 1:
            raise ValueError("every traffic limit must be at least 1")
        self.frames_per_device = frames_per_device
        self.excerpt_bytes = excerpt_bytes
        self.max_devices = devices
        self._rings: OrderedDict[str, deque[Entry]] = OrderedDict()
        self._touch = self._rings.move_to_end
        """Marks a device the most recently active (bound once: called for every frame)."""
        self._detections: deque[dict[str, Any]] = deque(maxlen=detections)

    def add(self, key: str, at: float, direction: str, transport: str, remote: str | None, data: bytes,
            detail: object = None) -> Entry:
        """Keep one frame of ``key``; returns the entry, whose ``DETAIL`` the caller may still set."""
        ring = self._rings.get(key)
        if ring is None:
            ring = self._ring(key)
        else:
            self._touch(key)
        size = len(data)
        if size > self.excerpt_bytes:
            data = data[:self.excerpt_bytes]
        entry = [at, direction, transport, remote, data, size, detail]
        ring.append(entry)
        return entry

    def _ring(self, key: str) -> deque[Entry]:
        """A new device's ring; the least recently active device goes when there are too many."""
        rings = self._rings
        ring = rings[key] = deque(maxlen=self.frames_per_device)
        if len(rings) > self.max_devices:
            rings.popitem(last=False)
        return ring

    def rekey(self, old: str, new: str) -> None:
        """The source ``old`` (a remote address) turned out to be device ``new``: its frames move there."""
        if old == new:
            return
        moved = self._rings.pop(old, None)
        if not moved:
            return
        ring = self._rings.get(new)
        if ring is None:
            ring = self._ring(new)
        else:
            self._touch(new)
        merged = sorted([*ring, *moved], key=lambda entry: entry[AT])  # stable: same-time order kept
        ring.clear()
        ring.extend(merged)

    def detected(self, at: float, port_protocol: str, transport: str, remote: str | None, detection: Detection,
                 data: bytes) -> None:
        """Bytes refused on the ``port_protocol`` port decode as ``detection`` (the first of a source)."""
        self._detections.append({
            "at": at, "port_protocol": port_protocol, "transport": transport, "remote": remote,
            "protocol": detection.protocol, "default_port": detection.default_port, "imei": detection.imei,
            "data": bytes(data[:self.excerpt_bytes]),
        })

    def keys(self) -> list[str]:
        """Every device or source with frames, least recently active first."""
        return list(self._rings)

    def frames(self, key: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The frames of ``key``, oldest first (the newest ``limit`` when given), as JSON-ready dicts."""
        ring = self._rings.get(key)
        if not ring:
            return []
        entries = list(ring)
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [frame_view(entry) for entry in entries]

    def detections(self, key: str | None = None) -> list[dict[str, Any]]:
        """Wrong-protocol detections, oldest first; of one device or source when ``key`` is given."""
        found = [d for d in self._detections if key is None or key in (d["imei"], d["remote"])]
        return [{**{k: v for k, v in d.items() if k != "data"}, "at": iso_utc(d["at"]), "hex": d["data"].hex()}
                for d in found]

    def senders(self, unknown: Callable[[Iterable[str]], set[str]] | None = None,
                limit: int = SENDERS) -> list[dict[str, Any]]:
        """Sources with frames that are not known devices, most recently active first.

        A source keyed by address is unknown by definition; an IMEI-keyed one when ``unknown`` (given
        the IMEIs, returns those the registry does not know) says so. Without it, addresses only.
        """
        imeis = [key for key in self._rings if not is_address(key)]
        strangers = unknown(imeis) if unknown is not None and imeis else set()
        found = []
        for key in reversed(self._rings):
            if not (is_address(key) or key in strangers):
                continue
            ring = self._rings[key]
            last = ring[-1]
            found.append({
                "key": key, "kind": "address" if is_address(key) else "imei", "frames": len(ring),
                "last_at": iso_utc(last[AT]), "transport": last[TRANSPORT], "remote": last[REMOTE],
                "last_error": next((str(e[DETAIL]) for e in reversed(ring)
                                    if isinstance(e[DETAIL], ProtocolError)), None),
                "newest_frames": [frame_view(entry) for entry in list(ring)[-SENDER_FRAMES:]],
            })
            if len(found) >= limit:
                break
        return found

    def query(self, request: dict[str, Any], registered: Container[str] = ()) -> dict[str, Any]:
        """What the API asks an ingest process for, answered as JSON-ready builtins (the same over the
        workers' pipe as in one process): ``{"device": key, "limit": n}`` or ``{"senders": n}`` (the
        unknown ones: addresses, and IMEIs not in ``registered``)."""
        if "device" in request:
            key = str(request["device"])
            limit = request.get("limit")
            return {"frames": self.frames(key, int(limit) if limit is not None else None),
                    "detections": self.detections(key)}
        limit = int(request.get("senders") or SENDERS)
        return {"senders": self.senders(lambda imeis: {i for i in imeis if i not in registered}, limit),
                "detections": self.detections()[-limit:]}


def is_address(key: str) -> bool:
    """Whether a key is a remote address (``host:port``, an MQTT topic) rather than a device id."""
    return not key.isalnum()


def frame_view(entry: Entry) -> dict[str, Any]:
    """One kept frame as people and the API read it: time, direction, hex, and what it decoded to."""
    data: bytes = entry[DATA]
    detail = entry[DETAIL]
    error = str(detail) if isinstance(detail, ProtocolError) else None
    return {
        "at": iso_utc(entry[AT]), "direction": entry[DIRECTION], "transport": entry[TRANSPORT],
        "remote": entry[REMOTE], "size": entry[SIZE], "hex": data.hex(),
        "truncated": entry[SIZE] > len(data), "summary": summary(detail), "error": error,
    }


def summary(detail: object) -> str | None:
    """What the frame was: its decoded messages, the label of what we sent, or None (an error, or
    bytes of a frame still incomplete)."""
    if detail is None or isinstance(detail, ProtocolError):
        return None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list | tuple):
        if detail and isinstance(detail[0], Record):  # MQTT telemetry: records, no framing
            return f"telemetry: {len(detail)} record{'' if len(detail) == 1 else 's'}"
        parts = [_message_summary(message) for message in detail]
        return "; ".join(parts) if parts else "incomplete frame"
    return _message_summary(detail)


def _message_summary(message: object) -> str:
    if isinstance(message, Login):
        return f"login {message.imei}"
    if isinstance(message, Report):
        count = len(message.records)
        return f"{message.kind}: {count} record{'' if count == 1 else 's'}"
    if isinstance(message, CommandResponse):
        return f"command answer {message.text[:80]!r}"
    return type(message).__name__
