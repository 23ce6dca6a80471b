"""The server and the simulator over real sockets on 127.0.0.1: nothing acknowledged is lost.

100 simulated devices speak Teltonika over TCP and UDP and GT06 over TCP; every record a device got
an ACK for must be in the store with exactly the values the device sent. Then the server is killed
with SIGKILL mid-stream and restarted: after the devices resend, nothing acknowledged is missing and
nothing is stored twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from telediag.config.core import DATABASE_FILE
from telediag.store.reader import Reader
from tests.integration.harness import ServerProcess, run_cli, start_simulator
from tests.stores import absent_store, database_at

pytestmark = pytest.mark.slow


def simulator_args(server: ServerProcess, acked_log: Path, *extra: str) -> list[str]:
    return [
        "--teltonika-port", str(server.ports["teltonika"]), "--gt06-port", str(server.ports["gt06"]),
        "--acked-log", str(acked_log), "--progress-every", "1", *extra,
    ]


def stored_by_key(database: Path) -> dict[tuple[str, str], list[dict]]:
    """Every stored record in the normalised form, grouped by (imei, fix_time)."""
    reader = Reader(database_at(database))
    imeis = [row[0] for row in reader.connection.execute("SELECT DISTINCT imei FROM records")]
    grouped: dict[tuple[str, str], list[dict]] = {}
    for imei in imeis:
        for record in reader.records(imei):
            grouped.setdefault((imei, record["fix_time"]), []).append(record)
    reader.close()
    return grouped


def assert_acked_records_stored_exactly(acked_log: Path, database: Path) -> int:
    acked = [json.loads(line) for line in acked_log.read_text().splitlines()]
    stored = stored_by_key(database)
    missing, different = [], []
    for record in acked:
        candidates = stored.get((record["imei"], record["fix_time"]), [])
        if not candidates:
            missing.append(record)
            continue
        comparable = [{k: v for k, v in c.items() if k != "server_time"} for c in candidates]
        if record not in comparable:
            different.append((record, comparable))
    assert not missing, f"{len(missing)} acknowledged records missing, e.g. {missing[:2]}"
    assert not different, f"{len(different)} stored with other values, e.g. {different[:1]}"
    return len(acked)


def assert_nothing_stored_twice(database: Path) -> None:
    db = database_at(database).connect(readonly=True)
    twice = db.execute(
        "SELECT imei, fix_time, count(*) FROM records GROUP BY imei, fix_time HAVING count(*) > 1"
    ).fetchall()
    db.close()
    assert not twice, f"stored twice: {twice[:5]}"


def test_hundred_devices_over_both_protocols_and_transports(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    acked_log = tmp_path / "acked.jsonl"
    try:
        simulator = start_simulator(
            simulator_args(server, acked_log, "--mix", "teltonika-tcp=40,teltonika-udp=30,gt06=30",
                           "--interval", "1", "--duration", "6", "--records-per-packet", "2",
                           "--drain-timeout", "20"),
            tmp_path / "sim.log",
        )
        assert simulator.wait(90) == 0, (tmp_path / "sim.log").read_text()
    finally:
        assert server.stop() == 0, server.log()
    summary = (tmp_path / "sim.log").read_text().splitlines()[-1]
    assert "unacknowledged=0" in summary, summary
    count = assert_acked_records_stored_exactly(acked_log, server.database)
    assert count >= 100 * 5, summary
    protocols = {json.loads(line)["protocol"] for line in acked_log.read_text().splitlines()}
    assert protocols == {"teltonika", "gt06"}
    assert_nothing_stored_twice(server.database)
    reader = Reader(database_at(server.database))
    first = json.loads(acked_log.read_text().splitlines()[0])
    state = reader.device_state(first["imei"])
    assert state is not None and state["last_fix_time"] is not None and state["connected"] == 0


def test_kill_9_mid_stream_loses_nothing_acknowledged_and_stores_nothing_twice(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    acked_log = tmp_path / "acked.jsonl"
    simulator = start_simulator(
        simulator_args(server, acked_log, "--mix", "teltonika-tcp=15,teltonika-udp=10,gt06=15",
                       "--interval", "1", "--duration", "9", "--records-per-packet", "3",
                       "--max-reconnect-delay", "0.5", "--drain-timeout", "30"),
        tmp_path / "sim.log",
    )
    try:
        time.sleep(3.5)
        server.kill()
        time.sleep(1.0)
        server.start()
        assert simulator.wait(90) == 0, (tmp_path / "sim.log").read_text()
    finally:
        if simulator.poll() is None:
            simulator.kill()
        assert server.stop() == 0, server.log()
    log = (tmp_path / "sim.log").read_text()
    summary = log.splitlines()[-1]
    assert "unacknowledged=0" in summary, summary
    resent = int(summary.split("resent=")[1].split()[0])
    assert resent > 0, f"the kill should have forced resends: {summary}"
    assert_acked_records_stored_exactly(acked_log, server.database)
    assert_nothing_stored_twice(server.database)


def test_records_command_prints_jsonl_and_csv(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    acked_log = tmp_path / "acked.jsonl"
    try:
        simulator = start_simulator(
            simulator_args(server, acked_log, "--mix", "gt06=1,teltonika-tcp=1", "--interval", "1",
                           "--duration", "2.5"),
            tmp_path / "sim.log",
        )
        assert simulator.wait(60) == 0
    finally:
        server.stop()
    acked = [json.loads(line) for line in acked_log.read_text().splitlines()]
    imei = acked[0]["imei"]
    common = ["--config", str(server.config_path), "--data-dir", str(server.data_dir)]
    result = run_cli(["records", imei, *common])
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["fix_time"] for r in lines] == sorted(r["fix_time"] for r in acked if r["imei"] == imei)
    assert all(r["fix_time"].endswith("Z") and r["server_time"].endswith("Z") for r in lines)
    window = run_cli(["records", imei, *common, "--since", lines[1]["fix_time"], "--until", lines[2]["fix_time"]])
    assert [json.loads(line)["fix_time"] for line in window.stdout.splitlines()] == [lines[1]["fix_time"]]
    as_csv = run_cli(["records", imei, *common, "--format", "csv"])
    header = as_csv.stdout.splitlines()[0].split(",")
    assert header[:4] == ["imei", "protocol", "fix_time", "server_time"]
    assert len(as_csv.stdout.splitlines()) == len(lines) + 1
    bad = run_cli(["records", imei, *common, "--since", "yesterday"])
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
    absent_store(tmp_path / "nothing" / DATABASE_FILE)
    missing = run_cli(["records", imei, "--data-dir", str(tmp_path / "nothing")])
    assert missing.returncode == 1 and "telediag serve" in missing.stderr
