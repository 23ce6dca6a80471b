"""``twistd -n telediag``: the plugin runs the same service tree as ``telediag serve`` (listeners,
``listening.json``, the API) and stops cleanly on SIGTERM, committing what it received."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.integration.harness import PROJECT_ROOT, ServerProcess, python_env
from tests.stores import store_is_intact

pytestmark = pytest.mark.slow


class TwistdProcess(ServerProcess):
    """The server under twistd, in the foreground, with no pid file."""

    def command(self) -> list[str]:
        twistd = Path(sys.executable).with_name("twistd")
        return [str(twistd), "-n", "--pidfile=", "telediag", "--config", str(self.config_path),
                "--data-dir", str(self.data_dir)]


def test_twistd_serves_the_tree_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = TwistdProcess(tmp_path / "data").start()
    try:
        listening = json.loads((server.data_dir / "listening.json").read_text())
        assert {(entry["protocol"], entry["transport"]) for entry in listening["listeners"]} == {
            ("teltonika", "tcp"), ("teltonika", "udp"), ("gt06", "tcp"), ("http-api", "tcp")}
        with urllib.request.urlopen(f"http://127.0.0.1:{server.api_port}/healthz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        status = server.stop()
    log = server.log()
    assert status in (0, -signal.SIGTERM), log[-3000:]  # twistd ends by the signal that stopped it
    assert "Traceback" not in log, log[-3000:]
    assert "store closed" in log and "Server Shut Down." in log, log[-3000:]
    assert store_is_intact(server.database)  # the store was closed cleanly and opens again


def test_twistd_refuses_a_bad_config_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[store]\nbackend = "mysql"\n')
    result = subprocess.run(
        [str(Path(sys.executable).with_name("twistd")), "-n", "--pidfile=", "telediag", "--config", str(config),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, env=python_env(), cwd=PROJECT_ROOT,
    )
    assert result.returncode != 0
    assert "[store] backend must be one of 'sqlite', 'postgresql', got 'mysql'" in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()
