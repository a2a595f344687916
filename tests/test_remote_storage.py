"""Whole pipelines with metadata in PostgreSQL and artifacts in S3 (moto on loopback), read back
by a Client in another process that knows only the URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from fanflow import pipeline, step
from fanflow.client import Client

pytestmark = pytest.mark.slow


@step(enable_cache=False)
def load_rows(count: int) -> list[int]:
    return list(range(count))


@step(enable_cache=False)
def score(row: int) -> dict[str, int]:
    print(f"scoring row {row}")
    return {"row": row, "score": row * row}


@step(enable_cache=False)
def summarize(scores: list[dict[str, int]]) -> int:
    return sum(item["score"] for item in scores)


@pipeline(enable_cache=False, name="remote_static")
def remote_static() -> None:
    summarize([score(i, id=f"score_{i}") for i in range(4)])


@pipeline(enable_cache=False, name="remote_dynamic", dynamic=True)
def remote_dynamic() -> None:
    summarize(score.map(load_rows(6)))


READER = textwrap.dedent(
    """
    import json, sys
    from fanflow.client import Client

    client = Client()
    found = {}
    for name in sys.argv[1:]:
        run = client.get_pipeline_run(name)
        found[name] = {
            "status": run.status,
            "outputs": {
                step_name: view.output.load()
                for step_name, view in run.steps.items()
            },
            "logs": {
                step_name: str(view.logs)
                for step_name, view in run.steps.items()
                if view.logs is not None
            },
        }
    print(json.dumps(found, sort_keys=True))
    """
)


@pytest.fixture
def remote_setup(
    s3_server: Any, postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, str]:
    root = f"s3://fanflow-test/{uuid.uuid4().hex}/artifacts"
    options_file = tmp_path / "storage-options.json"
    options_file.write_text(s3_server.storage_options_json())
    env = {
        "FANFLOW_METADATA_URL": postgres_url,
        "FANFLOW_ARTIFACT_ROOT": root,
        "FANFLOW_ARTIFACT_STORAGE_OPTIONS": s3_server.storage_options_json(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # the reader gets the options from a file, the other documented form
    return {**env, "FANFLOW_ARTIFACT_STORAGE_OPTIONS": str(options_file)}


@pytest.mark.parametrize("orchestrator", ["local", "processes"])
def test_pipelines_on_postgres_and_s3_read_back_elsewhere(
    remote_setup: dict[str, str],
    orchestrator: str,
    fanflow_home: Path,
    tmp_path: Path,
    s3_server: Any,
) -> None:
    static = remote_static.with_options(orchestrator=orchestrator)()
    dynamic = remote_dynamic.with_options(orchestrator=orchestrator)()
    assert static.status == dynamic.status == "completed"
    assert static.steps["summarize"].output.load() == sum(i * i for i in range(4))
    uris = [view.output.uri for view in static.steps.values()]
    assert all(uri.startswith(remote_setup["FANFLOW_ARTIFACT_ROOT"]) for uri in uris)
    assert not (fanflow_home / "artifacts").exists()

    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "FANFLOW_HOME": str(elsewhere / "home"),
        **remote_setup,
    }
    result = subprocess.run(
        [sys.executable, "-c", READER, static.name, dynamic.name],
        env=env,
        cwd=str(elsewhere),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])

    static_found = found[static.name]
    assert static_found["status"] == "completed"
    assert static_found["outputs"] == {
        **{f"score_{i}": {"row": i, "score": i * i} for i in range(4)},
        "summarize": 14,
    }
    assert static_found["logs"]["score_2"].strip().endswith("scoring row 2")

    dynamic_found = found[dynamic.name]
    assert dynamic_found["status"] == "completed"
    outputs = dynamic_found["outputs"]
    assert outputs.pop("load_rows") == list(range(6))
    assert outputs.pop("summarize") == sum(i * i for i in range(6))
    assert sorted(outputs.values(), key=lambda item: item["row"]) == [
        {"row": i, "score": i * i} for i in range(6)
    ]
    assert not (elsewhere / "home" / "artifacts").exists()

    # every recorded artifact is either inline in its record (small values: no upload) or
    # published in S3 with its manifest
    fs = s3_server.filesystem()
    manifests = {
        path.removesuffix("/.fanflow-manifest.json")
        for path in fs.glob(
            remote_setup["FANFLOW_ARTIFACT_ROOT"].removeprefix("s3://")
            + "/**/.fanflow-manifest.json"
        )
    }
    client = Client()
    recorded = [
        view.output
        for run in (client.get_pipeline_run(static.name), client.get_pipeline_run(dynamic.name))
        for name, view in run.steps.items()
        if not name.startswith("map:")
    ]
    assert len(recorded) == 4 + 1 + 1 + 1
    for version in recorded:
        uploaded = version.uri.removeprefix("s3://") in manifests
        if not version.is_inline:
            assert uploaded, version.name
        elif version.name != "remote_dynamic::load_rows::output":
            assert not uploaded, version.name  # inline: no upload
        else:
            assert uploaded  # an inline list that a map split: its file is written once


@pipeline(enable_cache=False, name="team_map", dynamic=True, orchestrator="dask")
def team_map(count: int = 1000) -> None:
    summarize(score.map(load_rows(count)))


BRANCH_READER = textwrap.dedent(
    """
    import json, sys
    from fanflow.client import Client

    run = Client().get_pipeline_run(sys.argv[1])
    branches = {
        name: view.output.load()
        for name, view in run.steps.items()
        if name.startswith("map:")
    }
    print(json.dumps({
        "status": run.status,
        "branches": branches,
        "total": run.steps["summarize"].output.load(),
    }))
    """
)


# A cluster start, 1,000 branches through PostgreSQL and S3 and a second process reading them:
# about 70 s on a quiet machine, more than the default limit when the machine is busy.
@pytest.mark.timeout(600)
def test_team_setup_dask_postgres_and_s3_with_a_thousand_branch_map(
    remote_setup: dict[str, str],
    dask_address: str,
    fanflow_home: Path,
    tmp_path: Path,
) -> None:
    """The team setup end to end: steps on a Dask cluster (reached by its address, so the
    store probe runs), metadata in PostgreSQL, artifacts in S3; another process that has only
    the URLs reads every branch's output."""
    run = team_map()
    assert run.status == "completed"
    assert run.config.orchestrator == "dask"
    assert not (fanflow_home / "artifacts").exists()  # nothing was written locally

    elsewhere = tmp_path / "teammate"
    elsewhere.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "FANFLOW_HOME": str(elsewhere / "home"),
        **remote_setup,
    }
    result = subprocess.run(
        [sys.executable, "-c", BRANCH_READER, run.name],
        env=env,
        cwd=str(elsewhere),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["status"] == "completed"
    assert found["total"] == sum(i * i for i in range(1000))
    branches = found["branches"]
    assert len(branches) == 1000
    assert {name: value["score"] for name, value in branches.items()} == {
        f"map:score:{i}": i * i for i in range(1000)
    }
