"""Shared fixtures: every test gets its own fanflow home (SQLite store + artifact folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fanflow.metadata.engine import dispose_all

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def fanflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "fanflow-home"
    monkeypatch.setenv("FANFLOW_HOME", str(home))
    for name in (
        "FANFLOW_METADATA_URL",
        "FANFLOW_ARTIFACT_ROOT",
        "FANFLOW_ORCHESTRATOR",
        "FANFLOW_MAX_PARALLELISM",
    ):
        monkeypatch.delenv(name, raising=False)
    yield home
    dispose_all()


@pytest.fixture
def client():
    from fanflow.client import Client

    return Client()


def run_python(
    code: str, env_home: Path, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter against the store at `env_home`."""
    env = {**os.environ, "FANFLOW_HOME": str(env_home)}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(Path(__file__).parent),
    )
