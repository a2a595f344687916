"""Resume edge cases: a resume of a resume (scripts, worker processes), parameter types kept
exactly, and the whole planned graph visible after a crash."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fanflow import pipeline, step
from fanflow.cli.app import cli
from fanflow.client import Client
from fanflow.exceptions import RunFailedError

SCRIPT = textwrap.dedent(
    """
    import os
    from fanflow import pipeline, step

    def helper(value):
        # A plain function of the script that steps call (it travels with them).
        return value * 10

    @step
    def first() -> int:
        return helper(1)

    @step
    def gate(value: int) -> int:
        if not os.path.exists(os.environ["MARKER"]):
            raise RuntimeError("the marker is not there yet")
        return helper(value)

    @pipeline(enable_cache=False)
    def gated():
        gate(first())

    if __name__ == "__main__":
        gated()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator", ["local", "processes"])
def test_resuming_a_resumed_script_run(orchestrator, fanflow_home, tmp_path, monkeypatch):
    script = tmp_path / "gated_script.py"
    script.write_text(SCRIPT)
    marker = tmp_path / "marker"
    monkeypatch.setenv("MARKER", str(marker))
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home), "FANFLOW_ORCHESTRATOR": orchestrator}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "the marker is not there yet" in done.stderr

    client = Client()
    original = client.get_pipeline("gated").last_run
    assert original.status == "failed"
    with pytest.raises(RunFailedError, match="the marker is not there yet"):
        original.resume()
    second = client.get_pipeline("gated").last_run
    assert second.original_run_id == original.id
    assert second.config.orchestrator == orchestrator

    marker.write_text("")
    # The resume of the resume, from yet another process (which has loaded no script).
    code = "from fanflow.client import Client; Client().get_pipeline('gated').last_run.resume()"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    third = client.get_pipeline("gated").last_run
    assert third.status == "completed"
    assert third.original_run_id == second.id
    assert third.steps["gate"].output.load() == 100
    assert third.steps["first"].status == "cached"  # reused from the first run


_attempts: list[object] = []


@step
def check_types(pair: tuple[int, int], labels: set[str], day: dt.date) -> str:
    _attempts.append((pair, labels, day))
    if len(_attempts) == 1:
        raise RuntimeError("first attempt fails")
    return f"{type(pair).__name__} {type(labels).__name__} {type(day).__name__}"


@pipeline(enable_cache=False)
def typed_parameters(pair: tuple[int, int], labels: set[str], day: dt.date):
    check_types(pair, labels, day)


def test_parameters_resume_with_the_types_they_had():
    _attempts.clear()
    with pytest.raises(RunFailedError):
        typed_parameters(pair=(1, 2), labels={"a", "b"}, day=dt.date(2026, 1, 31))
    failed = Client().get_pipeline("typed_parameters").last_run
    resumed = failed.resume()
    assert resumed.status == "completed"
    assert resumed.steps["check_types"].output.load() == "tuple set date"
    assert _attempts[-1] == ((1, 2), {"a", "b"}, dt.date(2026, 1, 31))
    # What users read stays plain JSON.
    assert failed.config.parameters == {"pair": [1, 2], "labels": ["a", "b"], "day": "2026-01-31"}


WIDE = Path(__file__).parent / "scripts" / "wide_pipeline.py"


@pytest.mark.slow
def test_steps_a_killed_run_never_started_are_listed(fanflow_home, tmp_path):
    ledger = tmp_path / "ledger.txt"
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home), "LEDGER": str(ledger)}
    process = subprocess.Popen(
        [sys.executable, str(WIDE), "static", "12", "2.0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (ledger.exists() and ledger.read_text()):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    run = Client().get_pipeline("wide_static").last_run
    assert run.status == "failed"
    steps = run.steps
    assert "combine" in steps and len(steps) == len(steps.values())
    statuses = {name: str(view.status.value) for name, view in steps.items()}
    assert statuses["combine"] == "skipped"
    assert "running" not in statuses.values()
    assert list(steps)[-1] == "combine"
    assert steps["combine"].status == "skipped"


@pytest.mark.slow
def test_branches_a_killed_dynamic_run_never_started_are_listed(
    metadata_backend, fanflow_home, tmp_path
):
    """Branches of a wide `.map` beyond the dispatch window are recorded when the pipeline
    function adds them, so after `kill -9` every branch is listed (never started: skipped), and
    a resume runs only the branches that did not finish."""
    width = 60  # beyond the dispatch window of 2 threads (32)
    ledger = tmp_path / "ledger.txt"
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home), "LEDGER": str(ledger)}
    env["FANFLOW_MAX_PARALLELISM"] = "2"
    process = subprocess.Popen(
        [sys.executable, str(WIDE), "dynamic", str(width), "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "work" not in (
        ledger.read_text() if ledger.exists() else ""
    ):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    finished_before = ledger.read_text().count("work")

    run = Client().get_pipeline("wide_dynamic").last_run
    assert run.status == "failed"
    steps = run.steps
    branches = {name: view for name, view in steps.items() if view.step_name == "work"}
    assert list(branches) == [f"map:work:{i}" for i in range(width)]  # in creation order
    statuses = {name: str(view.status.value) for name, view in branches.items()}
    assert "running" not in statuses.values() and "initializing" not in statuses.values()
    assert list(statuses.values()).count("skipped") > 0
    assert statuses.get("map:work:59") == "skipped"

    # The CLI shows the whole map too.
    shown = CliRunner().invoke(cli, ["runs", "show", str(run.id), "--json"])
    assert shown.exit_code == 0, shown.output
    group = next(row for row in json.loads(shown.output)["steps"] if row["kind"] == "map")
    assert group["total"] == width
    assert group["counts"].get("skipped") and "initializing" not in group["counts"]

    code = (
        "from fanflow.client import Client; Client().get_pipeline('wide_dynamic').last_run.resume()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    resumed = Client().get_pipeline("wide_dynamic").last_run
    assert resumed.status == "completed"
    assert resumed.steps["combine"].output.load() == sum(i * i for i in range(width))
    # Only the branches that had not finished ran again.
    ran_again = ledger.read_text().count("work") - finished_before
    assert ran_again == width - sum(1 for s in statuses.values() if s in ("completed", "cached"))
