"""Under ``CI=true`` a run without the conformance vectors fails instead of skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def _pytest(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELEDIAG_VECTORS": str(tmp_path / "absent"), **environment}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/protocols/test_gl200_traccar.py"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_missing_vectors_fail_a_ci_run(tmp_path: Path) -> None:
    run = _pytest(tmp_path, CI="true")
    assert run.returncode != 0
    assert "conformance vectors are missing" in run.stdout + run.stderr


def test_missing_vectors_skip_outside_ci(tmp_path: Path) -> None:
    run = _pytest(tmp_path, CI="")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skipped" in run.stdout and "passed" not in run.stdout
