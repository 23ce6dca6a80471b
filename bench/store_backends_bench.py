"""What ``Store.commit`` costs on SQLite and on PostgreSQL, on the same batches, in one run.

Each commit carries ``--per-commit`` records in packets of 1 or 10 records (as the batch committer hands
them over under load) from ``--devices`` devices in turn, with device state flushed once a second as it
does (one row per device heard since the last flush). Each backend runs ``--repeat`` times on fresh
stores; the best run counts (the machine may be shared).
Figures: records/s of wall time, and records per CPU-second, counting for PostgreSQL the CPU of the
server's processes as well as this one's (SQLite runs inside it): each live process's own time over
the window and what the processes that exited within it spent in it, after waiting for the backends
of earlier connections (the one that created the fresh database) to exit first. The PostgreSQL server is Debian's 15
started by ``tests.postgres_server`` with ``fsync = off`` and ``synchronous_commit = on``: a commit is
handed to the OS before it returns, the same promise as SQLite's WAL with ``synchronous = NORMAL``
(both lose only to a power cut); ``--fsync`` turns fsync on.
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

from protocols.record import Record  # noqa: E402
from telediag.store.database import Database  # noqa: E402
from telediag.store.postgresql import PostgresDatabase  # noqa: E402
from telediag.store.sqlite import SQLiteDatabase  # noqa: E402
from telediag.store.writer import RecordBatch, Store  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

START = 1_780_000_000.0


def record(imei: str, fix_time: float, n: int) -> Record:
    return Record(imei=imei, protocol="teltonika", fix_time=fix_time, valid=True, lat=54.6872 + n * 1e-5,
                  lon=25.2797, altitude_m=112.0, speed_kmh=57.0, course_deg=270.0, satellites=11, hdop=0.9,
                  ignition=True, motion=True, ext_voltage_v=13.912, battery_voltage_v=4.05, gsm_signal_pct=80,
                  operator=24602, roaming=False, odometer_m=123456.0 + n, event=None,
                  attributes={"io66": 13912, "io239": 1, "io240": 1, "io21": 5})


def commits(total: int, per_commit: int, per_packet: int, devices: int) -> list[list[RecordBatch]]:
    """The batches of one run: packets from devices in turn, each a record later than the last."""
    out: list[list[RecordBatch]] = []
    packets = iter(range(total // per_packet))
    for _ in range(total // per_commit):
        batch = []
        for _, p in zip(range(per_commit // per_packet), packets, strict=False):
            imei = f"35630704{p % devices:07d}"
            at = START + (p // devices) * 10.0
            batch.append(RecordBatch(imei, "teltonika", [record(imei, at - 10 + k, k) for k in range(per_packet)],
                                     at))
        out.append(batch)
    return out


CpuSnapshot = tuple[float, dict[int, float], float]
"""This process's CPU seconds; the server's and each live child's own, by process id; the CPU of the
server's children that have exited (``children_*``)."""


def cpu_s(server: psutil.Process | None) -> CpuSnapshot:
    """CPU seconds (user + system) of this process and of ``server`` with its children, now."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    live: dict[int, float] = {}
    exited = 0.0
    if server is not None:
        times = server.cpu_times()
        exited = times.children_user + times.children_system
        for process in (server, *server.children()):
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            live[process.pid] = times.user + times.system
    return own.ru_utime + own.ru_stime, live, exited


def server_cpu_between(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """The server's CPU seconds between two snapshots: live processes' own time, plus what processes
    that exited in between spent after the first snapshot (their whole lifetime joins ``children_*``
    when they exit, less what the first snapshot saw of them). A process that ended before the window
    but was reaped within it would count too: callers let the server settle first (:func:`settle`)."""
    _, live_before, exited_before = before
    _, live_after, exited_after = after
    gone = sum(spent for pid, spent in live_before.items() if pid not in live_after)
    return (exited_after - exited_before - gone
            + sum(spent - live_before.get(pid, 0.0) for pid, spent in live_after.items()))


def settle(server: psutil.Process | None, processes: int, timeout_s: float = 5.0) -> None:
    """Wait until ``server`` has at most ``processes`` children (backends of earlier connections have
    exited and been reaped), so their CPU is not counted in the next window."""
    deadline = time.monotonic() + timeout_s
    while server is not None and len(server.children()) > processes and time.monotonic() < deadline:
        time.sleep(0.02)


def run(database: Database, batches: list[list[RecordBatch]],
        server: psutil.Process | None) -> tuple[float, float, float]:
    """Records/s, records per CPU-second and the share of CPU time ``server`` took, committing ``batches``."""
    store = Store(database)
    records = sum(len(b.records) for batch in batches for b in batch)
    flushed = time.monotonic()
    cpu_before, started = cpu_s(server), time.perf_counter()
    for batch in batches:
        now = time.monotonic()
        flush, flushed = (True, now) if now - flushed >= 1.0 else (False, flushed)
        store.commit(batch, flush_state=flush)
    store.commit((), flush_state=True)  # what closing the store writes; its connection (and backend) stays
    seconds, cpu_after = time.perf_counter() - started, cpu_s(server)  # until the figures are read
    store.close()
    own, other = cpu_after[0] - cpu_before[0], server_cpu_between(cpu_before, cpu_after)
    return records / seconds, records / (own + other), other / (own + other)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=60_000, help="records per run and backend")
    parser.add_argument("--per-commit", type=int, default=1000, help="records per commit")
    parser.add_argument("--devices", type=int, default=20_000, help="devices the packets come from, in turn")
    parser.add_argument("--repeat", type=int, default=3, help="runs per backend and packet size; the best counts")
    parser.add_argument("--fsync", action="store_true", help="PostgreSQL with fsync on (and SQLite FULL)")
    args = parser.parse_args()
    server = PostgresServer({"fsync": "on" if args.fsync else "off", "synchronous_commit": "on",
                             "full_page_writes": "on" if args.fsync else "off"})
    postmaster = psutil.Process(server.process.pid) if server.process else None
    baseline = len(postmaster.children()) if postmaster else 0  # its own processes, no backend yet
    try:
        print(f"Store.commit, {args.records} records a run in commits of {args.per_commit}; "
              f"{psutil.cpu_count()} cores, python {sys.version.split()[0]}")
        for per_packet in (1, 10):
            batches = commits(args.records, args.per_commit, per_packet, args.devices)
            lite, postgres = [], []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as folder:
                    sqlite = SQLiteDatabase(Path(folder) / "bench.sqlite3", "FULL" if args.fsync else "NORMAL")
                    lite.append(run(sqlite, batches, None))
                database = PostgresDatabase(server.fresh_database())
                settle(postmaster, baseline)
                postgres.append(run(database, batches, postmaster))
            lite_rate, lite_cpu = max(r[0] for r in lite), max(r[1] for r in lite)
            pg_rate, pg_cpu = max(r[0] for r in postgres), max(r[1] for r in postgres)
            server_share = max(postgres, key=lambda r: r[1])[2]
            print(f"{per_packet:>2} per packet: SQLite {lite_rate:>8,.0f} rec/s {lite_cpu:>8,.0f} rec/CPU-s | "
                  f"PostgreSQL {pg_rate:>8,.0f} rec/s {pg_cpu:>8,.0f} rec/CPU-s ({server_share:.0%} in the server) | "
                  f"PostgreSQL/SQLite {pg_rate / lite_rate:.2f} wall, {pg_cpu / lite_cpu:.2f} CPU")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
