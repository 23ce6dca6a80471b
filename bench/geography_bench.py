"""Country lookup benchmark: how many positions per second ``country_at`` resolves.

Prints the one-off load time, then lookups/s for
- cold: random positions over Europe, none seen before (every one a point-in-polygon test);
- cold near borders: random positions within ~10 km of the PL-DE, PL-CZ and DE-FR borders;
- cached: a fleet pattern, 2,000 devices x 30 positions each, checked again on every sweep.

    .venv/bin/python bench/geography_bench.py [--points 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telediag.diagnostics import geography  # noqa: E402


def rate(points: list[tuple[float, float]]) -> tuple[float, int]:
    """Lookups per second over ``points``, and how many fell on land."""
    started = time.perf_counter()
    land = sum(1 for lat, lon in points if geography.country_at(lat, lon) is not None)
    return len(points) / (time.perf_counter() - started), land


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="positions per cold run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    started = time.perf_counter()
    geography.country_at(52.2297, 21.0122)
    print(f"load (first lookup): {time.perf_counter() - started:.2f} s")

    # warm-up: GEOS builds its point-in-polygon indexes on first use of each country
    warm = [(rng.uniform(36.0, 70.0), rng.uniform(-10.0, 40.0)) for _ in range(20_000)]
    rate(warm)
    geography._country_at_rounded.cache_clear()

    europe = [(rng.uniform(36.0, 70.0), rng.uniform(-10.0, 40.0)) for _ in range(args.points)]
    per_s, land = rate(europe)
    print(f"cold, random Europe:      {per_s:>10,.0f} lookups/s  ({land / len(europe):.0%} on land)")
    geography._country_at_rounded.cache_clear()

    borders = [(52.35, 14.58), (51.15, 15.00), (49.75, 18.62), (50.43, 16.20), (48.58, 7.80), (49.20, 6.93)]
    near = []
    for _ in range(args.points):
        lat, lon = rng.choice(borders)
        near.append((lat + rng.uniform(-0.09, 0.09), lon + rng.uniform(-0.14, 0.14)))
    per_s, _ = rate(near)
    print(f"cold, near borders:       {per_s:>10,.0f} lookups/s")
    geography._country_at_rounded.cache_clear()

    fleet = []
    for _ in range(2_000):
        lat, lon = rng.uniform(47.0, 55.0), rng.uniform(6.0, 24.0)
        fleet.extend((lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05)) for _ in range(30))
    rate(fleet)  # first sweep fills the cache
    sweeps = fleet * 5
    per_s, _ = rate(sweeps)
    print(f"cached, repeated sweeps:  {per_s:>10,.0f} lookups/s  ({len(fleet):,} positions x 5)")
    info = geography._country_at_rounded.cache_info()
    print(f"cache: {info.currsize:,} entries, {info.hits:,} hits, {info.misses:,} misses")


if __name__ == "__main__":
    main()
