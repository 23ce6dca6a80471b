"""Where the API reads raw traffic: the traffic log of this process, or of every ingest worker.

Frames stay in the memory of the process that holds the connection. With ``[ingest] workers`` > 1
those are the workers, so the parent asks each of them over the pipe they already report on
(``telediag.ingest.workers``) and merges the answers. Asking, rather than persisting a table, keeps
the per-packet cost an append in memory (no store write for every frame of every device) and
costs nothing while nobody looks; a worker that does not answer in time is left out of the answer,
which says so (``partial``).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed

from telediag.ingest.traffic import TrafficLog

Answer = dict[str, Any]


class TrafficSource(Protocol):
    """Asks every ingest process of the node the same traffic question (``TrafficLog.query``)."""

    def ask_traffic(self, request: dict[str, Any]) -> Deferred[list[Answer | None]]:
        """Each process's answer, None for one that did not answer in time."""
        ...


class LocalTraffic:
    """The traffic log of this process (one ingest process: ``[ingest] workers = 1``); ``registered``
    is the store's set of registered IMEIs (what is not in it is an unknown sender)."""

    def __init__(self, log: TrafficLog, registered: Container[str] = ()) -> None:
        self.log = log
        self.registered = registered

    def ask_traffic(self, request: dict[str, Any]) -> Deferred[list[Answer | None]]:
        return succeed([self.log.query(request, self.registered)])


def merged_device(answers: Sequence[Answer | None], limit: int) -> dict[str, Any]:
    """One device's frames from every process (a device reconnecting may have landed on another
    worker), oldest first, the newest ``limit``; its detections likewise."""
    frames = sorted((f for a in answers if a for f in a.get("frames", [])), key=lambda f: f["at"])
    detections = sorted((d for a in answers if a for d in a.get("detections", [])), key=lambda d: d["at"])
    return {"frames": frames[-limit:] if limit > 0 else [], "detections": detections[-limit:] if limit > 0 else [],
            "partial": any(a is None for a in answers)}


def merged_senders(answers: Sequence[Answer | None], limit: int) -> dict[str, Any]:
    """Unknown senders of every process, most recently active first, and the wrong-protocol
    detections, newest first."""
    senders = sorted((s for a in answers if a for s in a.get("senders", [])), key=lambda s: s["last_at"],
                     reverse=True)
    detections = sorted((d for a in answers if a for d in a.get("detections", [])), key=lambda d: d["at"],
                        reverse=True)
    return {"senders": senders[:limit], "detections": detections[:limit],
            "partial": any(a is None for a in answers)}
