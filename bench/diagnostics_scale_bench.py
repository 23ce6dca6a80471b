"""Diagnostics at fleet scale: full sweep time, diagnostic CPU per committed record, memory kept per
device, and how they grow with the fleet. Prints figures; not part of the tests.

The fleet: ``--devices`` registered trackers of which ``--reporting`` report; of the silent rest,
5 % were activated two hours ago (ACTIVATION_PENDING), 5 % three days ago (NO_DATA_AFTER_ACTIVATION)
and the others are stock not activated yet. 5 % of the reporting ones have lost external power (an
active finding, so they are evaluated at every commit). Reporting follows Teltonika's default
profile while driving (a record every 10 s, sent every 60 s: 6 records a packet), so ``--reporting``
devices commit ``reporting / 10`` records a second.

Figures, all on one core (CPU time of this process, ``time.process_time``):
- full sweep: one periodic sweep in steady state (the time checks over every device, the devices
  whose time verdict moves, the installation checks whose turn has come);
- per committed record: the change feed's polls, folding, and the event-driven evaluations of one
  simulated minute, divided by its records (the commits themselves are the store's, not counted);
- memory per device: ``tracemalloc`` over the engine's kept state (rolling figures, active findings,
  plans, installation turns), after the catch-up, per registered and per reporting device.

    .venv/bin/python bench/diagnostics_scale_bench.py                      # 100,000 devices, SQLite
    .venv/bin/python bench/diagnostics_scale_bench.py --growth             # the table 10k..100k
    .venv/bin/python bench/diagnostics_scale_bench.py --dsn postgresql://...  # on PostgreSQL
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from protocols.record import Record, iso_utc
from telediag.config import Thresholds
from telediag.diagnostics import geography
from telediag.diagnostics.changes import ChangeFeed
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.database import Database
from telediag.store.writer import RecordBatch, Store

NOW = 1_795_000_000.0
RECORDS_PER_PACKET = 6
PACKET_INTERVAL_S = 60.0


def open_store(folder: Path, dsn: str | None) -> Database:
    if dsn:
        from telediag.store.postgresql import PostgresDatabase

        return PostgresDatabase(dsn)
    from telediag.store.sqlite import SQLiteDatabase

    return SQLiteDatabase(folder / "telediag.sqlite3")


def registry(devices: int, reporting: int) -> list[Any]:
    entries = []
    for n in range(devices):
        activated: float | None = NOW - 30 * 86400
        if n >= reporting:
            share = (n - reporting) % 20
            activated = NOW - 2 * 3600 if share == 0 else NOW - 3 * 86400 if share == 1 else None
        entries.append(parse_entry({
            "imei": f"35{n:013d}", "protocol": "teltonika", "account": f"account{n % 500}",
            "iccid": f"8948{n:015d}", "apn": "fleet.example", "roaming": "true", "coverage": "domestic",
            "home_country": "PL", "activated_at": iso_utc(activated) if activated else "",
            "report_interval_s": "60",
        }))
    return entries


def packet(n: int, at: float, rng: random.Random) -> list[Record]:
    """Six records of a car driving around Warsaw (a power cut for every twentieth device)."""
    lat, lon = 52.1 + (n % 100) * 0.003, 20.9 + (n // 100 % 100) * 0.003
    powered = n % 20 != 7
    return [Record(imei=f"35{n:013d}", protocol="teltonika", fix_time=at - 50 + 10 * i, valid=True,
                   lat=lat + rng.random() * 0.001, lon=lon + 0.0015 * i, speed_kmh=50.0, satellites=11, hdop=0.8,
                   ignition=True, motion=True, ext_voltage_v=13.9 if powered else 0.0, battery_voltage_v=4.1,
                   gsm_signal_pct=80, operator=26001, roaming=False) for i in range(RECORDS_PER_PACKET)]


def run(devices: int, reporting: int, dsn: str | None) -> dict[str, float]:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as folder:
        database = open_store(Path(folder), dsn)
        store = Store(database)
        save(store._db, registry(devices, reporting), NOW - 60 * 86400, "import")
        for start in range(0, reporting, 2000):  # five packets each: a window of 30 records
            store.commit([RecordBatch(f"35{n:013d}", "teltonika", packet(n, NOW - 300 + 60 * k, rng),
                                      NOW - 300 + 60 * k)
                          for n in range(start, min(reporting, start + 2000)) for k in range(5)], flush_state=True)
        thresholds = Thresholds()
        geography.country_at(52.2, 21.0)  # the country polygons load once per process, not per sweep
        tracemalloc.start()
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        engine = DiagnosticsEngine(database, thresholds)
        feed = ChangeFeed()
        while engine.changes(feed):  # the registry import, read once as at a first start
            pass
        began = time.process_time()
        catch_up = 0
        now = NOW
        while len(engine.rolling.tracks) < reporting and catch_up < 100:  # after a start: the windows
            engine.sweep(now)
            catch_up += 1
        catch_up_s = time.process_time() - began
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()

        now += thresholds.sweep_interval_s
        engine.sweep(now)  # warm
        now += thresholds.sweep_interval_s
        began = time.process_time()
        engine.sweep(now)
        sweep_s = time.process_time() - began

        records = 0
        spent = 0.0
        skipped, evaluated = engine.skipped, engine.evaluated
        for second in range(60):  # one minute: every reporting device sends one packet
            at = now + second
            batches = [RecordBatch(f"35{n:013d}", "teltonika", packet(n, at, rng), at)
                       for n in range(second, reporting, 60)]
            store.commit(batches, flush_state=True)
            records += sum(len(b.records) for b in batches)
            began = time.process_time()
            engine.changes(feed)
            engine.check_devices(sorted(engine.fold(batches)), at + 1)
            spent += time.process_time() - began
        engine.close()
        store.close()
    return {
        "devices": devices, "reporting": reporting, "catch_up_s": catch_up_s, "catch_up_sweeps": catch_up,
        "sweep_s": sweep_s, "per_record_us": 1e6 * spent / records, "records": records,
        "bytes_per_device": kept / devices, "bytes_per_reporting": kept / reporting,
        "evaluated_share": (engine.evaluated - evaluated)
        / max(1, engine.evaluated - evaluated + engine.skipped - skipped),
    }


def show(result: dict[str, float]) -> None:
    print(f"{int(result['devices']):>7} registered, {int(result['reporting']):>6} reporting: "
          f"sweep {result['sweep_s']:.2f} s, {result['per_record_us']:.1f} us per committed record "
          f"({result['evaluated_share']:.0%} of packets evaluated), "
          f"{result['bytes_per_device']:.0f} B per device ({result['bytes_per_reporting']:.0f} B per reporting one), "
          f"catch-up after a start {result['catch_up_s']:.1f} s in {int(result['catch_up_sweeps'])} sweeps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--reporting", type=int, default=20_000)
    parser.add_argument("--growth", action="store_true", help="10,000 to 100,000 devices, a fifth reporting")
    parser.add_argument("--dsn", help="a PostgreSQL store (an empty database) instead of a temporary SQLite file")
    args = parser.parse_args()
    sizes = [(n, n // 5) for n in (10_000, 20_000, 50_000, 100_000)] if args.growth else [
        (args.devices, args.reporting)]
    print(f"Teltonika driving profile: {RECORDS_PER_PACKET} records a packet every {PACKET_INTERVAL_S:g} s; "
          "CPU time on one core; memory by tracemalloc over the engine's kept state")
    for devices, reporting in sizes:
        show(run(devices, reporting, args.dsn))


if __name__ == "__main__":
    main()
