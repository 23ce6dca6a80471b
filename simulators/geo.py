"""Where simulated vehicles may drive: home areas well inside Poland, and the PL-DE border.

Healthy vehicles must never look abroad, so each home area is a disc whose edge stays tens of km
from any border (and out of the Baltic). The two geography faults drive a corridor from near
Słubice across the Oder into Germany; the border line here is good enough to tell the two apart
along the whole western border, which is all the simulators need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class Area:
    """A home area: depot centre, the radius routes are kept within, and the plate prefix."""

    name: str
    plate: str
    lat: float
    lon: float
    radius_m: float


AREAS: tuple[Area, ...] = (
    Area("Warszawa", "WA", 52.2297, 21.0122, 60_000.0),
    Area("Poznań", "PO", 52.4064, 16.9252, 50_000.0),
    Area("Kraków", "KR", 50.0647, 19.9450, 30_000.0),
    Area("Gdańsk", "GD", 54.2500, 18.4500, 20_000.0),  # centred inland: the coast is 15-20 km north
    Area("Wrocław", "DW", 51.1079, 17.0385, 35_000.0),
)

POLAND_BBOX = (49.00, 54.84, 14.12, 24.15)
"""(south, north, west, east) of Poland, degrees."""

WEST_BORDER: tuple[tuple[float, float], ...] = (
    (53.95, 14.22), (53.45, 14.32), (53.25, 14.43), (52.83, 14.13), (52.59, 14.62),
    (52.35, 14.555), (52.07, 14.75), (51.54, 14.73), (51.15, 15.00), (50.87, 14.82),
)
"""(lat, lon) points along the Polish-German border (Oder and Neisse), north to south."""

SLUBICE_CORRIDOR = ((52.352, 14.700), (52.405, 13.750))
"""From ~10 km east of the Oder at Słubice, west past Frankfurt (Oder) towards Berlin (~55 km in DE)."""


def west_border_lon(lat: float) -> float:
    """Longitude of the PL-DE border at ``lat`` (clamped to the border's ends)."""
    points = WEST_BORDER
    if lat >= points[0][0]:
        return points[0][1]
    for (lat_a, lon_a), (lat_b, lon_b) in pairwise(points):
        if lat_b <= lat <= lat_a:
            return lon_a + (lon_b - lon_a) * (lat_a - lat) / (lat_a - lat_b)
    return points[-1][1]


def in_germany(lat: float | None, lon: float | None) -> bool:
    """True west of the PL-DE border (only meaningful near it, which is the only place it is asked)."""
    if lat is None or lon is None:
        return False
    return lon < west_border_lon(lat)


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m``/``east_m`` metres from (lat, lon) (small distances)."""
    return (
        lat + math.degrees(north_m / EARTH_RADIUS_M),
        lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))),
    )


def distance_m(lat_a: float, lon_a: float, lat_b: float, lon_b: float) -> float:
    """Great-circle distance in metres."""
    phi_a, phi_b = math.radians(lat_a), math.radians(lat_b)
    d_phi, d_lambda = phi_b - phi_a, math.radians(lon_b - lon_a)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_to_west_border_m(lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray) -> np.ndarray:
    """Metres from each point to the nearest segment of the PL-DE border line (planar, fine at this scale)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    metres_per_deg = math.radians(1.0) * EARTH_RADIUS_M
    cos_lat = np.cos(np.radians(lat))
    best = np.full(lat.shape, np.inf)
    for (lat_a, lon_a), (lat_b, lon_b) in pairwise(WEST_BORDER):
        ax, ay = (lon_a - lon) * cos_lat * metres_per_deg, (lat_a - lat) * metres_per_deg
        bx, by = (lon_b - lon) * cos_lat * metres_per_deg, (lat_b - lat) * metres_per_deg
        dx, dy = bx - ax, by - ay
        t = np.clip(-(ax * dx + ay * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        best = np.minimum(best, np.hypot(ax + t * dx, ay + t * dy))
    return best
