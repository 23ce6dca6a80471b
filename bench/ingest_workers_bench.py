"""Ingest workers benchmark: telediag with ``[ingest] workers = 1`` and ``workers = 2`` in one run.

Each server faces the same load (``bench/load_client.py``: C Teltonika device connections, each
waiting for its ACK before the next packet) over loopback. Prints, for each worker count, records/s
and records per server CPU-second (user + system time of the parent and every worker process, every
thread, over the client's measured window), then the ratio of two workers to one for both. The
target: two workers keep at least 0.8 of one worker's records per CPU-second.

    .venv/bin/python bench/ingest_workers_bench.py [--connections 400] [--clients 2] [--warmup 3]
        [--measure 10] [--per-packet 1] [--workers 1 2] [--backend sqlite] [--dsn DSN]

Server and clients share the machine's cores, so records per CPU-second is the steadier figure.
With ``--backend postgresql`` each run writes to a new database of ``--dsn``'s server, or (without
``--dsn``) of a throwaway PostgreSQL 15 that ``tests.postgres_server`` starts (``make servers``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest_bench import env, free_port, stop  # noqa: E402


def fresh_dsn(dsn: str) -> str:
    """A new empty database on ``dsn``'s server, or on the throwaway test server when ``dsn`` is empty."""
    if not dsn:
        from tests.postgres_server import fresh_database

        return fresh_database()
    import psycopg

    name = f"telediag_bench_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return psycopg.conninfo.make_conninfo(dsn, dbname=name)


def start_telediag(workdir: Path, port: int, workers: int, backend: str, dsn: str) -> subprocess.Popen[bytes]:
    config = workdir / "bench.toml"
    store = f'[store]\nbackend = "{backend}"\ndsn = "{dsn}"\n' if backend == "postgresql" else ""
    config.write_text(
        f'[listen]\nteltonika = ["tcp:{port}:interface=127.0.0.1:backlog=4096"]\n'
        '[api]\nlisten = "tcp:0:interface=127.0.0.1"\n'
        f"[ingest]\nworkers = {workers}\nmax_connections_per_address = 1000000\n" + store
    )
    data = workdir / "data"
    listening = data / "listening.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "telediag", "serve", "--config", str(config), "--data-dir", str(data),
         "--log-level", "warn"], env=env(), cwd=ROOT, stderr=open(workdir / "server.log", "ab"),
    )
    for _ in range(600):
        if listening.exists() and json.loads(listening.read_text())["pid"] == process.pid:
            return process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError((workdir / "server.log").read_text())


def server_cpu_s(server: psutil.Process) -> float:
    """User + system seconds of the server and its live worker processes."""
    total = 0.0
    for process in (server, *server.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def measure(server: subprocess.Popen[bytes], port: int, connections: int, clients: int, per_packet: int,
            warmup: float, seconds: float) -> dict[str, float]:
    """Records/s summed over the clients, and the server's CPU over the clients' measured window."""
    shares = [connections // clients + (i < connections % clients) for i in range(clients)]
    running = [subprocess.Popen(  # each client its own devices: one connection per device, as in a fleet
        [sys.executable, str(ROOT / "bench" / "load_client.py"), str(port), str(share), str(per_packet),
         str(warmup), str(seconds), str(sum(shares[:i]))], env=env(), stdout=subprocess.PIPE,
    ) for i, share in enumerate(shares)]
    watched = psutil.Process(server.pid)
    for client in running:
        assert client.stdout is not None
        line = client.stdout.readline()
        if line.strip() != b"measuring":
            raise RuntimeError(f"load client did not start measuring: {line!r}")
    before = server_cpu_s(watched)
    results = []
    for client in running:
        assert client.stdout is not None
        results.append(json.loads(client.stdout.readline().decode()))
    after = server_cpu_s(watched)
    for client in running:
        client.wait(timeout=60)
    records = sum(r["records"] for r in results)
    window = max(r["seconds"] for r in results)
    cpu_s = after - before
    return {
        "records_per_s": sum(r["records_per_s"] for r in results),
        "records_per_cpu_s": records / cpu_s if cpu_s > 0 else float("nan"),
        "server_cpu": cpu_s / window,
        "client_cpu": sum(r["client_cpu"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("--clients", type=int, default=2, help="load client processes sharing the connections")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--measure", type=float, default=10.0)
    parser.add_argument("--per-packet", type=int, default=1, help="records per packet")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--dsn", default="", help="PostgreSQL server to make databases on (--backend postgresql)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {args.backend}; "
          f"{args.connections} connections from {args.clients} clients, {args.per_packet} record(s) per packet, "
          f"{args.measure:g} s measured after {args.warmup:g} s warm-up")
    results = {}
    for workers in args.workers:
        port = free_port()
        with tempfile.TemporaryDirectory() as work:
            dsn = fresh_dsn(args.dsn) if args.backend == "postgresql" else ""
            server = start_telediag(Path(work), port, workers, args.backend, dsn)
            try:
                results[workers] = measure(server, port, args.connections, args.clients, args.per_packet,
                                           args.warmup, args.measure)
            finally:
                stop(server)
        result = results[workers]
        print(f"workers {workers}  {result['records_per_s']:>9.0f} records/s  "
              f"{result['records_per_cpu_s']:>9.0f} records/server CPU-s  "
              f"(server cpu {result['server_cpu']:.2f}, client cpu {result['client_cpu']:.2f})", flush=True)
    base = results.get(1)
    for workers, result in results.items():
        if base is not None and workers != 1:
            print(f"ratio workers {workers}/1 = {result['records_per_s'] / base['records_per_s']:.2f} (records/s), "
                  f"{result['records_per_cpu_s'] / base['records_per_cpu_s']:.2f} (per CPU-second; target >= 0.8)")


if __name__ == "__main__":
    main()
