"""Simulated vehicles on synthetic routes: where each one is, and what its tracker would report.

A route is a smooth polyline (heading drifts, ~200 m segments). Healthy vehicles get one confined
to a disc around their home area, well inside Poland; the vehicle drives along it and back again
(never jumping back to the start, which would look like a GPS glitch), alternating driving and
parking with the ignition off. Everything is drawn from one seeded generator, so a fleet is
reproducible. The per-report path uses ``random`` and plain lists: a day of a 200-vehicle fleet
is ~300k reports and numpy scalars would dominate it.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from protocols.record import Record
from simulators.geo import AREAS, EARTH_RADIUS_M, Area

HOME_AREAS = tuple((area.lat, area.lon) for area in AREAS)
"""(lat, lon) of the depots the fleet starts from: Warsaw, Poznań, Kraków, Gdańsk, Wrocław."""


@dataclass(frozen=True)
class Route:
    """A polyline with cumulative distances, for interpolating a position at any distance."""

    lat: np.ndarray
    lon: np.ndarray
    distance_m: np.ndarray
    _lists: tuple[list[float], list[float], list[float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lists = (self.lat.tolist(), self.lon.tolist(), self.distance_m.tolist())
        object.__setattr__(self, "_lists", lists)

    @property
    def length_m(self) -> float:
        """Distance from the first point to the last."""
        return self._lists[2][-1]

    @classmethod
    def _from_steps(cls, start: tuple[float, float], north: np.ndarray, east: np.ndarray) -> Route:
        step = np.hypot(np.diff(north), np.diff(east))
        lat = start[0] + np.degrees(north / EARTH_RADIUS_M)
        lon = start[1] + np.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(start[0]))))
        return cls(lat, lon, np.concatenate(([0.0], np.cumsum(step))))

    @classmethod
    def random(cls, rng: np.random.Generator, start: tuple[float, float], length_m: float) -> Route:
        """A smooth random route of about ``length_m`` metres from ``start`` (unbounded)."""
        steps = max(2, int(length_m / 200.0))
        heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, 0.15, steps))
        step = rng.uniform(150.0, 250.0, steps)
        north = np.concatenate(([0.0], np.cumsum(step * np.cos(heading))))
        east = np.concatenate(([0.0], np.cumsum(step * np.sin(heading))))
        return cls._from_steps(start, north, east)

    @classmethod
    def confined(cls, rng: random.Random, area: Area, length_m: float) -> Route:
        """A smooth random route that never leaves ``area``'s disc: it turns back near the edge."""
        radius = area.radius_m
        angle, reach = rng.uniform(0, 2 * math.pi), radius * 0.5 * math.sqrt(rng.random())
        y, x = reach * math.cos(angle), reach * math.sin(angle)  # metres north/east of the centre
        heading = rng.uniform(0, 2 * math.pi)
        north, east = [y], [x]
        for _ in range(max(2, int(length_m / 200.0))):
            heading += rng.gauss(0.0, 0.15)
            if math.hypot(y, x) > 0.7 * radius:  # steer gently towards the centre
                home = math.atan2(-x, -y)
                turn = (home - heading + math.pi) % (2 * math.pi) - math.pi
                heading += max(-0.25, min(0.25, turn))
            step = rng.uniform(150.0, 250.0)
            ny, nx = y + step * math.cos(heading), x + step * math.sin(heading)
            if math.hypot(ny, nx) > radius:  # never past the edge
                heading = math.atan2(-x, -y)
                ny, nx = y + step * math.cos(heading), x + step * math.sin(heading)
            y, x = ny, nx
            north.append(y)
            east.append(x)
        return cls._from_steps((area.lat, area.lon), np.array(north), np.array(east))

    @classmethod
    def between(cls, rng: random.Random, start: tuple[float, float], end: tuple[float, float],
                wiggle_m: float = 400.0) -> Route:
        """A straight-ish road from ``start`` to ``end``: ~200 m steps, a smooth sideways wander."""
        cos_lat = math.cos(math.radians(start[0]))
        total_n = math.radians(end[0] - start[0]) * EARTH_RADIUS_M
        total_e = math.radians(end[1] - start[1]) * EARTH_RADIUS_M * cos_lat
        length = math.hypot(total_n, total_e)
        steps = max(2, int(length / 200.0))
        side, drift, lateral = 0.0, 0.0, [0.0]
        for index in range(1, steps + 1):
            drift = 0.8 * drift + rng.gauss(0.0, 20.0)
            side = max(-wiggle_m, min(wiggle_m, side + drift))
            lateral.append(0.0 if index == steps else side)
        t = np.linspace(0.0, 1.0, steps + 1)
        side_arr = np.array(lateral) * np.minimum(1.0, np.minimum(t, 1 - t) * 10)  # exact ends
        unit_n, unit_e = total_n / length, total_e / length
        north = t * total_n - side_arr * unit_e
        east = t * total_e + side_arr * unit_n
        return cls._from_steps(start, north, east)

    def position(self, distance_m: float) -> tuple[float, float, float]:
        """(lat, lon, course in degrees) at ``distance_m`` along the route (clamped to its ends)."""
        lats, lons, dist = self._lists
        last = len(dist) - 1
        d = min(max(distance_m, 0.0), dist[last])
        i = min(max(bisect_right(dist, d), 1), last)
        span = dist[i] - dist[i - 1]
        f = (d - dist[i - 1]) / span if span > 0 else 0.0
        if d >= dist[last]:
            lat, lon = lats[last], lons[last]
        else:
            lat = lats[i - 1] + f * (lats[i] - lats[i - 1])
            lon = lons[i - 1] + f * (lons[i] - lons[i - 1])
        d_north = lats[i] - lats[i - 1]
        d_east = (lons[i] - lons[i - 1]) * math.cos(math.radians(lat))
        course = (math.degrees(math.atan2(d_east, d_north)) + 360.0) % 360.0
        return lat, lon, course


@dataclass(frozen=True)
class Habits:
    """How a vehicle is used: phase lengths in seconds, cruising speeds in km/h.

    ``long_park_s`` makes every other park that long (first one included): hours-long stops that
    some installation faults only show during.
    """

    drive_s: tuple[float, float] = (120.0, 900.0)
    park_s: tuple[float, float] = (60.0, 600.0)
    speed_kmh: tuple[float, float] = (30.0, 90.0)
    long_park_s: tuple[float, float] | None = None


CITY = Habits()
"""Delivery rounds: short drives, short stops."""
TRUNK = Habits(drive_s=(1200.0, 3600.0), park_s=(300.0, 1200.0), speed_kmh=(70.0, 100.0))
"""Long-distance trips on trunk roads."""


class Vehicle:
    """One vehicle and its tracker: call :meth:`report` at each reporting instant (times increasing)."""

    def __init__(self, imei: str, protocol: str, seed: int, start_time: float,
                 route: Route | None = None, habits: Habits = CITY) -> None:
        self.imei = imei
        self.protocol = protocol
        self.rng = random.Random(seed)
        self.area: Area | None = None
        if route is None:
            self.area = AREAS[self.rng.randrange(len(AREAS))]
            route = Route.confined(self.rng, self.area, length_m=200_000.0)
        self.route = route
        self.habits = habits
        self.limit_m: float | None = None
        """Drive no further along the route than this (None: its end); the vehicle turns back."""
        self.floor_m = 0.0
        """Once past this distance along the route, turn back here instead of at the start."""
        self.odometer_m = self.rng.uniform(1e6, 3e8)
        self.distance_m = 0.0
        self.direction = 1
        self.parks = 0
        self.driving = self.rng.random() < 0.7
        self.phase_started = start_time
        self.phase_ends = start_time + self._phase_length()
        self.speed_kmh = 0.0
        self.last_time = start_time
        self.last_fix: float | None = None
        self.operator = self.rng.choice([26001, 26002, 26003, 26006])

    def _phase_length(self) -> float:
        habits, rng = self.habits, self.rng
        if self.driving:
            return rng.uniform(*habits.drive_s)
        self.parks += 1
        if habits.long_park_s is not None and self.parks % 2 == 1:
            return rng.uniform(*habits.long_park_s)
        return rng.uniform(*habits.park_s)

    def advance(self, now: float) -> None:
        """Move the vehicle to time ``now``: drive, or sit parked."""
        dt = max(0.0, now - self.last_time)
        self.last_time = now
        if now >= self.phase_ends:
            self.driving = not self.driving
            self.phase_started = now
            self.phase_ends = now + self._phase_length()
        if self.driving:
            target = self.rng.uniform(*self.habits.speed_kmh)
            self.speed_kmh += (target - self.speed_kmh) * 0.3
            moved = self.speed_kmh / 3.6 * dt
            self.odometer_m += moved
            self._move(moved)
        else:
            self.speed_kmh = 0.0

    def _move(self, moved: float) -> None:
        """Along the route and back: reflect at either end (or ``limit_m``/``floor_m``), never jump."""
        end = self.route.length_m if self.limit_m is None else min(self.limit_m, self.route.length_m)
        here = self.distance_m
        low = self.floor_m if here >= self.floor_m else 0.0
        there = here + self.direction * moved
        if self.direction > 0 and there > end:
            there = max(low, 2 * end - there) if here <= end else here - moved  # beyond a new limit: go back
            self.direction = -1
        if there < low:
            there, self.direction = min(end, 2 * low - there), 1
        self.distance_m = there

    def position(self) -> tuple[float, float, float]:
        """(lat, lon, course) now: the course follows the direction of travel."""
        lat, lon, course = self.route.position(self.distance_m)
        return lat, lon, course if self.direction > 0 else (course + 180.0) % 360.0

    def report(self, now: float) -> Record:
        """What the tracker reports at ``now`` (before the protocol's own rounding)."""
        self.advance(now)
        lat, lon, course = self.position()
        driving, rng = self.driving, self.rng
        return Record(
            imei=self.imei,
            protocol=self.protocol,
            fix_time=now,
            valid=True,
            lat=lat,
            lon=lon,
            altitude_m=float(round(rng.gauss(100.0, 5.0))),
            speed_kmh=float(round(self.speed_kmh)),
            course_deg=float(round(course)),
            satellites=rng.randint(7, 14),
            hdop=round(rng.uniform(0.6, 1.6), 1),
            ignition=driving,
            motion=driving and self.speed_kmh > 3,
            ext_voltage_v=round(rng.uniform(13.6, 14.3) if driving else rng.uniform(12.3, 12.7), 3),
            battery_voltage_v=round(rng.uniform(4.0, 4.15), 3),
            gsm_signal_pct=rng.choice((60, 80, 100)),
            operator=self.operator,
            roaming=False,
            odometer_m=float(round(self.odometer_m)),
        )
