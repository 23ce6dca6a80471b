"""What an ingest worker tells its parent once a second, and the parent's totals over all workers.

A worker's counters live in its own process. It sends them whole (not as increments) with the
devices that got new data since its last report; the parent keeps each worker's latest report and
sums them, so ``/metrics`` on the parent shows the deployment's ingest as one process would. A
worker that ends has its counters moved into a retired total first, so counters never go down when a
worker is restarted; gauges (open connections, backlog) of an ended worker are dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telediag.pipeline import IngestStats, LatencyHistogram

Report = dict[str, Any]
"""One worker's report as sent: JSON-ready builtins."""

COUNTERS = ("packets", "records", "errors", "refused", "implausible")
"""``IngestStats`` counters (monotonic); ``connections`` is a gauge."""
COMMIT_COUNTERS = ("commits", "commit_failures", "records_stored")
COMMIT_GAUGES = ("backlog", "queued", "queue_limit")


def make_report(
    stats: IngestStats, committer: Any, factories: Iterable[Any], devices: Sequence[tuple[str, str]],
) -> Report:
    """A worker's counters now, and ``devices`` as (imei, protocol) that got new data since the last report."""
    latency = stats.ack_latency
    return {
        **{name: dict(getattr(stats, name)) for name in (*COUNTERS, "connections")},
        "ack_latency": {"counts": {p: list(c) for p, c in latency.counts.items()}, "sums": dict(latency.sums)},
        "commit": {
            "backlog": committer.backlog, "queued": getattr(committer, "_queued_records", 0),
            "queue_limit": committer.queue_limit, "commits": committer.commits,
            "commit_failures": committer.commit_failures, "records_stored": committer.records_stored,
        },
        "tcp": [{"protocol": f.protocol_name, "open": sum(f.open_per_address.values()), "refused": dict(f.refused),
                 "unmatched_answers": f.unmatched_answers} for f in factories],
        "devices": [list(device) for device in devices],
    }


@dataclass
class CommitFigures:
    """The committer figures ``telediag.metrics.CommitCollector`` reads, summed over the workers."""

    backlog: int = 0
    _queued_records: int = 0
    queue_limit: int = 0
    commits: int = 0
    commit_failures: int = 0
    records_stored: int = 0


@dataclass
class TcpFigures:
    """The listener figures ``telediag.metrics.ListenerCollector`` reads from a TCP factory, per protocol."""

    protocol_name: str
    open_per_address: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    unmatched_answers: int = 0


class WorkerTotals:
    """Every worker's latest report summed; ``stats``, ``committer`` and ``tcp`` read like the
    pipeline, committer and TCP factories of one process, for the metrics collectors."""

    def __init__(self, tcp_protocols: Iterable[str] = ()) -> None:
        self._latest: dict[int, Report] = {}
        self._retired: Report = {}
        self.tcp = [TcpFigures(name) for name in dict.fromkeys(tcp_protocols)]
        self.committer = CommitFigures()
        self.stats = IngestStats()

    def update(self, index: int, report: Report) -> None:
        """Worker ``index`` sent ``report``."""
        self._latest[index] = report
        self._sum()

    def retire(self, index: int) -> None:
        """Worker ``index`` ended: keep its counters, drop its gauges."""
        report = self._latest.pop(index, None)
        if report is not None:
            self._retired = _added(self._retired, _counters_only(report))
            self._sum()

    def records_of(self, index: int) -> int:
        """Records worker ``index`` received since it (last) started."""
        return sum(self._latest.get(index, {}).get("records", {}).values())

    def _sum(self) -> None:
        total = self._retired
        for report in self._latest.values():
            total = _added(total, report)
        stats = IngestStats()
        for name in (*COUNTERS, "connections"):
            getattr(stats, name).update(total.get(name, {}))
        latency: LatencyHistogram = stats.ack_latency
        for protocol, counts in total.get("ack_latency", {}).get("counts", {}).items():
            latency.counts[protocol] = list(counts)
            latency.sums[protocol] = total["ack_latency"]["sums"].get(protocol, 0.0)
        self.stats = stats
        commit, figures = total.get("commit", {}), self.committer  # changed in place: collectors keep it
        figures.backlog, figures._queued_records = commit.get("backlog", 0), commit.get("queued", 0)
        figures.queue_limit, figures.commits = commit.get("queue_limit", 0), commit.get("commits", 0)
        figures.commit_failures = commit.get("commit_failures", 0)
        figures.records_stored = commit.get("records_stored", 0)
        by_protocol = {tcp.protocol_name: tcp for tcp in self.tcp}
        for tcp in self.tcp:
            tcp.open_per_address.clear()
            tcp.refused.clear()
            tcp.unmatched_answers = 0
        for entry in total.get("tcp", []):
            listener = by_protocol.get(entry["protocol"])
            if listener is not None:
                listener.open_per_address["*"] += entry["open"]
                listener.refused.update(entry["refused"])
                listener.unmatched_answers += entry.get("unmatched_answers", 0)


def _counters_only(report: Report) -> Report:
    return {
        **{name: report.get(name, {}) for name in COUNTERS},
        "ack_latency": report.get("ack_latency", {}),
        "commit": {name: report.get("commit", {}).get(name, 0) for name in COMMIT_COUNTERS},
        "tcp": [{"protocol": e["protocol"], "open": 0, "refused": e["refused"],
                 "unmatched_answers": e.get("unmatched_answers", 0)} for e in report.get("tcp", [])],
    }


def _added(a: Report, b: Report) -> Report:
    """Two reports' figures summed (lists of per-protocol TCP entries are concatenated)."""
    total: Report = {}
    for name in (*COUNTERS, "connections"):
        total[name] = _sum_maps(a.get(name, {}), b.get(name, {}))
    la, lb = a.get("ack_latency", {}), b.get("ack_latency", {})
    counts: dict[str, list[int]] = {}
    for source in (la.get("counts", {}), lb.get("counts", {})):
        for protocol, values in source.items():
            known = counts.get(protocol)
            counts[protocol] = list(values) if known is None else [x + y for x, y in zip(known, values, strict=True)]
    total["ack_latency"] = {"counts": counts, "sums": _sum_maps(la.get("sums", {}), lb.get("sums", {}))}
    total["commit"] = _sum_maps(a.get("commit", {}), b.get("commit", {}))
    total["tcp"] = [*a.get("tcp", []), *b.get("tcp", [])]
    return total


def _sum_maps(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    total = dict(a)
    for key, value in b.items():
        total[key] = total.get(key, 0) + value
    return total
