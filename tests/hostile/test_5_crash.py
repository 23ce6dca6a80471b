"""``kill -9`` while a normal device and a poisoning one stream: after each restart every acknowledged
record is there (the absurd ones kept raw), and the API, the CLI and the sweep work on the result."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from protocols.teltonika.device import encode_imei
from tests.hostile import tally
from tests.hostile.payloads import NOW, _imei, fix, teltonika_tcp
from tests.integration.harness import ServerProcess, run_cli
from tests.stores import database_at

pytestmark = pytest.mark.slow

KILLS = 3
NORMAL, POISONER = _imei(9700), _imei(9701)


def stream(port: int, imei: str, poison: bool, acked: list[float], stop: threading.Event, start: int) -> None:
    """Send one record at a time, keep the fix time of each that got its ACK; stop at the first failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(encode_imei(imei))
            if sock.recv(1) != b"\x01":
                return
            for i in range(start, start + 100_000):
                if stop.is_set():
                    return
                when = NOW - 100_000 + i
                record = fix(imei, "teltonika", fix_time=when, lat=200.0 if poison else 52.0, speed_kmh=float(i % 90))
                sock.sendall(teltonika_tcp(imei, record, 0xFFFFFFFFFFFFFFFF - i if poison else None))
                answer = b""
                while len(answer) < 4:
                    chunk = sock.recv(4 - len(answer))
                    if not chunk:
                        return
                    answer += chunk
                if answer != b"\x00\x00\x00\x01":
                    return
                acked.append(when)
    except OSError:
        return


@pytest.mark.longest
def test_nothing_acknowledged_is_lost_across_kill_minus_nine(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    acked: dict[str, list[float]] = {NORMAL: [], POISONER: []}
    try:
        for round_number in range(KILLS):
            server.start()
            stop = threading.Event()
            threads = [threading.Thread(target=stream, args=(server.ports["teltonika"], imei, imei == POISONER,
                                                               acked[imei], stop, round_number * 10_000))
                       for imei in acked]
            for thread in threads:
                thread.start()
            time.sleep(1.5)
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(10)
        server.start()
        db_rows = {imei: {row[0] for row in server_rows(server, imei)} for imei in acked}
        stored_ms = {round(t * 1000) for t in db_rows[NORMAL]}
        missing_normal = [t for t in acked[NORMAL] if round(t * 1000) not in stored_ms]
        poisoned_count = len(server_rows(server, POISONER))  # rows: their raw times collapse in a float
        tally.count("crash", attempts=len(acked[NORMAL]) + len(acked[POISONER]),
                    failures=len(missing_normal) + max(0, len(acked[POISONER]) - poisoned_count))
        assert acked[NORMAL] and acked[POISONER]
        assert not missing_normal, f"{len(missing_normal)} acknowledged records lost"
        assert poisoned_count >= len(acked[POISONER])
        for args in (["records", POISONER], ["selfcheck", POISONER], ["devices", "list"]):
            done = run_cli([*args, "--data-dir", str(server.data_dir)])
            assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    finally:
        if server.process is not None and server.process.poll() is None:
            assert server.stop() == 0, server.log()


def server_rows(server: ServerProcess, imei: str) -> list[tuple[float]]:
    """Fix times of a device's stored records; for the poisoned ones, the raw values behind them."""
    database = database_at(server.database)
    db = database.connect(readonly=True)
    try:
        if imei == NORMAL:
            return db.execute("SELECT fix_time FROM records WHERE imei = ?", (imei,)).fetchall()
        raw = database.dialect.json_field("attributes", "raw_fix_time")
        return db.execute(f"SELECT {raw} FROM records WHERE imei = ? AND fix_time IS NULL AND valid = 0",
                          (imei,)).fetchall()
    finally:
        db.close()
