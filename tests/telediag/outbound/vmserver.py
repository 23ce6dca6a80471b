"""A real VictoriaMetrics on 127.0.0.1 for the InfluxDB export tests (it accepts ``/api/v2/write``).

Flags (VictoriaMetrics 1.79, the Debian package that ``make servers`` installs):

* ``-retentionPeriod=100y``: keep old fix times (a tracker whose clock reset to 2000); the default one
  month would silently drop them.
* ``-dedup.minScrapeInterval=1ms``: keep one sample per series and millisecond, the counterpart of
  InfluxDB overwriting a point with the same measurement, tags and time. Without it VictoriaMetrics
  keeps every copy of a re-sent point.
* ``-search.latencyOffset=0s`` and ``-search.disableCache``: queries see fresh samples at once (the
  default hides the last 30 s and caches results). Freshly written samples become searchable after
  ``/internal/force_flush``, which :meth:`VmServer.samples` calls first.

Stopping sends SIGTERM, on which VictoriaMetrics flushes what it accepted. (After SIGKILL it may lose
the last second of samples it already answered 204 for: its write path buffers in memory.)
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.integration.harness import free_port

BINARY = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
FLAGS = (
    "-retentionPeriod=100y",
    "-dedup.minScrapeInterval=1ms",
    "-search.latencyOffset=0s",
    "-search.disableCache",
    "-loggerLevel=WARN",
)

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""(metric name, sorted labels without ``__name__``)."""


def available() -> bool:
    """Whether the VictoriaMetrics binary is installed (``make servers`` installs it)."""
    return Path(BINARY).exists()


class VmServer:
    """One victoria-metrics process; start, stop and start again on the same port and data path."""

    def __init__(self, data_path: Path, port: int | None = None) -> None:
        self.data_path = data_path
        self.port = port or free_port()
        self.log_path = data_path.parent / f"{data_path.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> VmServer:
        """Start and wait until ``/health`` answers."""
        assert self.process is None, "already running"
        command = [
            BINARY, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.data_path}", *FLAGS,
        ]
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"victoria-metrics exited at start: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.read().strip() == b"OK":
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"victoria-metrics did not answer within {timeout} s: {self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (VictoriaMetrics flushes), then SIGKILL if it takes longer than ``timeout``."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _get(self, path: str, **params: str) -> bytes:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            return response.read()

    def force_flush(self) -> None:
        """Make every accepted sample searchable now."""
        self._get("/internal/force_flush")

    def export(self, match: str = '{__name__=~"telemetry_.*"}') -> list[dict[str, Any]]:
        """Raw samples of every series matching ``match`` (``/api/v1/export``, one JSON object a line)."""
        self.force_flush()
        body = self._get("/api/v1/export", **{"match[]": match})
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def samples(self, match: str = '{__name__=~"telemetry_.*"}') -> dict[SeriesKey, list[tuple[int, float]]]:
        """Series -> [(timestamp ms, value)] in time order, every stored sample (duplicates included)."""
        series: dict[SeriesKey, list[tuple[int, float]]] = defaultdict(list)
        for entry in self.export(match):
            labels = dict(entry["metric"])
            name = labels.pop("__name__")
            key = (name, tuple(sorted(labels.items())))
            series[key].extend(zip(entry["timestamps"], entry["values"], strict=True))
        return {key: sorted(values) for key, values in series.items()}

    def query(self, promql: str, at: float) -> list[dict[str, Any]]:
        """An instant query (``/api/v1/query``) at ``at`` epoch seconds."""
        body = json.loads(self._get("/api/v1/query", query=promql, time=f"{at:.3f}"))
        assert body["status"] == "success", body
        return body["data"]["result"]
