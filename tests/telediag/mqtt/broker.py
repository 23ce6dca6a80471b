"""A real Mosquitto on 127.0.0.1 for the MQTT tests: a free port, a generated config, persistence in
a temporary directory, started and stopped (or killed, or restarted on the same port and persistence
directory) by the tests themselves."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import free_port

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def mosquitto_binary() -> str | None:
    """The broker executable, or None when it is not installed (``make servers`` installs it)."""
    for candidate in MOSQUITTO_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mosquitto")


def require_mosquitto() -> str:
    """The broker executable; skips the test when it is missing."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed; run `make servers` (scripts/install-servers.sh)")
    return binary


class Mosquitto:
    """One broker process with its own port, config file, persistence directory and log."""

    def __init__(self, directory: Path | None = None, port: int | None = None) -> None:
        self.binary = require_mosquitto()
        self.directory = Path(directory or tempfile.mkdtemp(prefix="telediag-mosquitto-"))
        self._own_directory = directory is None
        self.port = port or free_port()
        self.persistence = self.directory / "persistence"
        self.persistence.mkdir(parents=True, exist_ok=True)
        self.config = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        user = pwd.getpwuid(os.getuid()).pw_name  # as root, mosquitto would switch to its own user
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.persistence}/\n"
            f"user {user}\n"
            "max_queued_messages 100000\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start and wait until the port accepts connections."""
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited early ({self.process.returncode}):\n{error}\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (mosquitto writes its persistence file) and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._close()

    def kill(self) -> None:
        """SIGKILL: no goodbye, no persistence written."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close()

    def restart(self) -> None:
        """Stop and start again on the same port with the same persistence directory."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and remove the directory this broker created."""
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        """What the broker logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _close(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A running broker for a plain pytest test, stopped and removed afterwards."""
    broker = Mosquitto().start()
    yield broker
    broker.cleanup()
