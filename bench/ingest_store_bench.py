"""The writer thread's work per record: rows built, inserted and committed into a fresh SQLite store.

The records are the load client's packets decoded as the server decodes them; one commit holds one
packet from each of ``--devices`` devices, as under ``ingest_bench.py``'s load (every connection
waits for its ACK, so a commit gathers one packet per device). Measured in thread CPU time over
``--commits`` commits after as many warm-up ones, on a store on disk (WAL, ``synchronous = NORMAL``,
the ingest writer's checkpoint setting): the figure that ``ingest_bench.py`` adds to the reactor's.

    .venv/bin/python bench/ingest_store_bench.py [--devices 200] [--commits 200] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load_client  # noqa: E402

from protocols.core import Report  # noqa: E402
from protocols.record import Record  # noqa: E402
from protocols.teltonika.server import decode_tcp_frame  # noqa: E402
from telediag.store.rows import record_row  # noqa: E402
from telediag.store.sqlite import SQLiteDatabase  # noqa: E402
from telediag.store.writer import RecordBatch, Store  # noqa: E402


def decoded(per_packet: int, packets: int) -> list[tuple[Record, ...]]:
    """The records of the load client's first ``packets`` packets, decoded as the server does."""
    load_client.POOL_RECORDS = packets * per_packet
    out = []
    for frame in load_client.build_packets(per_packet):
        (report,) = decode_tcp_frame(frame, None)
        assert isinstance(report, Report)
        out.append(report.records)
    return out


def commits(per_packet: int, devices: int, count: int) -> list[list[RecordBatch]]:
    """``count`` commits of one packet per device; every device sends the packets in order."""
    packets = decoded(per_packet, count)
    imeis = [f"35{i:013d}" for i in range(devices)]
    return [
        [RecordBatch(imei, "teltonika", packets[n], 1_760_000_000.0 + n) for imei in imeis]
        for n in range(count)
    ]


def per_record_us(per_packet: int, devices: int, count: int, profile: bool) -> tuple[float, float]:
    """Thread CPU µs per record for a whole commit, and for building the rows alone."""
    work = commits(per_packet, devices, 2 * count)
    warm, measured = work[:count], work[count:]
    with tempfile.TemporaryDirectory() as folder:
        store = Store(SQLiteDatabase(Path(folder) / "bench.sqlite3"))
        for changes in warm:
            store.commit(changes, flush_state=False)
        profiler = cProfile.Profile() if profile else None
        started = time.thread_time()
        if profiler is not None:
            profiler.enable()
        for changes in measured:
            store.commit(changes, flush_state=False)
        if profiler is not None:
            profiler.disable()
        elapsed = time.thread_time() - started
        store.close()
    records = count * devices * per_packet
    started = time.thread_time()
    for changes in measured:
        for batch in changes:
            for record in batch.records:
                record_row(batch.imei, record, batch.server_time)
    rows_only = time.thread_time() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return elapsed / records * 1e6, rows_only / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions too")
    args = parser.parse_args()
    for per_packet in (1, 10):
        commit_us, rows_us = per_record_us(per_packet, args.devices, args.commits, args.profile)
        print(f"{per_packet:>2} rec/packet: {commit_us:5.1f} us per record committed, of which "
              f"{rows_us:4.1f} us building the row ({args.devices} devices per commit)")


if __name__ == "__main__":
    main()
