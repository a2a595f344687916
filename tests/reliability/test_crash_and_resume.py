"""Crash safety and resume: SIGKILL at random moments, then the store is sound and resume
finishes the run executing only what had not finished."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fanflow.client import Client
from fanflow.exceptions import ResumeError

SCRIPT = Path(__file__).parent / "scripts" / "wide_pipeline.py"
WIDTH = 12


def _start(kind: str, home: Path, ledger: Path, pause: float) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FANFLOW_HOME": str(home),
        "LEDGER": str(ledger),
        "FANFLOW_HEARTBEAT_INTERVAL": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), kind, str(WIDTH), str(pause)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ledger(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_for_progress(ledger: Path, at_least: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_ledger(ledger)) < at_least:
        time.sleep(0.01)


def _check_store_after_crash(pipeline_name: str) -> object:
    client = Client()
    run = client.get_pipeline(pipeline_name).last_run
    assert run.status != "running"
    for view in run.steps.values():
        assert view.status != "running"
        for artifacts in view.outputs.values():
            for artifact in artifacts:
                artifact.load()  # every recorded artifact is complete and loadable
    return run


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_sigkill_at_random_moments_then_resume(kind, seed, fanflow_home, tmp_path, monkeypatch):
    rng = random.Random(seed * 7919 + len(kind))
    ledger = tmp_path / "ledger.txt"
    process = _start(kind, fanflow_home, ledger, pause=0.05)
    _wait_for_progress(ledger, rng.randint(1, WIDTH))
    time.sleep(rng.uniform(0, 0.05))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    pipeline_name = f"wide_{kind}"
    run = _check_store_after_crash(pipeline_name)
    finished_before = {
        name for name, view in run.steps.items() if view.status in ("completed", "cached")
    }
    before = _ledger(ledger)
    if run.status in ("completed", "cached"):
        return  # the kill came after the end: nothing to resume
    assert run.status == "failed" and "ended without finishing" in run.exception

    monkeypatch.setenv("LEDGER", str(ledger))
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        resumed = run.resume()
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert resumed.status in ("completed", "cached")
    assert resumed.original_run_id == run.id
    assert resumed.steps["combine"].output.load() == sum(i * i for i in range(WIDTH))
    executed_now = _ledger(ledger)[len(before) :]
    reused = {name for name, view in resumed.steps.items() if view.status == "cached"}
    assert finished_before <= reused
    finished_work = {name.replace("map:work:", "work_") for name in finished_before}
    for entry in executed_now:
        if entry.startswith("work "):
            assert f"work_{entry.split()[1]}" not in finished_work, entry


def test_resume_refuses_completed_and_running_runs(fanflow_home):
    from fanflow import pipeline, step

    @step(enable_cache=False)
    def one() -> int:
        return 1

    @pipeline(enable_cache=False)
    def done():
        one()

    run = done()
    with pytest.raises(ResumeError, match="nothing to resume"):
        run.resume()


def test_a_dead_orchestrator_is_detected_by_its_pid(fanflow_home, tmp_path):
    ledger = tmp_path / "ledger.txt"
    process = _start("static", fanflow_home, ledger, pause=1.0)
    _wait_for_progress(ledger, 1)
    time.sleep(0.3)
    live = Client().get_pipeline("wide_static").last_run
    assert live.status == "running"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    dead = Client().get_pipeline_run(live.name)
    assert dead.status == "failed"
    assert f"pid {live.orchestrator_pid}" in dead.exception
    assert all(view.status != "running" for view in dead.steps.values())
