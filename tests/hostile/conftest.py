"""One hostile server for the whole package: started once, poisoned once, then examined from every side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import tally
from tests.hostile.seed import seed
from tests.hostile.server import HostileServer, start_hostile_server


@pytest.fixture(scope="package")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileServer]:
    root: Path = tmp_path_factory.mktemp("hostile")
    server = start_hostile_server(root)
    try:
        server.customer_ticket = seed(server)
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The attempts and failures per category, visible in CI whatever the capture settings."""
    found = tally.lines()
    if found:
        terminalreporter.section("hostile input")
        for line in found:
            terminalreporter.write_line(line)
