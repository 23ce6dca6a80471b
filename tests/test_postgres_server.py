"""The throwaway PostgreSQL of the tests cleans up after itself: a stopped server's folder goes, and the
folders of servers whose test process was killed are swept by the next one, never a running one's."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.postgres_server import FOLDER_PREFIX, OWNER_FILE, SWEEPING, PostgresServer, _sweep_abandoned


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _server_folder(parent: Path, name: str, owner: int | None) -> Path:
    folder = parent / f"{FOLDER_PREFIX}{name}"
    (folder / "data" / "base").mkdir(parents=True)
    (folder / "data" / "base" / "1234").write_bytes(b"\0" * 8192)
    if owner is not None:
        (folder / OWNER_FILE).write_text(str(owner))
    return folder


def test_folders_of_killed_servers_are_swept_and_live_ones_kept(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = _dead_pid()
    _server_folder(tmp_path, "abandoned", dead)
    _server_folder(tmp_path, f"{SWEEPING}{dead}-{FOLDER_PREFIX}left-half-removed", None)
    running = _server_folder(tmp_path, "running", os.getpid())
    starting = _server_folder(tmp_path, "starting", None)  # its owner file is not written yet
    being_removed = _server_folder(tmp_path, f"{SWEEPING}{os.getpid()}-{FOLDER_PREFIX}other", None)
    unrelated = tmp_path / "pytest-of-someone"
    unrelated.mkdir()

    _sweep_abandoned()

    assert sorted(tmp_path.iterdir()) == sorted([running, starting, being_removed, unrelated])


@pytest.mark.slow
def test_a_stopped_server_s_folder_is_removed() -> None:
    server = PostgresServer()
    server.fresh_database(migrated=True)
    assert (server.data_dir / "base").is_dir()
    server.stop()
    assert server.process is None
    deadline = time.monotonic() + 30
    while server.folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.folder.exists()
