"""Distances on the Earth for whole columns at once.

Journeys and installation checks measure thousands of fix-to-fix steps per device; doing it with
numpy over arrays keeps a sweep of a fleet cheap. A sphere is plenty for steps of metres to
kilometres (the error against WGS84 is well under 0.5 %).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_M = 6_371_000.0
"""Mean Earth radius, the same the simulators build their routes with."""


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> NDArray[np.float64]:
    """Great-circle distance in metres between points given in degrees; NaN in, NaN out.

    Arguments broadcast like any numpy expression, so one point against a column works too.
    """
    phi1 = np.radians(np.asarray(lat1, dtype=np.float64))
    phi2 = np.radians(np.asarray(lat2, dtype=np.float64))
    d_phi = phi2 - phi1
    d_lambda = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(d_phi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(d_lambda / 2.0) ** 2
    distance: NDArray[np.float64] = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return distance


def previous_index(mask: NDArray[np.bool_]) -> NDArray[np.intp]:
    """For each position, the index of the last True of ``mask`` at or before it (-1 if none)."""
    index = np.where(mask, np.arange(mask.size), -1)
    return np.maximum.accumulate(index) if index.size else index


def next_index(mask: NDArray[np.bool_]) -> NDArray[np.intp]:
    """For each position, the index of the first True of ``mask`` at or after it (size if none)."""
    size = mask.size
    index = np.where(mask, np.arange(size), size)
    return np.minimum.accumulate(index[::-1])[::-1] if size else index
