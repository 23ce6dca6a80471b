"""Every protocol driven by the generic simulator client, against the real server on 127.0.0.1: each
acknowledged (or, for protocols without position ACKs, delivered) record is stored with exact values."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.fleet import CODEC_KINDS
from tests.integration.harness import ServerProcess, start_simulator
from tests.integration.test_ingest_end_to_end import assert_acked_records_stored_exactly

pytestmark = pytest.mark.slow


def test_every_codec_protocol_end_to_end(tmp_path: Path) -> None:
    assert {"gps103", "tk103", "osmand"} <= set(CODEC_KINDS)
    server = ServerProcess(tmp_path / "data", also_listen=CODEC_KINDS).start()
    acked_log = tmp_path / "acked.jsonl"
    try:
        ports = [arg for kind in CODEC_KINDS for arg in ("--port", f"{kind}={server.ports[kind]}")]
        sim = start_simulator(
            ["--mix", ",".join(f"{kind}=3" for kind in CODEC_KINDS), *ports, "--interval", "0.5",
             "--duration", "4", "--drain-timeout", "10", "--acked-log", str(acked_log), "--progress-every", "1"],
            tmp_path / "sim.log",
        )
        assert sim.wait(60) == 0, (tmp_path / "sim.log").read_text()
    finally:
        assert server.stop() == 0, server.log()
    count = assert_acked_records_stored_exactly(acked_log, server.database)
    assert count >= len(CODEC_KINDS) * 3 * 5
