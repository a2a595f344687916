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
        "FANFLOW_ARTIFACT_STORAGE_OPTIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    yield home
    dispose_all()


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 (a separate process), shared by the session's tests."""
    from services import moto_server

    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_database():
    """A PostgreSQL database of this test session, dropped at its end."""
    from services import postgres_database

    with postgres_database() as database:
        yield database


@pytest.fixture
def postgres_url(postgres_database, request):
    """A metadata URL for a fresh, empty schema of the session's PostgreSQL database."""
    import uuid

    schema = f"t_{uuid.uuid4().hex[:16]}"
    postgres_database.execute(f'CREATE SCHEMA "{schema}"')
    yield postgres_database.url_for(schema)
    dispose_all()
    postgres_database.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_backend(request, monkeypatch):
    """Run the test against SQLite (the default store) and against PostgreSQL."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("FANFLOW_METADATA_URL", url)
    return request.param


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
    """The `distributed.LocalCluster` fanflow starts for a run (`local_cluster`), with 2
    single-threaded worker processes on 127.0.0.1, started once per session; tests point runs
    at it with `dask_address`."""
    from fanflow.execution.executors.dask import local_cluster

    cluster = local_cluster(n_workers=2)
    yield cluster
    cluster.close()


@pytest.fixture
def dask_address(dask_cluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs in this test use the session's Dask cluster (`orchestrator="dask"` still has to be
    chosen by the test)."""
    monkeypatch.setenv("FANFLOW_DASK_ADDRESS", dask_cluster.scheduler_address)
    return str(dask_cluster.scheduler_address)
