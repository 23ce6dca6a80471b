"""Prometheus metrics: the service's own counters read at scrape time, never counted twice.

Ingest, commit and queue figures come from objects that already count them (``IngestStats`` of the
pipeline, the batch committer, the diagnostics and ticket services); custom collectors turn them
into metric families when ``/metrics`` is scraped, so the per-packet path pays for nothing but the
ACK latency observation (``Pipeline.ack_sent``). Active findings and open tickets are counted in
SQLite on an API read thread, at most once per ``store_cache_s`` however often Prometheus scrapes.

Every ``Metrics`` has its own ``CollectorRegistry`` (not the library's global one), so tests and
several services in one process never clash.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from telediag.config import MetricsSettings
from telediag.diagnostics.catalogue import FINDINGS
from telediag.ingest.udp import kernel_drops
from telediag.tickets.model import ACTIVE_STATES, PRIORITIES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format that ``generate_latest`` writes."""

Read = Callable[..., "defer.Deferred[Any]"]
"""``read(function, *args)``: ``function(reader, *args)`` on a read thread (``ApiBackend.read``)."""


def _by_protocol(
    name: str, documentation: str, values: Mapping[str, int], protocols: Iterable[str], gauge: bool = False
) -> Metric:
    family_type = GaugeMetricFamily if gauge else CounterMetricFamily
    family = family_type(name, documentation, labels=["protocol"])
    for protocol in sorted(set(protocols) | set(values)):
        family.add_metric([protocol], values.get(protocol, 0))
    return family


class IngestCollector(Collector):
    """Packets, records, decode errors, refusals, connections and ACK latency per protocol."""

    def __init__(self, pipeline: Any, protocols: Iterable[str] = ()) -> None:
        self.pipeline = pipeline
        self.protocols = tuple(protocols)
        """Protocols with a listener: shown at 0 before their first packet, so rate() works at once."""

    def collect(self) -> Iterator[Metric]:
        stats = self.pipeline.stats
        protocols = self.protocols
        yield _by_protocol("telediag_packets", "Packets with records handed to the store, per protocol.",
                           stats.packets, protocols)
        yield _by_protocol("telediag_records", "Records received from devices, per protocol.",
                           stats.records, protocols)
        yield _by_protocol("telediag_decode_errors", "Frames that could not be decoded, per protocol.",
                           stats.errors, protocols)
        yield _by_protocol("telediag_implausible_records",
                           "Records stored with impossible values kept raw (a bad fix is valid = false), per protocol.",
                           stats.implausible, protocols)
        yield _by_protocol("telediag_refused_devices", "Logins refused (unregistered device), per protocol.",
                           stats.refused, protocols)
        yield _by_protocol("telediag_connected_devices", "Devices with a live identified connection, per protocol.",
                           stats.connections, protocols, gauge=True)
        latency = stats.ack_latency
        histogram = HistogramMetricFamily(
            "telediag_ack_latency_seconds",
            "Seconds from a packet with records decoded to its ACK written (the commit included).",
            labels=["protocol"],
        )
        bounds = [*(repr(float(b)) for b in latency.bounds), "+Inf"]
        empty = [0] * len(bounds)
        for protocol in sorted(set(protocols) | set(latency.counts)):
            counts = latency.counts.get(protocol, empty)
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            histogram.add_metric([protocol], buckets, latency.sums.get(protocol, 0.0))
        yield histogram


class CommitCollector(Collector):
    """The batch committer: backlog, commits and failures."""

    def __init__(self, committer: Any) -> None:
        self.committer = committer

    def collect(self) -> Iterator[Metric]:
        committer = self.committer
        yield GaugeMetricFamily("telediag_commit_backlog_records",
                                "Records queued or being committed (devices wait for their ACK).",
                                value=committer.backlog)
        yield GaugeMetricFamily("telediag_commit_queued_records",
                                "Records queued for the next commit (not yet being written).",
                                value=getattr(committer, "_queued_records", 0))
        yield GaugeMetricFamily("telediag_commit_queue_limit_records",
                                "Backlog at which device connections are paused until it drains.",
                                value=committer.queue_limit)
        yield CounterMetricFamily("telediag_commits", "Successful store commits.", value=committer.commits)
        yield CounterMetricFamily("telediag_commit_failures",
                                  "Failed store commits (their devices got no ACK and resend).",
                                  value=committer.commit_failures)
        yield CounterMetricFamily("telediag_records_stored",
                                  "Records written to the store (resent duplicates are not counted).",
                                  value=committer.records_stored)


class WorkCollector(Collector):
    """Jobs waiting on the diagnostics and tickets threads."""

    def __init__(self, diagnostics: Any = None, tickets: Any = None) -> None:
        self.diagnostics = diagnostics
        self.tickets = tickets

    def collect(self) -> Iterator[Metric]:
        diagnostics, tickets = self.diagnostics, self.tickets
        if diagnostics is not None:
            yield GaugeMetricFamily("telediag_diagnostics_jobs_in_flight",
                                    "Diagnostics runs submitted to the diagnostics thread, not finished.",
                                    value=len(getattr(diagnostics, "_in_flight", ())))
            yield GaugeMetricFamily("telediag_diagnostics_devices_pending",
                                    "Devices with new data waiting for their debounced check.",
                                    value=len(getattr(diagnostics, "_pending", ())))
            yield CounterMetricFamily("telediag_diagnostics_checks", "Device checks run after new data.",
                                      value=diagnostics.checks)
            yield CounterMetricFamily("telediag_diagnostics_sweeps", "Sweeps over every device.",
                                      value=diagnostics.sweeps)
        if tickets is not None:
            yield GaugeMetricFamily("telediag_ticket_jobs_in_flight",
                                    "Ticket automation runs submitted to the tickets thread, not finished.",
                                    value=tickets.in_flight)


@dataclass(frozen=True)
class UdpListener:
    """One UDP socket the service reads: its protocol, port and the buffer size it asked for."""

    protocol: str
    port: int
    sock: socket.socket
    requested_bytes: int


class ListenerCollector(Collector):
    """Device listeners: connections open and refused (TCP), kernel buffer and drops (UDP).

    The kernel's drop count of each UDP socket is read from ``/proc/net/udp`` at scrape time; where
    there is no ``/proc`` the drop series is absent rather than a false zero. With ingest workers a
    port has one socket per worker (SO_REUSEPORT), each with its own buffer: their drops are summed
    into the port's one series.
    """

    def __init__(self) -> None:
        self.tcp: list[Any] = []
        """``DeviceStreamFactory`` objects (``protocol_name``, ``open_per_address``, ``refused``,
        ``unmatched_answers``)."""
        self.udp: list[UdpListener] = []

    def collect(self) -> Iterator[Metric]:
        if self.tcp:
            refused = CounterMetricFamily("telediag_connections_refused",
                                          "Device connections closed at once, per protocol and reason "
                                          "(per_address_cap: the source address has too many open).",
                                          labels=["protocol", "reason"])
            open_ = GaugeMetricFamily("telediag_device_connections",
                                      "Open device TCP connections (identified or not), per protocol.",
                                      labels=["protocol"])
            unmatched = CounterMetricFamily("telediag_command_answers_unmatched",
                                            "Device answers to server commands that answered no waiting "
                                            "command (late, repeated or unknown reference); stored as "
                                            "records, given to no command.", labels=["protocol"])
            totals: dict[tuple[str, str], int] = {}
            opened: dict[str, int] = {}
            answers: dict[str, int] = {}
            for factory in self.tcp:
                name = factory.protocol_name
                for reason in {"per_address_cap", *factory.refused}:
                    totals[(name, reason)] = totals.get((name, reason), 0) + factory.refused.get(reason, 0)
                opened[name] = opened.get(name, 0) + sum(factory.open_per_address.values())
                answers[name] = answers.get(name, 0) + factory.unmatched_answers
            for (name, reason), value in sorted(totals.items()):
                refused.add_metric([name, reason], value)
            for name, value in sorted(opened.items()):
                open_.add_metric([name], value)
            for name, value in sorted(answers.items()):
                unmatched.add_metric([name], value)
            yield refused
            yield open_
            yield unmatched
        if self.udp:
            drops = CounterMetricFamily("telediag_udp_receive_drops",
                                        "Datagrams the kernel dropped because the socket's receive buffer was "
                                        "full (from /proc/net/udp), per protocol and port.",
                                        labels=["protocol", "port"])
            size = GaugeMetricFamily("telediag_udp_receive_buffer_bytes",
                                     "Receive buffer of the UDP socket as the kernel reports it (Linux: twice "
                                     "what was set).", labels=["protocol", "port"])
            asked = GaugeMetricFamily("telediag_udp_receive_buffer_requested_bytes",
                                      "[ingest] udp_receive_buffer_bytes asked for each UDP socket.",
                                      labels=["protocol", "port"])
            sizes: dict[tuple[str, str], int] = {}
            dropped: dict[tuple[str, str], int] = {}
            for listener in self.udp:
                key = (listener.protocol, str(listener.port))
                try:
                    size_now = listener.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                except OSError:  # closed: the service is stopping
                    continue
                if key not in sizes:
                    asked.add_metric(list(key), listener.requested_bytes)
                sizes[key] = max(sizes.get(key, 0), size_now)
                count = kernel_drops(listener.sock)
                if count is not None:
                    dropped[key] = dropped.get(key, 0) + count
            for key, value in sizes.items():
                size.add_metric(list(key), value)
            for key, value in dropped.items():
                drops.add_metric(list(key), value)
            yield drops
            yield size
            yield asked


@dataclass(frozen=True)
class StoreCounts:
    """What the store said at one moment."""

    findings: dict[str, int]
    tickets: dict[tuple[str, str], int]


def count_store(reader: Any) -> StoreCounts:
    """Active findings per code and open tickets per (state, priority); runs on a read thread."""
    db = reader.connection
    findings = {code: n for code, n in db.execute(
        "SELECT code, count(*) FROM findings WHERE active = 1 GROUP BY code")}
    marks = ", ".join("?" * len(ACTIVE_STATES))
    tickets = {(state, priority): n for state, priority, n in db.execute(
        f"SELECT state, priority, count(*) FROM tickets WHERE state IN ({marks}) GROUP BY state, priority",
        ACTIVE_STATES)}
    return StoreCounts(findings, tickets)


class StoreCollector(Collector):
    """Gauges counted in SQLite: refreshed before a scrape when older than the cache time."""

    log = Logger()

    def __init__(self, clock: IReactorTime, cache_s: float) -> None:
        self.clock = clock
        self.cache_s = cache_s
        self.counts: StoreCounts | None = None
        self.read_errors = 0
        self._read_at = float("-inf")
        self._waiters: list[defer.Deferred[None]] = []

    def refresh(self, read: Read) -> defer.Deferred[None]:
        """Fires once the counts are at most ``cache_s`` old; concurrent scrapes share one read."""
        if self.clock.seconds() - self._read_at < self.cache_s and self.counts is not None:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(waiter)
        if len(self._waiters) == 1:
            started = self.clock.seconds()
            reading = read(count_store)
            reading.addCallbacks(self._counted, self._failed, callbackArgs=(started,), errbackArgs=(started,))
        return waiter

    def _counted(self, counts: StoreCounts, started: float) -> None:
        self.counts, self._read_at = counts, started
        self._release()

    def _failed(self, failure: Failure, started: float) -> None:
        """Keep the last counts; try again after the cache time, not on every scrape."""
        self.read_errors += 1
        self._read_at = started
        self.log.warn("metrics: cannot count findings and tickets: {error}", error=failure.getErrorMessage())
        self._release()

    def _release(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("telediag_store_metrics_read_errors",
                                  "Failed reads of the findings and tickets gauges (the last values are kept).",
                                  value=self.read_errors)
        if self.counts is None:
            return
        findings = GaugeMetricFamily("telediag_findings_active", "Active findings per code.", labels=["code"])
        for code in sorted(set(FINDINGS) | set(self.counts.findings)):
            findings.add_metric([code], self.counts.findings.get(code, 0))
        yield findings
        tickets = GaugeMetricFamily("telediag_tickets_open", "Tickets not resolved or closed, per state and priority.",
                                    labels=["state", "priority"])
        keys = {(s, p) for s in ACTIVE_STATES for p in PRIORITIES} | set(self.counts.tickets)
        for state, priority in sorted(keys):
            tickets.add_metric([state, priority], self.counts.tickets.get((state, priority), 0))
        yield tickets


class Metrics:
    """``Metrics(settings, clock, pipeline, committer, diagnostics, tickets, protocols)``; every part but
    the settings and the clock is optional (an API alone reports the store gauges).

    The API backend takes it in its constructor; ``GET /metrics`` then calls :meth:`render`.
    """

    def __init__(
        self, settings: MetricsSettings, clock: Any, pipeline: Any = None, committer: Any = None,
        diagnostics: Any = None, tickets: Any = None, protocols: Iterable[str] = (), process: bool = True,
    ) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        if pipeline is not None:
            self.registry.register(IngestCollector(pipeline, protocols))
        if committer is not None:
            self.registry.register(CommitCollector(committer))
        if diagnostics is not None or tickets is not None:
            self.registry.register(WorkCollector(diagnostics, tickets))
        self.store = StoreCollector(clock, settings.store_cache_s)
        self.registry.register(self.store)
        self.listeners = ListenerCollector()
        self.registry.register(self.listeners)
        if process:
            ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, resident memory, fds

    def watch_tcp(self, factory: Any) -> None:
        """Report a device TCP listener's open and refused connections."""
        self.listeners.tcp.append(factory)

    def watch_udp(self, protocol: str, port: int, sock: socket.socket, requested_bytes: int) -> None:
        """Report a device UDP socket's receive buffer and the datagrams the kernel dropped."""
        self.listeners.udp.append(UdpListener(protocol, port, sock, requested_bytes))

    @property
    def token(self) -> str:
        """The bearer token ``/metrics`` requires, or "" for none."""
        return self.settings.token

    def token_matches(self, presented: str) -> bool:
        """Constant-time comparison with the configured token."""
        return hmac.compare_digest(presented.encode("utf-8"), self.settings.token.encode("utf-8"))

    async def render(self, read: Read) -> bytes:
        """The text exposition; store counts refreshed first (on a read thread) when stale.

        The collectors read reactor-owned counters, so the text is generated on the reactor thread.
        """
        await self.store.refresh(read)
        return generate_latest(self.registry)
