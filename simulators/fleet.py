"""A fleet of simulated vehicles driving, reporting and resending, then a summary.

The fleet runs on any reactor (a real one for load and demos, a Clock in unit tests): it ticks every
vehicle at its report interval for the duration, then waits (bounded) until the server has
acknowledged what is still outstanding.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, TextIO

import numpy as np
from twisted.internet import defer
from twisted.internet.task import LoopingCall, deferLater

from protocols.record import RECORD_FIELDS, iso_utc
from simulators.devices import (
    Gt06Link,
    ReconnectingDeviceFactory,
    SimDevice,
    TeltonikaTcpLink,
    TeltonikaUdpLink,
)
from simulators.vehicle import Vehicle

KINDS = ("teltonika-tcp", "teltonika-udp", "gt06")
"""Device kinds: protocol and transport."""

DEFAULT_PORTS = {"teltonika-tcp": 5027, "teltonika-udp": 5027, "gt06": 5023}


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


def luhn_imei(body: str) -> str:
    """A 15-digit IMEI from 14 digits plus the Luhn check digit."""
    total = 0
    for index, char in enumerate(body):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return body + str((10 - total % 10) % 10)


@dataclass
class FleetSummary:
    """Totals over every device."""

    devices: int
    generated: int
    sent: int
    acked: int
    resent: int
    unacked: int

    def line(self) -> str:
        """One human line."""
        return (
            f"devices={self.devices} generated={self.generated} sent={self.sent} "
            f"acknowledged={self.acked} resent={self.resent} unacknowledged={self.unacked}"
        )


class Fleet:
    """Vehicles, their trackers and the links to the server."""

    def __init__(self, reactor: Any, settings: FleetSettings, out: TextIO = sys.stdout) -> None:
        self.reactor = reactor
        self.settings = settings
        self.out = out
        self.devices: list[SimDevice] = []
        self.vehicles: list[Vehicle] = []
        self._ticks: list[LoopingCall] = []
        self._connectors: list[Any] = []
        self._udp_ports: list[Any] = []
        self._ticking = True
        rng = np.random.default_rng(settings.seed)
        serial = 0
        for kind in KINDS:
            for _ in range(settings.mix.get(kind, 0)):
                serial += 1
                imei = luhn_imei(f"35{settings.seed % 1000:03d}{serial:09d}")
                protocol, transport = (kind.split("-") + ["tcp"])[:2]
                self.devices.append(SimDevice(imei, protocol, transport, settings.records_per_packet))
                seed = int(rng.integers(2**31))
                self.vehicles.append(Vehicle(imei, protocol, seed, reactor.seconds()))

    def start(self) -> None:
        """Open every link and start every vehicle's report timer (phases spread over an interval)."""
        settings = self.settings
        codec = settings.teltonika_codec
        for index, device in enumerate(self.devices):
            kind = device.protocol if device.protocol == "gt06" else f"{device.protocol}-{device.transport}"
            port = settings.ports[kind]
            if kind == "teltonika-udp":
                link = TeltonikaUdpLink(device, settings.host, port, codec, self.reactor)
                self._udp_ports.append(self.reactor.listenUDP(0, link, interface="127.0.0.1"
                                                              if settings.host.startswith("127.") else ""))
            else:
                build = (lambda d: Gt06Link(d)) if kind == "gt06" else (lambda d: TeltonikaTcpLink(d, codec))
                factory = ReconnectingDeviceFactory(device, build, settings.max_reconnect_delay_s)
                self._connectors.append((factory, self.reactor.connectTCP(settings.host, port, factory)))
            tick = LoopingCall(self._report, index)
            tick.clock = self.reactor
            phase = settings.interval_s * (index / max(1, len(self.devices)))
            self.reactor.callLater(phase, self._start_tick, tick)
            self._ticks.append(tick)

    def _start_tick(self, tick: LoopingCall) -> None:
        if self._ticking:
            tick.start(self.settings.interval_s, now=True)

    def _report(self, index: int) -> None:
        device, vehicle = self.devices[index], self.vehicles[index]
        now = self.reactor.seconds()
        resolution = 1.0 if device.protocol == "gt06" else 0.001
        fix_time = round(now / resolution) * resolution
        if vehicle.last_fix is not None and fix_time <= vehicle.last_fix:
            fix_time = vehicle.last_fix + resolution  # one fix per protocol time step
        vehicle.last_fix = fix_time
        device.outbox.add(vehicle.report(fix_time))
        device.pump()

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
        )

    def _progress(self) -> None:
        connected = sum(1 for d in self.devices if d.link is not None)
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
        while waited < settings.drain_timeout_s and any(d.outbox.unacked for d in self.devices):
            for device in self.devices:
                device.pump()
            yield _sleep(self.reactor, 0.1)
            waited += 0.1
        progress.stop()
        yield self.stop()
        return self.summary()

    def stop(self) -> defer.Deferred[None]:
        """Close every link without reconnecting."""
        for factory, connector in self._connectors:
            factory.stopTrying()
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
