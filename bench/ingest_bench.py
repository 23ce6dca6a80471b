"""End-to-end ingest benchmark: telediag (decode, commit, ACK) against a bare Twisted ceiling.

Both servers run as child processes of this script and face the same load client over loopback.
Prints, for 1 and 10 records per packet, records/s and records per server CPU-second (the server
process's user + system time over the client's measured window, all threads) for each, and the
ratios telediag/bare of both; then the memory per idle connection with 10,000 identified
connections open on telediag. Server and client share the machine's cores, so records
per CPU-second is the steadier figure; records/s is what a device fleet sees.

    .venv/bin/python bench/ingest_bench.py [--connections 200] [--warmup 3] [--measure 10] [--idle 10000]
        [--per-packet 1 10] [--only telediag|bare]

``--measure 5 --idle 0`` is a quick run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protocols import teltonika  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


def start_telediag(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    config = workdir / "bench.toml"
    config.write_text(  # every load comes from 127.0.0.1: lift the per-address cap above the idle test
        f'[listen]\nteltonika = ["tcp:{port}:interface=127.0.0.1:backlog=4096"]\n'
        "[ingest]\nmax_connections_per_address = 1000000\n"
        f'[api]\nlisten = "tcp:{free_port()}:interface=127.0.0.1"\n'  # not 8080: another service may hold it
    )
    data = workdir / "data"
    listening = data / "listening.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "telediag", "serve", "--config", str(config), "--data-dir", str(data),
         "--log-level", "warn"], env=env(), cwd=ROOT, stderr=open(workdir / "server.log", "ab"),
    )
    for _ in range(400):
        if listening.exists() and json.loads(listening.read_text())["pid"] == process.pid:
            return process
        time.sleep(0.05)
    raise RuntimeError((workdir / "server.log").read_text())


def start_bare(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port)],
                               env=env(), stdout=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.readline()
    return process


def measure(server: subprocess.Popen[bytes], port: int, connections: int, per_packet: int,
            warmup: float, seconds: float) -> dict[str, float]:
    """Records/s over the client's measured window, and the server's CPU time over the same window.

    The client says ``measuring`` when its window opens and prints its result when it closes; the
    server's CPU (every thread: reactor, SQLite writer, diagnostics) is read at those two lines.
    """
    client = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "load_client.py"), str(port), str(connections),
         str(per_packet), str(warmup), str(seconds)], env=env(), stdout=subprocess.PIPE,
    )
    assert client.stdout is not None
    watched = psutil.Process(server.pid)
    line = client.stdout.readline()
    if line.strip() != b"measuring":
        raise RuntimeError(f"load client did not start measuring: {line!r}")
    before = watched.cpu_times()
    line = client.stdout.readline()
    after = watched.cpu_times()
    client.wait(timeout=60)
    result = json.loads(line.decode())
    cpu_s = (after.user + after.system) - (before.user + before.system)
    result["server_cpu"] = cpu_s / result["seconds"]
    result["records_per_cpu_s"] = result["records"] / cpu_s if cpu_s > 0 else float("nan")
    return result


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def idle_memory(connections: int) -> dict[str, float]:
    """RSS growth of telediag per identified idle connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        server = start_telediag(Path(work), port)
        try:
            warm = []  # let the service allocate its steady-state structures first
            for i in range(200):
                warm.append(_identified_socket(port, f"99{i:013d}"))
            for sock in warm:
                sock.close()
            time.sleep(2.0)
            base = psutil.Process(server.pid).memory_info().rss
            sockets = [_identified_socket(port, f"35{i:013d}") for i in range(connections)]
            time.sleep(3.0)
            rss = psutil.Process(server.pid).memory_info().rss
            per_connection = (rss - base) / connections
            for sock in sockets:
                sock.close()
            return {"connections": connections, "base_rss_mb": base / 2**20, "rss_mb": rss / 2**20,
                    "bytes_per_connection": per_connection}
        finally:
            stop(server)


def _identified_socket(port: int, imei: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(teltonika.encode_imei(imei))
    if sock.recv(1) != b"\x01":
        raise RuntimeError("handshake refused")
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--measure", type=float, default=10.0)
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections for the memory test (0: skip)")
    parser.add_argument("--per-packet", type=int, nargs="+", default=[1, 10], help="records per packet")
    parser.add_argument("--only", choices=("bare", "telediag"), help="run one server only (no ratio)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; "
          f"{args.connections} connections, {args.measure:g} s measured after {args.warmup:g} s warm-up")
    names = (args.only,) if args.only else ("bare", "telediag")
    for per_packet in args.per_packet:
        results = {}
        for name in names:
            port = free_port()
            with tempfile.TemporaryDirectory() as work:
                server = start_bare(port) if name == "bare" else start_telediag(Path(work), port)
                try:
                    results[name] = measure(server, port, args.connections, per_packet, args.warmup, args.measure)
                finally:
                    stop(server)
        for name, result in results.items():
            print(f"{per_packet:>2} rec/packet  {name:<9} {result['records_per_s']:>9.0f} records/s  "
                  f"{result['records_per_cpu_s']:>9.0f} records/server CPU-s  "
                  f"(server cpu {result['server_cpu']:.2f}, client cpu {result['client_cpu']:.2f})")
        if len(results) == 2:
            bare, ours = results["bare"], results["telediag"]
            per_s = ours['records_per_s'] / bare['records_per_s']
            per_cpu_s = ours['records_per_cpu_s'] / bare['records_per_cpu_s']
            print(f"{per_packet:>2} rec/packet  ratio telediag/bare = {per_s:.2f} (records/s), "
                  f"{per_cpu_s:.2f} (per CPU-second)")
    if args.idle:
        memory = idle_memory(args.idle)
        print(f"idle: {memory['connections']} identified connections, RSS {memory['base_rss_mb']:.1f} -> "
              f"{memory['rss_mb']:.1f} MB, {memory['bytes_per_connection'] / 1024:.1f} KB per connection")


if __name__ == "__main__":
    main()
