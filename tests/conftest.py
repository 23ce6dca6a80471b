"""Shared fixtures: where the conformance vectors live, and a free port finder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stores import BACKEND, database_at

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VECTORS_DIR = Path(os.environ.get("TELEDIAG_VECTORS", PROJECT_ROOT.parent / "shared" / "vectors"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under ``CI=true`` the conformance vectors are required: a CI run without them would report
    green while skipping every conformance test."""
    if os.environ.get("CI", "").lower() == "true" and not VECTORS_DIR.is_dir():
        raise pytest.UsageError(f"CI=true and the conformance vectors are missing at {VECTORS_DIR} "
                                "(expected ../shared/vectors beside the checkout, or set TELEDIAG_VECTORS)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, then the slow ones, each in collection order: with several worker
    processes the long ones start together at the beginning instead of one of them ending the run alone."""
    items.sort(key=lambda item: (item.get_closest_marker("longest") is None, item.get_closest_marker("slow") is None))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N`` hands whole test modules to the workers in the order above (``tests.xdist_scheduling``):
    the longest run side by side, and no module's fixtures start twice; other ``--dist`` modes are
    xdist's own."""
    if config.getvalue("dist") != "load":
        return None
    from tests.xdist_scheduling import ModuleScheduling

    return ModuleScheduling(config, log)


@pytest.fixture(autouse=True)
def _stores_on_this_runs_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the PostgreSQL run (``TELEDIAG_TEST_BACKEND=postgresql``), a store the code opens from a
    config naming its SQLite file is the PostgreSQL database that stands for that file
    (``tests.stores``): services built in the test process run on PostgreSQL unchanged."""
    if BACKEND == "postgresql":
        import telediag.store.sqlite as sqlite_store

        monkeypatch.setattr(sqlite_store, "SQLiteDatabase",
                            lambda path, synchronous="NORMAL": database_at(path))


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """``../shared/vectors`` beside the checkout (or $TELEDIAG_VECTORS); outside CI, tests that need
    them are skipped when they are absent."""
    if not VECTORS_DIR.is_dir():
        pytest.skip(f"conformance vectors not found at {VECTORS_DIR} (expected ../shared/vectors)")
    return VECTORS_DIR


@pytest.fixture(scope="session")
def official_decoded(vectors_dir: Path) -> dict[str, Any]:
    """``official_examples_decoded.json``: the vendor examples with every field decoded."""
    return json.loads((vectors_dir / "official_examples_decoded.json").read_text())


def traccar_vectors(vectors_dir: Path, protocol: str) -> Iterator[dict[str, Any]]:
    """The Traccar test payloads of one protocol, one dict each."""
    with open(vectors_dir / "traccar_vectors.jsonl", encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            if entry["protocol"] == protocol:
                yield entry


_REPORTED_RATES: list[str] = []


def report_rate(line: str) -> None:
    """Print a conformance figure and repeat it in the run's closing summary (visible in CI)."""
    print(line)
    _REPORTED_RATES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show every conformance rate the tests measured, even when output is captured."""
    if _REPORTED_RATES:
        terminalreporter.section("conformance rates")
        for line in _REPORTED_RATES:
            terminalreporter.write_line(line)
