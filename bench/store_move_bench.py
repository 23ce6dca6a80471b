"""How fast ``telediag store copy-to-postgresql`` moves a SQLite store (``telediag.store.transfer``).

A SQLite store is filled through ``Store.commit`` with ``--records`` records from ``--devices`` devices
over ``--months`` months (month partitions on PostgreSQL), plus the registry of those devices; it is then
copied into an empty database of a throwaway PostgreSQL 15 (``tests.postgres_server``: ``fsync = off``
unless ``--fsync``), ``--repeat`` times into fresh databases; the best run counts (the machine may be
shared). Figures: rows/s of wall time for the whole copy (schema creation, every table, the count check,
sequences, ANALYZE), and the CPU seconds of this process and of the server's processes over the run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from store_backends_bench import cpu_s, server_cpu_between, settle  # noqa: E402

from protocols.record import Record  # noqa: E402
from telediag.registry.entries import parse_entry  # noqa: E402
from telediag.registry.repository import save  # noqa: E402
from telediag.store.postgresql import PostgresDatabase  # noqa: E402
from telediag.store.sqlite import SQLiteDatabase  # noqa: E402
from telediag.store.transfer import BATCH_ROWS, copy_store, open_source  # noqa: E402
from telediag.store.writer import RecordBatch, Store  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

START = 1_767_225_600.0  # 2026-01-01
PER_COMMIT = 2000


def fill(path: Path, records: int, devices: int, months: int) -> None:
    """``records`` records spread evenly over ``months`` months, device after device, as ingest stores them."""
    database = SQLiteDatabase(path)
    db = database.connect()
    save(db, [parse_entry({"imei": f"35630704{d:07d}", "protocol": "teltonika", "account": f"Fleet {d % 50}",
                           "iccid": f"8948031{d:012d}", "apn": "internet", "coverage": "eu", "home_country": "PL"})
              for d in range(devices)], START, "import")
    db.close()
    store = Store(database)
    step = months * 30 * 86400.0 / records
    batch: list[RecordBatch] = []
    for n in range(records):
        imei = f"35630704{n % devices:07d}"
        at = START + n * step
        batch.append(RecordBatch(imei, "teltonika", [Record(
            imei=imei, protocol="teltonika", fix_time=at, valid=True, lat=54.6872 + n * 1e-6, lon=25.2797,
            altitude_m=112.0, speed_kmh=57.0, course_deg=270.0, satellites=11, hdop=0.9, ignition=True,
            motion=True, ext_voltage_v=13.912, battery_voltage_v=4.05, gsm_signal_pct=80, operator=24602,
            roaming=False, odometer_m=123456.0 + n, event=None,
            attributes={"io66": 13912, "io239": 1, "io240": 1, "io21": 5})], at + 1.0))
        if len(batch) == PER_COMMIT:
            store.commit(batch, flush_state=False)
            batch = []
    store.commit(batch, flush_state=True)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3, help="copies into fresh databases; the best counts")
    parser.add_argument("--fsync", action="store_true", help="PostgreSQL with fsync and full page writes on")
    args = parser.parse_args()
    server = PostgresServer({"fsync": "on" if args.fsync else "off", "synchronous_commit": "on",
                             "full_page_writes": "on" if args.fsync else "off"})
    assert server.process is not None
    postmaster = psutil.Process(server.process.pid)
    baseline = len(postmaster.children())  # its own processes, no backend yet
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "telediag.sqlite3"
            started = time.perf_counter()
            fill(path, args.records, args.devices, args.months)
            print(f"SQLite store: {args.records:,} records of {args.devices} devices over {args.months} months, "
                  f"{path.stat().st_size / 2**20:.0f} MiB, filled in {time.perf_counter() - started:.1f} s; "
                  f"batches of {BATCH_ROWS:,} rows; {psutil.cpu_count()} cores, python {sys.version.split()[0]}")
            best: tuple[float, float, float, int] | None = None
            for _ in range(args.repeat):
                target = PostgresDatabase(server.fresh_database())
                settle(postmaster, baseline)
                source = open_source(path)
                before, started = cpu_s(postmaster), time.perf_counter()
                try:
                    copied = copy_store(source, target, lambda table, done, total: None)
                finally:
                    source.close()
                seconds = time.perf_counter() - started
                settle(postmaster, baseline)  # the copy's backend has exited: its CPU is in children_*
                after = cpu_s(postmaster)
                rows = sum(copied.values())
                own, other = after[0] - before[0], server_cpu_between(before, after)
                print(f"  copied {rows:,} rows in {seconds:.2f} s: {rows / seconds:,.0f} rows/s "
                      f"(CPU: this process {own:.2f} s, PostgreSQL {other:.2f} s)")
                if best is None or seconds < best[0]:
                    best = (seconds, own, other, rows)
            assert best is not None
            seconds, own, other, rows = best
            print(f"best: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s "
                  f"({rows / (own + other):,.0f} rows per CPU-second, {other / (own + other):.0%} in the server); "
                  f"this process's peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
