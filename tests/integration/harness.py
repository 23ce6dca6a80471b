"""Real processes on 127.0.0.1 for integration tests: the telediag server and the simulator."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.stores import BACKEND, store_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


PORTS_FOR_SERVERS = range(20_000, 32_000)
"""Below Linux's ephemeral range (32768-60999 by default): a port picked here is not taken, between the
pick and the server's bind, by some client connection's local end, as a port from bind(0) can be."""


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 right now, outside the ephemeral range."""
    for _ in range(200):
        port = random.choice(PORTS_FOR_SERVERS)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.bind(("127.0.0.1", port))
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found")


PORT_ATTEMPTS = 3
"""Starts of one server with freshly picked ports before a taken port fails the test."""


class PortTaken(RuntimeError):
    """The server could not bind a port: another process took it after it was picked."""


def python_env() -> dict[str, str]:
    """The environment for child processes: the project importable, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ServerProcess:
    """``telediag serve`` in a child process with its own config, data dir and free ports."""

    def __init__(self, data_dir: Path, ports: dict[str, int] | None = None, extra_toml: str = "",
                 also_listen: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.ports_chosen_here = ports is None
        """Ports this harness picked (not the caller): picked again when another process took one first."""
        self.ports = ports or {"teltonika": free_port(), "gt06": free_port()}
        for protocol in also_listen:  # more TCP protocols, each on a free port
            self.ports[protocol] = free_port()
        self.also_listen = also_listen
        self.extra_toml = with_store_section(data_dir, extra_toml)
        self.config_path = data_dir.parent / f"{data_dir.name}.toml"
        self.write_config()
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        """The server's TOML: its device ports, the API on a port of its own choosing, the extra lines."""
        t, g = self.ports["teltonika"], self.ports["gt06"]
        others = "".join(f'{name} = ["tcp:{self.ports[name]}:interface=127.0.0.1"]\n' for name in self.also_listen)
        self.config_path.write_text(
            "[listen]\n"
            f'teltonika = ["tcp:{t}:interface=127.0.0.1", "udp:{t}:interface=127.0.0.1"]\n'
            f'gt06 = ["tcp:{g}:interface=127.0.0.1"]\n' + others +
            '[api]\nlisten = "tcp:0:interface=127.0.0.1"\n' + self.extra_toml
        )

    def command(self) -> list[str]:
        """How the server is run: ``telediag serve`` with this config and data directory."""
        return [sys.executable, "-m", "telediag", "serve", "--config", str(self.config_path),
                "--data-dir", str(self.data_dir)]

    def start(self, timeout: float = 20.0, attempts: int = PORT_ATTEMPTS) -> ServerProcess:
        """Start and wait until every listener is bound. A port picked here that another process bound
        between the pick and the server's bind (tests run side by side) is picked again."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if not self.ports_chosen_here or attempt == attempts:
                    raise
                self.ports = {name: free_port() for name in self.ports}
                self.write_config()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> ServerProcess:
        listening = self.data_dir / "listening.json"
        if listening.exists():
            listening.unlink()
        logged_before = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=python_env(), cwd=PROJECT_ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "Address already in use" in self.log_path.read_bytes()[logged_before:].decode(errors="replace"):
                    raise PortTaken(f"a port was taken before the server bound it:\n{self.log()}")
                raise RuntimeError(f"server exited early:\n{self.log()}")
            if listening.exists():
                info = json.loads(listening.read_text())
                if info["pid"] == self.process.pid:
                    return self
            time.sleep(0.05)
        self.process.kill()  # not left running (with its ingest workers) after the test gave up on it
        self.process.wait(10)
        raise RuntimeError(f"server did not start listening:\n{self.log()}")

    def log(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """``kill -9``: no flush, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    @property
    def api_port(self) -> int:
        """The HTTP API's bound port, from ``listening.json`` (the API listens on port 0)."""
        info = json.loads((self.data_dir / "listening.json").read_text())
        return next(entry["port"] for entry in info["listeners"] if entry["protocol"] == "http-api")

    @property
    def database(self) -> Path:
        """The SQLite file of this server."""
        return self.data_dir / "telediag.sqlite3"


def with_store_section(data_dir: Path, toml: str) -> str:
    """``toml`` with the ``[store]`` lines of this run's backend (``tests.stores``) merged in."""
    store = store_config(data_dir)
    if not store:
        return toml
    if "[store]\n" in toml:
        return toml.replace("[store]\n", store, 1)
    return toml + "\n" + store


def _with_store_config(args: Sequence[str]) -> list[str]:
    """On the PostgreSQL run, a CLI call naming only ``--data-dir`` also gets a config naming the
    store's database (a call with its own ``--config`` names it there)."""
    args = list(args)
    if BACKEND == "sqlite" or "--config" in args or "--data-dir" not in args:
        return args
    data_dir = Path(args[args.index("--data-dir") + 1])
    config = data_dir.parent / f"{data_dir.name}.store.toml"
    config.write_text(store_config(data_dir))
    return [*args, "--config", str(config)]


def run_cli(args: Sequence[str], timeout: float = 60.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``python -m telediag ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "telediag", *_with_store_config(args)], capture_output=True, text=True,
        timeout=timeout,
        env=python_env(), cwd=PROJECT_ROOT, **kwargs,
    )


def start_simulator(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m simulators ARGS`` with its output going to ``log_path``."""
    return subprocess.Popen(
        [sys.executable, "-m", "simulators", *args], stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT, env=python_env(), cwd=PROJECT_ROOT,
    )
