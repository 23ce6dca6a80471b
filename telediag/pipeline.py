"""The transport-independent half of ingest: who may talk, where records go, what gets counted.

Every adapter (TCP, UDP, later HTTP and MQTT) hands decoded messages here, so the rules (ACK only
after commit, registration policy, error accounting, live sessions for server commands) hold the same
for every transport.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from protocols.core import ProtocolError
from protocols.record import Record
from telediag.ingest.traffic import TrafficLog
from telediag.plausibility import Bounds, checked_all
from telediag.repeats import RepeatSummary
from telediag.store.committer import BatchCommitter
from telediag.store.writer import ConnectionChange, IngestError, RecordBatch, Registration


class CommandChannel(Protocol):
    """A live device connection that can carry a server command (Teltonika Codec 12, GT06 0x80...).

    The connection writes a command only when the device awaits no reply from us, one at a time;
    the rest wait in order (see ``telediag.ingest.command_gate``).
    """

    @property
    def protocol_name(self) -> str:
        """The protocol the connection speaks, which says what commands the device understands."""
        ...

    def send_command(self, text: str, timeout_s: float) -> Deferred[str]:
        """Send ``text``; the Deferred fires with the device's answer (``timeout_s`` from writing)."""
        ...


class DeviceNotConnected(LookupError):
    """A command was asked for a device that has no live connection able to carry it."""


QUERY_PROTOCOL = "teltonika"
"""Whose devices :meth:`Pipeline.connected_devices` lists unless told otherwise."""

REPEATED_LOG_WINDOW_S = 60.0
"""One log line per device and kind of trouble per minute; the rest are counted into the next line."""

ACK_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of the ACK latency buckets: a commit takes milliseconds, a saturated store seconds."""


class LatencyHistogram:
    """Per-protocol bucket counts and sums, cheap enough for the per-packet path (one bisect).

    ``counts[protocol][i]`` counts observations in bucket ``i`` only (not cumulative); the last
    slot is everything above the largest bound. ``telediag.metrics`` turns this into a Prometheus
    histogram at scrape time.
    """

    def __init__(self, bounds: Sequence[float] = ACK_LATENCY_BUCKETS_S) -> None:
        self.bounds = tuple(bounds)
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, protocol: str, seconds: float) -> None:
        """Count one observation of ``seconds`` (negative clock steps count as 0)."""
        seconds = max(seconds, 0.0)
        counts = self.counts.get(protocol)
        if counts is None:
            counts = self.counts[protocol] = [0] * (len(self.bounds) + 1)
            self.sums[protocol] = 0.0
        counts[bisect_left(self.bounds, seconds)] += 1
        self.sums[protocol] += seconds


@dataclass
class IngestStats:
    """Counters per protocol, read by logs, the benchmark and Prometheus (``telediag.metrics``)."""

    packets: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    implausible: Counter[str] = field(default_factory=Counter)
    """Records stored with impossible values moved to attributes (``valid = false`` for a bad fix)."""
    connections: Counter[str] = field(default_factory=Counter)
    ack_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    """Seconds from a packet with records decoded to its ACK written (the commit included)."""


class Pipeline:
    """Decoded messages in; committed records, device state and accounting out."""

    log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        committer: BatchCommitter,
        registered: set[str],
        auto_register: bool = True,
        command_timeout_s: float = 30.0,
        bounds: Bounds = Bounds(),
        traffic: TrafficLog | None = None,
    ) -> None:
        self._reactor = reactor
        self.command_timeout_s = command_timeout_s
        self.committer = committer
        self._registered = registered
        self.bounds = bounds
        self._repeats = RepeatSummary(REPEATED_LOG_WINDOW_S)
        self.auto_register = auto_register
        self.stats = IngestStats()
        self._channels: dict[str, CommandChannel] = {}
        self.traffic = TrafficLog() if traffic is None else traffic
        """The last raw frames of each device, which every adapter appends to (``telediag.ingest.traffic``)."""

    def now(self) -> float:
        """Server time from the injected clock."""
        return self._reactor.seconds()

    def identify(self, imei: str, protocol: str) -> bool:
        """Whether ``imei`` may send data; registers it on first contact when auto-registering.

        ``registered`` is the store's set, which it refreshes off the reactor: a device registered by
        the CLI or the API is let in within a second, and nothing here waits for the database.
        """
        if imei in self._registered:
            return True
        if not self.auto_register:
            self.stats.refused[protocol] += 1
            held = self._repeats.note(("refused", imei), self.now())
            if held is not None:
                self.log.warn("refused unregistered device {imei} ({protocol}){held}", imei=imei, protocol=protocol,
                              held=f" ({held} more refusals in the last {self._repeats.window_s:g} s)" if held else "")
            return False
        self._registered.add(imei)
        self.committer.note(Registration(imei, protocol, self.now(), "auto"))
        self.log.info("registered new device {imei} ({protocol})", imei=imei, protocol=protocol)
        return True

    def submit(self, imei: str, protocol: str, records: Sequence[Record]) -> Deferred[None]:
        """Store ``records``; the Deferred fires once they are committed (then, and only then, ACK).

        Every record passes the plausibility rules first (``telediag.plausibility``), whatever the
        transport: impossible values are kept as raw attributes, never as a valid fix.
        """
        self.stats.packets[protocol] += 1
        self.stats.records[protocol] += len(records)
        now = self.now()
        checked = checked_all(records, now, self.bounds)
        if checked is not records:
            self.stats.implausible[protocol] += sum(a is not b for a, b in zip(checked, records, strict=True))
        try:
            return self.committer.submit(RecordBatch(imei, protocol, checked, now))
        except Exception as error:  # QueueFull while shutting down or overloaded: no ACK, device resends
            return fail(error)

    def ack_sent(self, protocol: str, decoded_at: float) -> None:
        """An adapter wrote the ACK of a packet decoded at ``decoded_at`` (a :meth:`now` value)."""
        self.stats.ack_latency.observe(protocol, self.now() - decoded_at)

    def connection_changed(
        self, imei: str, protocol: str, connected: bool, remote: str | None,
        channel: CommandChannel | None = None,
    ) -> None:
        """Record that a device connected or left; remember channels that can carry commands."""
        if connected:
            self.stats.connections[protocol] += 1
            if channel is not None:
                self._channels[imei] = channel
        else:
            self.stats.connections[protocol] -= 1
            if channel is not None and self._channels.get(imei) is channel:
                del self._channels[imei]
        self.committer.note(ConnectionChange(imei, protocol, connected, remote, self.now()))

    def protocol_error(
        self, imei: str | None, protocol: str, remote: str | None, error: ProtocolError
    ) -> None:
        """Count and log a malformed frame with the device and a hex excerpt; persist it."""
        self.stats.errors[protocol] += 1
        excerpt = error.excerpt.hex()
        held = self._repeats.note((protocol, imei or remote), self.now())
        if held is not None:
            self.log.warn(
                "{protocol} protocol error from {imei} at {remote}: {message} [{excerpt}]{held}",
                protocol=protocol, imei=imei or "unidentified device", remote=remote,
                message=str(error), excerpt=excerpt,
                held=f" ({held} more from this device in the last {self._repeats.window_s:g} s, "
                     "stored in ingest_errors)" if held else "",
            )
        self.committer.note(IngestError(imei, protocol, remote, self.now(), str(error), excerpt))

    def send_command(self, imei: str, text: str, timeout_s: float | None = None) -> Deferred[str]:
        """Ask a connected device something (``getinfo``, ``getstatus``, ``getparam 2001``)."""
        channel = self._channels.get(imei)
        if channel is None:
            return fail(DeviceNotConnected(f"device {imei} is not connected over a command channel"))
        return channel.send_command(text, self.command_timeout_s if timeout_s is None else timeout_s)

    def connected_devices(self, protocol: str | None = QUERY_PROTOCOL) -> list[str]:
        """IMEIs with a live command-capable connection of ``protocol`` (None: of any protocol).

        Teltonika by default: the diagnostics' questions (``getparam 2001``, ``getstatus``) are
        Codec 12 commands that no other protocol's device understands.
        """
        return sorted(
            imei for imei, channel in self._channels.items() if protocol is None or channel.protocol_name == protocol
        )

    def command_protocol(self, imei: str) -> str | None:
        """The protocol of the device's live command-capable connection, or None if it has none."""
        channel = self._channels.get(imei)
        return channel.protocol_name if channel is not None else None
