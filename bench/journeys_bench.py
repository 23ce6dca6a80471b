"""Journey and installation benchmark: how long one device's history check takes, read from SQLite.

Simulated vehicles (``simulators.vehicle``) report into a temporary store, interleaved in time as a
live fleet would write them; then, per device, the timed part is what a diagnostics sweep does:
``load_history`` over the history window, ``detect_journeys`` and the three installation checks.

    .venv/bin/python bench/journeys_bench.py [--devices 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulators.vehicle import Vehicle  # noqa: E402
from telediag.config import Thresholds  # noqa: E402
from telediag.diagnostics.history import load_history  # noqa: E402
from telediag.diagnostics.installation import (  # noqa: E402
    ignition_always_on,
    ignition_not_detected,
    journey_false_starts,
)
from telediag.diagnostics.journeys import detect_journeys  # noqa: E402
from telediag.store.reader import Reader  # noqa: E402
from telediag.store.sqlite import SQLiteDatabase  # noqa: E402
from telediag.store.writer import RecordBatch, Store  # noqa: E402

T0 = 1_700_000_000.0
THRESHOLDS = Thresholds()


def fill(path: Path, devices: int, hours: float, interval: float) -> list[str]:
    """Write ``devices`` simulated vehicles reporting every ``interval`` s for ``hours``; their IMEIs."""
    imeis = [f"35{index:013d}" for index in range(devices)]
    vehicles = [Vehicle(imei, "teltonika", index, T0) for index, imei in enumerate(imeis)]
    store = Store(SQLiteDatabase(path))
    steps = int(hours * 3600 / interval)
    pending: list[RecordBatch] = []
    for step in range(steps):
        now = T0 + step * interval
        pending.extend(RecordBatch(v.imei, "teltonika", [v.report(now)], now + 1.0) for v in vehicles)
        if len(pending) >= 5000 or step == steps - 1:
            store.commit(pending)
            pending = []
    store.close()
    return imeis


def check_device(reader: Reader, imei: str, until: float) -> tuple[float, float, int]:
    """(seconds to load, seconds to analyse, records) for one device's history window."""
    started = time.perf_counter()
    frame = load_history(reader.connection, imei, until - THRESHOLDS.history_s, until)
    loaded = time.perf_counter()
    detect_journeys(frame, THRESHOLDS)
    for check in (ignition_always_on, ignition_not_detected, journey_false_starts):
        check(frame, THRESHOLDS)
    return loaded - started, time.perf_counter() - loaded, len(frame)


def best_of(repeat: int, run: Callable[[], tuple[float, float, int]]) -> tuple[float, float, int]:
    """The fastest of ``repeat`` runs (the least disturbed by the rest of the machine)."""
    return min((run() for _ in range(repeat)), key=lambda result: result[0] + result[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200, help="fleet size for the second case")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case; the best is shown")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        one_path = Path(scratch) / "one.sqlite3"
        started = time.perf_counter()
        (imei,) = fill(one_path, 1, 48.0, 10.0)
        print(f"one device, 48 h at 10 s: generated and stored in {time.perf_counter() - started:.1f} s")
        reader = Reader(SQLiteDatabase(one_path))
        load, analyse, records = best_of(args.repeat, lambda: check_device(reader, imei, T0 + 48 * 3600))
        reader.close()
        print(
            f"  {records} records: load_history {load * 1000:.1f} ms, journeys + 3 checks "
            f"{analyse * 1000:.1f} ms, total {(load + analyse) * 1000:.1f} ms"
        )

        fleet_path = Path(scratch) / "fleet.sqlite3"
        started = time.perf_counter()
        imeis = fill(fleet_path, args.devices, 24.0, 60.0)
        print(
            f"{args.devices} devices, 24 h at 60 s: generated and stored in "
            f"{time.perf_counter() - started:.1f} s"
        )
        reader = Reader(SQLiteDatabase(fleet_path))
        totals = []
        for _ in range(args.repeat):
            results = [check_device(reader, imei, T0 + 24 * 3600) for imei in imeis]
            totals.append(
                (sum(r[0] for r in results), sum(r[1] for r in results), sum(r[2] for r in results))
            )
        reader.close()
        load, analyse, records = min(totals, key=lambda total: total[0] + total[1])
        whole = load + analyse
        print(
            f"  {records} records: load_history {load:.3f} s, journeys + 3 checks {analyse:.3f} s, "
            f"total {whole:.3f} s ({whole / args.devices * 1000:.1f} ms per device, "
            f"{records / whole:,.0f} records/s); median total over runs "
            f"{statistics.median(t[0] + t[1] for t in totals):.3f} s"
        )


if __name__ == "__main__":
    main()
