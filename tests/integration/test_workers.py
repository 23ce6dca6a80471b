"""``[ingest] workers = 2`` over real sockets on 127.0.0.1 (SQLite; PostgreSQL on that run): the two
worker processes share the listening ports, every record a device got an ACK for is stored exactly
once, SIGTERM stops the parent and its workers cleanly, a killed worker is started again, and no
worker outlives its parent.
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest

from telediag.store.reader import Reader
from tests.integration.harness import ServerProcess, start_simulator
from tests.integration.teltonika_device import TeltonikaDevice
from tests.integration.test_commands_end_to_end import call, token
from tests.integration.test_commands_end_to_end import wait_for as wait_until
from tests.integration.test_ingest_end_to_end import simulator_args
from tests.stores import BACKEND, database_at

pytestmark = pytest.mark.slow

WORKERS = '[ingest]\nworkers = 2\n'
STARTUP_S = 60.0
"""Three processes import the service at once: on a busy machine that takes a while."""
STORE_CLOSED = re.compile(r"\[worker (\d) telediag\.store\.service\.StoreService#info\] store closed: (\d+) records")


def workers_of(server: ServerProcess) -> list[psutil.Process]:
    assert server.process is not None
    return psutil.Process(server.process.pid).children()


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {condition}")


def metric(server: ServerProcess, name: str, worker: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.api_port}/metrics", timeout=10).read().decode()
    match = re.search(rf'^{name}{{worker="{worker}"}} (\S+)$', text, re.M)
    assert match, f"no {name} for worker {worker} in /metrics"
    return float(match.group(1))


def assert_udp_sockets_reported_once_per_port(server: ServerProcess) -> None:
    """The workers' sockets of the Teltonika UDP port (one each) are one series per figure: the port's."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.api_port}/metrics", timeout=10).read().decode()
    port = server.ports["teltonika"]  # TCP and UDP share the number
    for name in ("telediag_udp_receive_drops_total", "telediag_udp_receive_buffer_bytes",
                 "telediag_udp_receive_buffer_requested_bytes"):
        series = re.findall(rf'^{name}{{port="{port}",protocol="teltonika"}} (\S+)$', text, re.M)
        assert len(series) == 1, f"{name}: {series}"
        assert float(series[0]) >= 0


def assert_acked_stored_exactly_once(acked_log: Path, database: Path) -> int:
    """Every (device, fix time) a device got an ACK for is in the store once; returns how many."""
    reader = Reader(database_at(database))
    try:
        imeis = [row[0] for row in reader.connection.execute("SELECT DISTINCT imei FROM records")]
        stored = Counter((imei, record["fix_time"]) for imei in imeis for record in reader.records(imei))
    finally:
        reader.close()
    acked = {(r["imei"], r["fix_time"]) for r in map(json.loads, acked_log.read_text().splitlines())}
    missing = acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged records missing, e.g. {sorted(missing)[:2]}"
    twice = [key for key, count in stored.items() if count > 1]
    assert not twice, f"stored twice: {twice[:5]}"
    return len(acked)


def run_devices(server: ServerProcess, tmp_path: Path, name: str, devices: str, duration: str) -> Path:
    acked_log = tmp_path / f"{name}.jsonl"
    simulator = start_simulator(
        simulator_args(server, acked_log, "--mix", devices, "--interval", "1", "--duration", duration,
                       "--records-per-packet", "2", "--drain-timeout", "20"),
        tmp_path / f"{name}.log",
    )
    try:
        assert simulator.wait(90) == 0, (tmp_path / f"{name}.log").read_text()
    finally:
        if simulator.poll() is None:
            simulator.kill()
    summary = (tmp_path / f"{name}.log").read_text().splitlines()[-1]
    assert "unacknowledged=0" in summary, summary
    return acked_log


def test_two_workers_share_the_ports_and_store_every_acknowledged_record_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml=WORKERS).start(timeout=STARTUP_S)
    try:
        workers = workers_of(server)
        assert len(workers) == 2, server.log()
        acked_log = run_devices(server, tmp_path, "fleet", "teltonika-tcp=50,teltonika-udp=20,gt06=30", "6")
        wait_for(lambda: all(metric(server, "telediag_ingest_worker_records", w) > 0 for w in (0, 1)))
        assert_udp_sockets_reported_once_per_port(server)
    finally:
        assert server.stop() == 0, server.log()
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE], "a worker outlived"
    assert assert_acked_stored_exactly_once(acked_log, server.database) >= 100 * 5
    log = server.log()
    stored = {int(index): int(n) for index, n in STORE_CLOSED.findall(log)}
    assert set(stored) == {0, 1} and all(stored.values()), f"each worker commits its own share: {stored}\n{log}"
    assert "Traceback" not in log, log[-3000:]
    if BACKEND == "sqlite":
        assert "commits take turns under SQLite's write lock" in log


def test_a_killed_worker_is_started_again_and_ingests(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml=WORKERS).start(timeout=STARTUP_S)
    try:
        first = {w.pid for w in workers_of(server)}
        victim = min(first)
        psutil.Process(victim).send_signal(signal.SIGKILL)
        def replaced() -> bool:
            now = {w.pid for w in workers_of(server)}
            return len(now) == 2 and victim not in now and len(now - first) == 1

        wait_for(replaced)
        wait_for(lambda: "listening on the shared sockets" in server.log().split("restarting it")[-1])
        wait_for(replaced)  # the new worker still runs once it listens
        acked_log = run_devices(server, tmp_path, "after", "teltonika-tcp=30,gt06=20", "4")
        assert sum(metric(server, "telediag_ingest_worker_restarts_total", w) for w in (0, 1)) == 1
    finally:
        assert server.stop() == 0, server.log()
    assert_acked_stored_exactly_once(acked_log, server.database)
    assert re.search(r"ingest worker \d \(pid \d+\) ended .*; restarting it in", server.log()), server.log()


def test_no_worker_outlives_its_parent(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml=WORKERS).start(timeout=STARTUP_S)
    workers = workers_of(server)
    assert len(workers) == 2
    server.kill()
    gone, alive = psutil.wait_procs(workers, timeout=20)
    for worker in alive:
        worker.kill()
    assert not alive, "workers still running after their parent was killed"


def test_with_ingest_workers_the_diagnostics_find_what_a_workers_tracker_reports(tmp_path: Path) -> None:
    """The workers' records reach the parent's diagnostics through their reports: read back from the
    store, a tracker whose external power is cut gets its finding, one healthy beside it none."""
    server = ServerProcess(tmp_path / "data", extra_toml=WORKERS + "[diagnostics]\nbatch_check_min_interval_s = 1\n")
    server.start(timeout=STARTUP_S)
    devices: list[TeltonikaDevice] = []
    try:
        technical = token(server, "technical")
        healthy = TeltonikaDevice("356307042441013", server.ports["teltonika"])
        cut = TeltonikaDevice("356307042441021", server.ports["teltonika"])
        devices = [healthy, cut]
        for n in range(4):
            healthy.send_record(ext_voltage_v=13.9, battery_voltage_v=4.1)
            cut.send_record(ext_voltage_v=13.9 if n < 2 else 0.0, battery_voltage_v=4.1)
            time.sleep(0.3)

        def findings() -> dict[str, set[str]]:
            status, body = call(server.api_port, "GET", "/api/v1/findings", technical)
            assert status == 200, body
            found: dict[str, set[str]] = {}
            for finding in body["findings"]:
                found.setdefault(finding["imei"], set()).add(finding["code"])
            return found

        found = wait_until("the power cut diagnosed", lambda: (f := findings()).get(cut.imei) and f, server)
        assert "EXTERNAL_POWER_LOST" in found[cut.imei]
        assert "EXTERNAL_POWER_LOST" not in found.get(healthy.imei, set())
    finally:
        for device in devices:
            device.sock.close()
        assert server.stop() == 0, server.log()
