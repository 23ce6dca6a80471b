"""The data directory, the SQLite database with its WAL and the keys are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from telediag.api.pseudonyms import load_or_create_secret
from telediag.store.sqlite import connect
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.sqlite_only


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def open_umask() -> Iterator[None]:
    """The loosest umask: every file the code does not guard would come out world-readable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.slow
def test_serve_keeps_its_data_private(tmp_path: Path, open_umask: None) -> None:
    data_dir = tmp_path / "var"
    server = ServerProcess(data_dir).start()
    try:
        token = run_cli(["tokens", "create", "--role", "admin", "--data-dir", str(data_dir)])
        assert token.returncode == 0, token.stderr
        database = data_dir / "telediag.sqlite3"
        assert mode(data_dir) == 0o700
        for path in (database, database.with_name("telediag.sqlite3-wal"), database.with_name("telediag.sqlite3-shm"),
                     data_dir / "pseudonym.key"):
            assert path.exists(), path
            assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"
    finally:
        server.stop()


def test_files_left_open_by_an_older_version_are_closed_again(tmp_path: Path, open_umask: None) -> None:
    data_dir = tmp_path / "var"
    database = data_dir / "telediag.sqlite3"
    connect(database).close()
    load_or_create_secret(data_dir)
    os.chmod(data_dir, 0o755)
    for path in (database, data_dir / "pseudonym.key"):
        os.chmod(path, 0o644)
    db = connect(database)
    db.execute("CREATE TABLE scratch (x)")  # the WAL and shared memory exist while it is open
    load_or_create_secret(data_dir)
    try:
        assert mode(data_dir) == 0o700
        for path in data_dir.iterdir():
            assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"
    finally:
        db.close()
