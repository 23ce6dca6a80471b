"""A fleet of simulated vehicles driving, reporting and resending, then a summary.

The fleet runs on any reactor (a real one for load and demos, a Clock in unit tests): it ticks every
vehicle at its report interval for the duration, then waits (bounded) until the server has
acknowledged what is still outstanding. Devices may carry injected faults (``simulators.faults``):
they then behave as that fault makes them, in real time, and tell the connectivity output what the
network saw. A device without a data session (its fault) does not connect at all.
"""

from __future__ import annotations

import csv
import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
from twisted.internet import defer
from twisted.internet.task import LoopingCall, deferLater

from protocols import registry
from protocols.record import RECORD_FIELDS, iso_utc
from simulators.device_model import DeviceModel
from simulators.devices import (
    Gt06Link,
    ReconnectingDeviceFactory,
    SimDevice,
    TeltonikaTcpLink,
    TeltonikaUdpLink,
)
from simulators.events_out import ConnectivityOutput
from simulators.faults import assign_faults
from simulators.generic_link import GenericTcpLink
from simulators.network import REGISTRY_COLUMNS, luhn
from simulators.scenario import fleet_imeis

BUILT_IN_KINDS = ("teltonika-tcp", "teltonika-udp", "gt06")
"""Kinds with their own clients (UDP resend, Codec 12 answers, GT06 serial ACKs); ``--devices`` alone
spreads over these."""
CODEC_KINDS: tuple[str, ...] = tuple(
    name for name in registry.names()
    if name not in ("teltonika", "gt06") and hasattr(importlib.import_module(f"protocols.{name}"), "DeviceCodec")
)
"""Every other registered protocol, driven over TCP by the generic client and its ``DeviceCodec``."""
KINDS = BUILT_IN_KINDS + CODEC_KINDS
"""Device kinds: protocol and transport."""

DEFAULT_PORTS = {"teltonika-tcp": 5027, "teltonika-udp": 5027, "gt06": 5023,
                 **{kind: registry.get(kind).default_port for kind in CODEC_KINDS}}


@dataclass
class FleetSettings:
    """Everything ``telediag-sim`` can be told."""

    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    mix: dict[str, int] = field(default_factory=lambda: {"teltonika-tcp": 10})
    interval_s: float = 10.0
    records_per_packet: int = 1
    duration_s: float = 60.0
    drain_timeout_s: float = 30.0
    seed: int = 1
    teltonika_codec: int = 0x8E
    max_reconnect_delay_s: float = 5.0
    progress_every_s: float = 5.0
    faults: dict[str, int] = field(default_factory=dict)
    """Fault name -> number of devices with it; the rest are healthy."""


def _link_builder(kind: str, teltonika_codec: int) -> Any:
    """The client protocol for a TCP device of ``kind``."""
    if kind == "gt06":
        return lambda device: Gt06Link(device)
    if kind == "teltonika-tcp":
        return lambda device: TeltonikaTcpLink(device, teltonika_codec)
    module = importlib.import_module(f"protocols.{kind}")
    return lambda device: GenericTcpLink(device, module.DeviceCodec, module.ServerSession)


def luhn_imei(body: str) -> str:
    """A 15-digit IMEI from 14 digits plus the Luhn check digit."""
    return luhn(body)


@dataclass
class FleetSummary:
    """Totals over every device."""

    devices: int
    generated: int
    sent: int
    acked: int
    resent: int
    unacked: int
    stranded: int = 0
    """Unacknowledged records on devices offline because of their fault (they cannot be delivered)."""
    held: int = 0
    """Records made by devices that never got a data session (never handed to a link)."""
    garbage: int = 0
    """Undecodable frames sent (protocol_garbage); never counted as records."""
    faults: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """One human line."""
        faults = ",".join(f"{name}:{count}" for name, count in sorted(self.faults.items())) or "none"
        return (
            f"devices={self.devices} generated={self.generated} sent={self.sent} "
            f"acknowledged={self.acked} resent={self.resent} unacknowledged={self.unacked} "
            f"stranded={self.stranded} held={self.held} garbage={self.garbage} faults={faults}"
        )


class Fleet:
    """Vehicles, their trackers and the links to the server."""

    def __init__(self, reactor: Any, settings: FleetSettings, out: TextIO = sys.stdout,
                 events: ConnectivityOutput | None = None) -> None:
        """Build the fleet; raises ValueError when the faults do not fit it (unknown, too many)."""
        self.reactor = reactor
        self.settings = settings
        self.out = out
        self.events = events
        self.devices: list[SimDevice] = []
        self.models: list[DeviceModel] = []
        self._ticks: list[LoopingCall] = []
        self._tcp: dict[int, tuple[ReconnectingDeviceFactory, Any]] = {}
        self._udp_ports: list[Any] = []
        self._ticking = True
        kinds = [kind for kind in KINDS for _ in range(settings.mix.get(kind, 0))]
        protocols = [kind.split("-")[0] for kind in kinds]
        self.faults = assign_faults(protocols, settings.faults, settings.seed)
        rng = np.random.default_rng(settings.seed)
        start = reactor.seconds()
        imeis = fleet_imeis(len(kinds), settings.seed)
        for index, (kind, imei, fault) in enumerate(zip(kinds, imeis, self.faults, strict=True)):
            protocol, transport = (kind.split("-") + ["tcp"])[:2]
            phase = settings.interval_s * (index / max(1, len(kinds)))
            model = DeviceModel(imei, protocol, int(rng.integers(2**31)), start + phase, settings.interval_s,
                                fault, settings.duration_s, resolution=0.001 if protocol == "teltonika" else 1.0)
            apn = model.fault.device_apn(model.sim_apn) if model.fault else model.sim_apn
            device = SimDevice(imei, protocol, transport, settings.records_per_packet, apn, model.vehicle.operator)
            device.online = False  # until its first report finds a data session
            self.models.append(model)
            self.devices.append(device)

    @property
    def vehicles(self) -> list[Any]:
        """Each device's vehicle."""
        return [model.vehicle for model in self.models]

    def registry_rows(self) -> list[dict[str, str]]:
        """The fleet's ``telediag devices import`` rows."""
        return [model.registry_row for model in self.models]

    def write_registry(self, handle: TextIO) -> int:
        """Write the registry rows as CSV with the DESIGN.md header; returns how many."""
        writer = csv.DictWriter(handle, fieldnames=REGISTRY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        rows = self.registry_rows()
        writer.writerows(rows)
        return len(rows)

    def start(self) -> None:
        """Set up every link and start every vehicle's report timer (phases spread over an interval).

        TCP devices connect at their first report that has a data session.
        """
        settings = self.settings
        codec = settings.teltonika_codec
        for index, device in enumerate(self.devices):
            kind = f"teltonika-{device.transport}" if device.protocol == "teltonika" else device.protocol
            if kind == "teltonika-udp":
                link = TeltonikaUdpLink(device, settings.host, settings.ports[kind], codec, self.reactor)
                self._udp_ports.append(self.reactor.listenUDP(0, link, interface="127.0.0.1"
                                                              if settings.host.startswith("127.") else ""))
            else:
                build = _link_builder(kind, codec)
                self._tcp[index] = (ReconnectingDeviceFactory(device, build, settings.max_reconnect_delay_s), None)
            tick = LoopingCall(self._report, index)
            tick.clock = self.reactor
            self.reactor.callLater(max(0.0, self.models[index].start - self.reactor.seconds()), self._start_tick, tick)
            self._ticks.append(tick)
        if self.events is not None:
            self.events.start()

    def _start_tick(self, tick: LoopingCall) -> None:
        if self._ticking:
            tick.start(self.settings.interval_s, now=True)

    def _report(self, index: int) -> None:
        device, model = self.devices[index], self.models[index]
        step = model.step(self.reactor.seconds())
        if step.events and self.events is not None:
            self.events.add(step.events)
        for record in step.records:
            device.outbox.add(record)
        self._set_online(index, step.online)
        if step.garbage:
            device.send_garbage()
        device.pump()

    def _set_online(self, index: int, online: bool) -> None:
        """Connect when the device gets a data session, hang up when it loses it."""
        device = self.devices[index]
        if online == device.online:
            return
        device.online = online
        if index not in self._tcp:  # UDP: nothing to open; drop what is in flight
            if not online and isinstance(device.link, TeltonikaUdpLink):
                device.link.stop()
                device.outbox.requeue()
            return
        factory, connector = self._tcp[index]
        if online:
            factory.continueTrying = True
            factory.resetDelay()
            if connector is None:
                kind = device.protocol if device.protocol != "teltonika" else "teltonika-tcp"
                connector = self.reactor.connectTCP(self.settings.host, self.settings.ports[kind], factory)
                self._tcp[index] = (factory, connector)
            elif getattr(connector, "state", "disconnected") == "disconnected":
                connector.connect()
        else:
            factory.stopTrying()
            if connector is not None:
                connector.disconnect()

    def summary(self) -> FleetSummary:
        """Totals now."""
        counters = [d.outbox.counters for d in self.devices]
        return FleetSummary(
            devices=len(self.devices),
            generated=sum(c.generated for c in counters),
            sent=sum(c.sent for c in counters),
            acked=sum(c.acked for c in counters),
            resent=sum(c.resent for c in counters),
            unacked=sum(d.outbox.unacked for d in self.devices),
            stranded=sum(d.outbox.unacked for d in self.devices if not d.online),
            held=sum(len(m.held) for m in self.models),
            garbage=sum(d.garbage_sent for d in self.devices),
            faults=dict(Counter(f for f in self.faults if f is not None)),
        )

    def _progress(self) -> None:
        connected = sum(1 for d in self.devices if d.link is not None and d.online)
        self.out.write(f"progress: connected={connected} {self.summary().line()}\n")
        self.out.flush()

    @defer.inlineCallbacks
    def run(self) -> Any:
        """Drive the fleet for the duration, drain, stop; returns the summary."""
        settings = self.settings
        self.start()
        progress = LoopingCall(self._progress)
        progress.clock = self.reactor
        progress.start(settings.progress_every_s, now=False)
        yield _sleep(self.reactor, settings.duration_s)
        self._ticking = False
        for tick in self._ticks:
            if tick.running:
                tick.stop()
        waited = 0.0
        while waited < settings.drain_timeout_s and any(d.outbox.unacked for d in self.devices if d.online):
            for device in self.devices:
                device.pump()
            yield _sleep(self.reactor, 0.1)
            waited += 0.1
        progress.stop()
        yield self.stop()
        if self.events is not None:
            yield self.events.close()
        return self.summary()

    def stop(self) -> defer.Deferred[None]:
        """Close every link without reconnecting."""
        for factory, connector in self._tcp.values():
            factory.stopTrying()
            if connector is not None:
                connector.disconnect()
        for device in self.devices:
            if isinstance(device.link, TeltonikaUdpLink):
                device.link.stop()
        stopped = [defer.maybeDeferred(port.stopListening) for port in self._udp_ports]
        return defer.gatherResults(stopped).addCallback(lambda _: None)

    def acked_records(self) -> Iterable[dict[str, Any]]:
        """Every acknowledged record as the server decoded it, in the normalised form (no server_time)."""
        for device in self.devices:
            for record in device.outbox.acked:
                row = {name: getattr(record, name) for name in RECORD_FIELDS}
                row["imei"] = device.imei
                row["fix_time"] = iso_utc(record.fix_time)
                yield row

    def write_acked(self, path: str) -> int:
        """Write the acknowledged records as JSON lines; returns how many."""
        count = 0
        with open(path, "w", encoding="utf-8") as handle:
            for row in self.acked_records():
                handle.write(json.dumps(row, separators=(",", ":")) + "\n")
                count += 1
        return count


def _sleep(reactor: Any, seconds: float) -> defer.Deferred[None]:
    return deferLater(reactor, seconds, lambda: None)
