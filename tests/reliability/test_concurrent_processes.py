"""Several processes running pipelines against one SQLite store at once: no "database is
locked", no lost records."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from fanflow.client import Client

WORKER = textwrap.dedent(
    """
    import sys
    from fanflow import pipeline, step, unmapped

    tag = sys.argv[1]

    @step(enable_cache=False)
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @step(enable_cache=False)
    def scale(x: int, factor: int) -> int:
        return x * factor

    @step(enable_cache=False)
    def total(values: list[int]) -> int:
        return sum(values)

    @pipeline(dynamic=True, enable_cache=False, name="contended")
    def contended(n: int = 60):
        total(scale.map(numbers(n), unmapped(2)))

    for _ in range(4):
        run = contended.with_options(run_name=tag + "-{time}")()
        assert run.steps["total"].output.load() == 2 * sum(range(60)), run.name
    print("ok")
    """
)


@pytest.mark.slow
def test_four_processes_share_one_store(fanflow_home, tmp_path):
    script = tmp_path / "contending_worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), f"p{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        assert "database is locked" not in err
        assert out.strip() == "ok"
    runs = Client().list_pipeline_runs(pipeline_name="contended", size=100)
    assert runs.total == 16
    assert {run.status for run in runs} == {"completed"}
    for run in runs:
        steps = run.steps
        assert len(steps) == 62
        assert steps["total"].output.load() == 2 * sum(range(60))
    versions = Client().list_artifact_versions(name="contended::total::output", size=100)
    assert sorted(int(v.version) for v in versions) == list(range(1, 17))
