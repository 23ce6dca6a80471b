"""How long the simulators take to build a day of a healthy fleet (200 vehicles x 24 h at 60 s,
288,000 records), the data set the simulator and diagnostics tests use."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.scenario import simulate_fleet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        began = time.perf_counter()
        scenarios = simulate_fleet(200, 1_700_000_000.0, 86_400.0, 60.0, seed=11)
        runs.append(time.perf_counter() - began)
    records = sum(len(s.records) for s in scenarios)
    best = min(runs)
    print(f"simulate_fleet(200 vehicles, 24 h at 60 s): {records:,} records, best of {args.runs} {best:.2f} s "
          f"({records / best:,.0f} records/s)")


if __name__ == "__main__":
    main()
