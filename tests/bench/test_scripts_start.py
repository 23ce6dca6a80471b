"""Every benchmark still starts: its imports resolve and its options parse (``--help``), so a change
in the code it measures cannot leave a benchmark broken until someone next runs it."""

from __future__ import annotations

import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
CHILD_PROGRAMS = frozenset({"bare_server.py", "load_client.py"})
"""Started by ingest_bench.py with positional arguments; they have no --help."""
SCRIPTS = sorted(path.name for path in BENCH.glob("*.py") if path.name not in CHILD_PROGRAMS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_starts(script: str) -> None:
    answer = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True,
                            timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert "usage" in answer.stdout.lower()


@pytest.mark.parametrize("script", sorted(CHILD_PROGRAMS))
def test_child_program_compiles(script: str, tmp_path: Path) -> None:
    py_compile.compile(str(BENCH / script), cfile=str(tmp_path / "compiled.pyc"), doraise=True)
