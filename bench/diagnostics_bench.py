"""Diagnostics cost: a full sweep (every check, 48 h of history) and the light per-commit check,
over a simulated fleet stored in a temporary SQLite file. Prints figures; not part of the tests."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from simulators.scenario import simulate_fleet
from telediag.config import Thresholds
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.sqlite import SQLiteDatabase
from telediag.store.writer import RecordBatch, Store

START = 1_795_000_000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(SQLiteDatabase(Path(folder) / "telediag.sqlite3"))
        fleet = simulate_fleet(args.devices, START, args.hours * 3600, args.interval, seed=1)
        save(store._db, [parse_entry(s.registry_row) for s in fleet], START, "import")
        store.commit([RecordBatch(s.imei, "teltonika", r, at) for s in fleet for at, r in s.batches], flush_state=True)
        records = store._db.execute("SELECT count(*) FROM records").fetchone()[0]
        store.close()
        now = START + args.hours * 3600
        engine = DiagnosticsEngine(SQLiteDatabase(Path(folder) / "telediag.sqlite3"), Thresholds())
        engine.sweep(now)  # warm-up: geography data, SQLite cache
        began = time.perf_counter()
        engine.sweep(now + 60)
        sweep_s = time.perf_counter() - began
        began = time.perf_counter()
        for s in fleet:
            engine.check_device(s.imei, now + 120, with_history=False)
        light_s = time.perf_counter() - began
        began = time.perf_counter()
        for s in fleet[:50]:
            engine.selfcheck(s.imei, now + 180)
        selfcheck_s = (time.perf_counter() - began) / min(50, len(fleet))
        engine.close()
    print(f"fleet: {args.devices} devices, {args.hours:g} h at {args.interval:g} s, {records} records")
    print(f"full sweep (all checks, {Thresholds().history_s / 3600:g} h history): {sweep_s:.2f} s "
          f"= {1000 * sweep_s / args.devices:.1f} ms per device")
    print(f"per-commit check (no history): {1000 * light_s / args.devices:.2f} ms per device")
    print(f"self-check: {1000 * selfcheck_s:.1f} ms per device")


if __name__ == "__main__":
    main()
