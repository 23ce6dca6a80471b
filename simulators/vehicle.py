"""Simulated vehicles on synthetic routes: where each one is, and what its tracker would report.

A route is a random but smooth polyline built with numpy (heading drifts, segments of realistic
length); the vehicle alternates driving along it and parking with the ignition off. Everything is
drawn from one seeded generator, so a fleet is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from protocols.record import Record

EARTH_RADIUS_M = 6_371_000.0
HOME_AREAS = (  # (lat, lon) of depots the fleet starts from: Warsaw, Poznań, Kraków, Gdańsk, Wrocław
    (52.2297, 21.0122), (52.4064, 16.9252), (50.0647, 19.9450), (54.3520, 18.6466), (51.1079, 17.0385)
)


@dataclass(frozen=True)
class Route:
    """A polyline with cumulative distances, for interpolating a position at any distance."""

    lat: np.ndarray
    lon: np.ndarray
    distance_m: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, start: tuple[float, float], length_m: float) -> "Route":
        """A smooth random route of about ``length_m`` metres from ``start``."""
        steps = max(2, int(length_m / 200.0))
        heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, 0.15, steps))
        step = rng.uniform(150.0, 250.0, steps)
        north = np.concatenate(([0.0], np.cumsum(step * np.cos(heading))))
        east = np.concatenate(([0.0], np.cumsum(step * np.sin(heading))))
        lat = start[0] + np.degrees(north / EARTH_RADIUS_M)
        lon = start[1] + np.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(start[0]))))
        distance = np.concatenate(([0.0], np.cumsum(step)))
        return cls(lat, lon, distance)

    def position(self, distance_m: float) -> tuple[float, float, float]:
        """(lat, lon, course in degrees) at ``distance_m`` along the route (clamped to its ends)."""
        d = min(max(distance_m, 0.0), float(self.distance_m[-1]))
        lat = float(np.interp(d, self.distance_m, self.lat))
        lon = float(np.interp(d, self.distance_m, self.lon))
        i = int(min(np.searchsorted(self.distance_m, d, side="right"), len(self.lat) - 1))
        i = max(i, 1)
        d_north = self.lat[i] - self.lat[i - 1]
        d_east = (self.lon[i] - self.lon[i - 1]) * math.cos(math.radians(lat))
        course = (math.degrees(math.atan2(d_east, d_north)) + 360.0) % 360.0
        return lat, lon, course


class Vehicle:
    """One vehicle and its tracker: call :meth:`report` at each reporting instant."""

    def __init__(self, imei: str, protocol: str, seed: int, start_time: float) -> None:
        self.imei = imei
        self.protocol = protocol
        self.rng = np.random.default_rng(seed)
        depot = HOME_AREAS[int(self.rng.integers(len(HOME_AREAS)))]
        start = (depot[0] + self.rng.normal(0, 0.05), depot[1] + self.rng.normal(0, 0.05))
        self.route = Route.random(self.rng, start, length_m=200_000.0)
        self.odometer_m = float(self.rng.uniform(1e6, 3e8))
        self.distance_m = 0.0
        self.driving = bool(self.rng.random() < 0.7)
        self.phase_ends = start_time + self._phase_length()
        self.speed_kmh = 0.0
        self.last_time = start_time
        self.last_fix: float | None = None
        self.operator = int(self.rng.choice([26001, 26002, 26003, 26006]))

    def _phase_length(self) -> float:
        return float(self.rng.uniform(120.0, 900.0) if self.driving else self.rng.uniform(60.0, 600.0))

    def advance(self, now: float) -> None:
        """Move the vehicle to time ``now``: drive, or sit parked."""
        dt = max(0.0, now - self.last_time)
        self.last_time = now
        if now >= self.phase_ends:
            self.driving = not self.driving
            self.phase_ends = now + self._phase_length()
        if self.driving:
            target = float(self.rng.uniform(30.0, 90.0))
            self.speed_kmh += (target - self.speed_kmh) * 0.3
            moved = self.speed_kmh / 3.6 * dt
            self.distance_m += moved
            self.odometer_m += moved
            if self.distance_m >= float(self.route.distance_m[-1]):
                self.distance_m = 0.0
        else:
            self.speed_kmh = 0.0

    def report(self, now: float) -> Record:
        """What the tracker reports at ``now`` (before the protocol's own rounding)."""
        self.advance(now)
        lat, lon, course = self.route.position(self.distance_m)
        driving = self.driving
        return Record(
            imei=self.imei,
            protocol=self.protocol,
            fix_time=now,
            valid=True,
            lat=lat,
            lon=lon,
            altitude_m=float(round(100 + self.rng.normal(0, 5))),
            speed_kmh=float(round(self.speed_kmh)),
            course_deg=float(round(course)),
            satellites=int(self.rng.integers(7, 15)),
            hdop=round(float(self.rng.uniform(0.6, 1.6)), 1),
            ignition=driving,
            motion=driving and self.speed_kmh > 3,
            ext_voltage_v=round(float(self.rng.uniform(13.6, 14.3) if driving else self.rng.uniform(12.3, 12.7)), 3),
            battery_voltage_v=round(float(self.rng.uniform(4.0, 4.15)), 3),
            gsm_signal_pct=int(self.rng.choice([60, 80, 100])),
            operator=self.operator,
            roaming=False,
            odometer_m=float(round(self.odometer_m)),
        )
