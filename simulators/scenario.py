"""Offline scenarios: what a tracker (or a fleet) with a given fault sends over a period, no sockets.

Tests feed the result to the pipeline and the checks: the registry row to import, the record
batches with the server time each arrives at (late ones included), the connectivity events, the
times of undecodable frames, and what the device answers to ``getparam 2001``. ``fault_until``
repairs the fault part-way, so a test can watch its finding clear.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.record import Record
from simulators.device_model import DeviceModel
from simulators.faults import assign_faults
from simulators.network import luhn


@dataclass
class DeviceScenario:
    """Everything one simulated device produced, in arrival order."""

    imei: str
    fault: str | None
    registry_row: dict[str, str]
    """The ``telediag devices import`` row (DESIGN.md columns, text cells)."""
    batches: list[tuple[float, list[Record]]] = field(default_factory=list)
    """(server_time, records) per packet the server receives, in arrival order."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Connectivity events (DESIGN.md JSON shape, ``at`` ISO 8601 Z), oldest first."""
    protocol_errors: list[float] = field(default_factory=list)
    """Server times of undecodable frames."""
    reported_apn: str | None = None
    """The ``getparam 2001`` answer at the end of the run (None: the device is off)."""

    @property
    def records(self) -> list[Record]:
        """Every record, in arrival order."""
        return [record for _, batch in self.batches for record in batch]

    def arrivals(self) -> Iterator[tuple[float, Record]]:
        """(server_time, record) pairs in arrival order."""
        for server_time, batch in self.batches:
            for record in batch:
                yield server_time, record

    def arrived_by(self, server_time: float) -> list[Record]:
        """The records the server has at ``server_time``."""
        return [record for at, batch in self.batches if at <= server_time for record in batch]


def simulate_device(imei: str, fault: str | None, start: float, duration_s: float, interval_s: float = 60.0,
                    seed: int = 0, fault_until: float | None = None, protocol: str = "teltonika") -> DeviceScenario:
    """One device reporting every ``interval_s`` from ``start`` for ``duration_s``, with ``fault`` (or healthy).

    Raises ValueError for an unknown fault, or one the protocol cannot show (GT06 carries no voltages).
    """
    if interval_s < 2.0 or duration_s < 0:
        raise ValueError("interval_s must be at least 2 s and duration_s not negative")
    model = DeviceModel(imei, protocol, seed, start, interval_s, fault, duration_s, fault_until,
                        resolution=1.0 if protocol == "gt06" else 0.001)
    scenario = DeviceScenario(imei, fault, model.registry_row)
    transit = random.Random(seed ^ 0x7A7)
    batches, events, errors = scenario.batches, scenario.events, scenario.protocol_errors
    for index in range(math.ceil(duration_s / interval_s)):
        now = start + index * interval_s
        step = model.step(now)
        if step.records:
            batches.append((round(now + transit.uniform(0.2, 1.5), 3), step.records))
        if step.events:
            events.extend(step.events)
        if step.garbage:
            errors.append(round(now + 1.8, 3))
    scenario.reported_apn = model.reported_apn(start + duration_s)
    return scenario


def fleet_imeis(n: int, seed: int) -> list[str]:
    """The IMEIs ``simulate_fleet`` and the live fleet give ``n`` devices (Luhn-valid, seed-dependent)."""
    return [luhn(f"35{seed % 1000:03d}{serial:09d}") for serial in range(1, n + 1)]


def simulate_fleet(n: int, start: float, duration_s: float, interval_s: float = 60.0, seed: int = 0,
                   faults: Mapping[str, int] | None = None) -> list[DeviceScenario]:
    """``n`` Teltonika devices, ``faults`` (name -> count) spread over them reproducibly, the rest healthy."""
    assigned = assign_faults(["teltonika"] * n, faults, seed)
    seeds = random.Random(seed)
    return [
        simulate_device(imei, fault, start, duration_s, interval_s, seeds.getrandbits(31))
        for imei, fault in zip(fleet_imeis(n, seed), assigned, strict=True)
    ]
