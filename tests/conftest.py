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


# --- Dask: one local cluster (worker processes) for the whole session -------------------------


@pytest.fixture(scope="session")
def dask_cluster():
    """A `distributed.LocalCluster` with 2 single-threaded worker processes on 127.0.0.1,
    started once per session; tests point runs at it with `dask_address`."""
    import logging

    import distributed

    from fanflow.execution.executors.dask import _nanny_class

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        worker_class=_nanny_class(),
    )
    yield cluster
    cluster.close()


@pytest.fixture
def dask_address(dask_cluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs in this test use the session's Dask cluster (`orchestrator="dask"` still has to be
    chosen by the test)."""
    monkeypatch.setenv("FANFLOW_DASK_ADDRESS", dask_cluster.scheduler_address)
    return str(dask_cluster.scheduler_address)
