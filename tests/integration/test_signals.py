"""Ctrl-C in a terminal signals every process of the group, and scripts send SIGTERM on top: the server
and the simulator stop once, cleanly, without a ReactorNotRunning traceback."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.harness import ServerProcess, start_simulator

pytestmark = pytest.mark.slow


def test_server_and_simulator_stop_cleanly_on_ctrl_c_then_sigterm(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    sim = start_simulator(["--devices", "3", "--interval", "0.2", "--duration", "60",
                           "--teltonika-port", str(server.ports["teltonika"]),
                           "--gt06-port", str(server.ports["gt06"])], tmp_path / "sim.log")
    try:
        time.sleep(2.0)
        for process in (sim, server.process):
            assert process is not None and process.poll() is None
            process.send_signal(signal.SIGINT)
            process.send_signal(signal.SIGTERM)
        assert server.process is not None and server.process.wait(20) == 0, server.log()
        sim.wait(20)
    finally:
        for process in (sim, server.process):
            if process is not None and process.poll() is None:
                process.kill()
    for log in (server.log(), (tmp_path / "sim.log").read_text()):
        assert "Traceback" not in log and "ReactorNotRunning" not in log, log[-2000:]
