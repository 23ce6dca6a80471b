"""One simulated tracker as a whole: vehicle, SIM, network and fault, stepped at each report instant.

Both the offline scenarios and the live fleet drive this, so a fault looks the same in a unit test
and against a running server. A step says which records the device sends now (held or late ones
included), the connectivity events the network saw, whether a garbage frame follows, and whether
the device has a data session at all.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from protocols.record import Record
from simulators.faults import DAY, FAULTS, Fault
from simulators.geo import in_germany
from simulators.network import RATS, VISITED, Network, apn_for, iccid_for, registry_row
from simulators.vehicle import Vehicle

ROAMING_OPERATOR = VISITED[0] * 100 + VISITED[1]


@dataclass
class Step:
    """What a tracker does at one report instant."""

    records: list[Record] = field(default_factory=list)
    """To send now, oldest first (records kept while offline, or made hours ago, included)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    garbage: bool = False
    """An undecodable frame follows the records."""
    online: bool = False
    """The device has a data session: it can reach the server."""


class DeviceModel:
    """A tracker in a vehicle, healthy or with one named fault active in [onset, ``fault_until``)."""

    def __init__(self, imei: str, protocol: str, seed: int, start: float, interval_s: float,
                 fault: str | None = None, duration_s: float = DAY, fault_until: float | None = None,
                 resolution: float = 0.001) -> None:
        self.imei, self.protocol, self.seed, self.start = imei, protocol, seed, start
        self.interval_s, self.resolution = interval_s, resolution
        self.rng = random.Random(seed ^ 0x51D)
        self.fault_rng = random.Random(seed ^ 0xFA17)
        self.fault_name = fault
        self.fault: Fault | None = None
        self.vehicle = Vehicle(imei, protocol, seed, start)
        self.fault_from = self.fault_until = math.inf
        if fault is not None:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
            self.fault = FAULTS[fault]()
            if protocol not in self.fault.protocols:
                raise ValueError(f"fault {fault} does not show in {protocol} data; use {self.fault.protocols[0]}")
            self.fault_from = start + self.fault.onset_s(duration_s, interval_s)
            self.fault_until = math.inf if fault_until is None else fault_until
            self.fault.prepare(self)
        self.grid0 = self._round(self.vehicle.last_time)
        self.next_fix = self.grid0
        self.over = False
        self.held: list[Record] = []
        self.reports = 0
        operator = self.vehicle.operator
        self.sim_apn = apn_for(operator)
        spec = self.fault or Fault()
        self.abroad_capable = spec.goes_abroad
        self.network = Network(imei, iccid_for(imei, operator), self.sim_apn, operator, spec.sim_roaming,
                               RATS.get(protocol, "4G"), self.rng)
        area = self.vehicle.area
        plate = f"{spec.plate or (area.plate if area else 'WX')} {self.rng.randint(10000, 99999)}"
        ago = spec.activated_ago_s if spec.activated_ago_s is not None else self.rng.uniform(10 * DAY, 40 * DAY)
        self.registry_row = registry_row(imei, protocol, plate, operator, spec.coverage, spec.sim_roaming,
                                         start - ago, interval_s)

    def _round(self, seconds: float) -> float:
        return round(round(seconds / self.resolution) * self.resolution, 6)

    def active(self, now: float) -> bool:
        """The fault is in effect at ``now``."""
        return self.fault_from <= now < self.fault_until

    def powered(self, now: float) -> bool:
        """The device is on (installed, not dead) at ``now``."""
        return not (self.fault is not None and self.fault.unpowered and self.active(now))

    def reported_apn(self, now: float) -> str | None:
        """What ``getparam 2001`` answers at ``now`` (None while the device is off)."""
        if not self.powered(now):
            return None
        if self.fault is not None and self.active(now):
            return self.fault.device_apn(self.sim_apn)
        return self.sim_apn

    def step(self, now: float) -> Step:
        """Advance to ``now`` (increasing): make the records due, talk to the network, decide what to send."""
        fault = self.fault
        active = fault is not None and self.active(now)
        if fault is not None and not self.over and now >= self.fault_until:
            self.over = True
            fault.end(self, now)
            self.network.retry_at = -math.inf  # repaired: it tries again at once
        if fault is not None and active and fault.unpowered:
            self.network.power_off()
            self.vehicle.advance(now)  # the vehicle still moves; nothing is recorded
            self.next_fix = self.grid0 + (math.floor((now - self.grid0) / self.interval_s) + 1) * self.interval_s
            self.next_fix = self._round(self.next_fix)
            return Step()
        target = now - (fault.lag_s(now) if fault is not None and active else 0.0)
        records: list[Record] = []
        while self.next_fix <= target + self.resolution:  # a live tick may fire a hair early
            record = self.vehicle.report(self.next_fix)
            if fault is not None and active:
                record = fault.apply(record, self)
            if self.abroad_capable and in_germany(record.lat, record.lon):
                record = replace(record, operator=ROAMING_OPERATOR, roaming=True)
            records.append(record)
            self.next_fix = max(self._round(self.next_fix + self.interval_s),
                                self._round(self.next_fix + self.resolution))
        abroad = False
        if self.abroad_capable:
            lat, lon, _ = self.vehicle.position()
            abroad = in_germany(lat, lon)
        apn = fault.device_apn(self.sim_apn) if fault is not None and active else self.sim_apn
        events = self.network.update(now, abroad, apn)
        online = self.network.session
        if online:
            records, self.held = self.held + records, []
        elif fault is None or fault.keeps_offline_records:
            self.held.extend(records)
            records = []
        else:
            records = []
        every = fault.garbage_every if fault is not None and active else 0
        garbage = bool(every) and online and self.reports % every == every - 1
        self.reports += 1
        return Step(records, events, garbage, online)
