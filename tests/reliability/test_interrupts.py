"""Ctrl-C: the first stops starting steps and lets running ones finish; the second quits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fanflow.client import Client

SCRIPT = Path(__file__).parent / "scripts" / "wide_pipeline.py"


def _start(
    home: Path, ledger: Path, pause: float, kind: str = "static", grace: str = "30"
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FANFLOW_HOME": str(home),
        "LEDGER": str(ledger),
        "FANFLOW_MAX_PARALLELISM": "3",
        "FANFLOW_STOP_GRACE_PERIOD": grace,
    }
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), kind, "12", str(pause)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_running(home: Path, pipeline_name: str, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            run = Client().get_pipeline(pipeline_name).last_run
            running = [s for s in run.steps.values() if s.status == "running"]
            if len(running) >= at_least:
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError("the run never got going")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_first_interrupt_stops_gracefully_and_the_run_resumes(
    kind, fanflow_home, tmp_path, monkeypatch
):
    ledger = tmp_path / "ledger.txt"
    process = _start(fanflow_home, ledger, pause=0.8, kind=kind)
    _wait_until_running(fanflow_home, f"wide_{kind}", at_least=2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "RunStoppedError" in stderr and "resume()" in stderr
    run = Client().get_pipeline(f"wide_{kind}").last_run
    assert run.status == "stopped"
    statuses = [s.status for s in run.steps.values()]
    assert "running" not in statuses
    assert statuses.count("completed") >= 2  # the running ones finished
    assert "combine" not in run.steps or run.steps["combine"].status == "skipped"

    monkeypatch.setenv("LEDGER", str(ledger))
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        resumed = run.resume()
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert resumed.steps["combine"].output.load() == sum(i * i for i in range(12))


@pytest.mark.slow
def test_second_interrupt_quits_at_once(fanflow_home, tmp_path):
    ledger = tmp_path / "ledger.txt"
    process = _start(fanflow_home, ledger, pause=5.0)
    _wait_until_running(fanflow_home, "wide_static", at_least=2)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert time.monotonic() - started < 4.5  # did not wait for the 5 s steps
    assert process.returncode != 0
    run = Client().get_pipeline("wide_static").last_run
    assert run.status in ("stopped", "failed")


def test_sigterm_stops_like_the_first_ctrl_c(fanflow_home, tmp_path):
    process = _start(fanflow_home, tmp_path / "ledger.txt", pause=0.8)
    _wait_until_running(fanflow_home, "wide_static", at_least=2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "RunStoppedError" in stderr and "resume()" in stderr
    run = Client().get_pipeline("wide_static").last_run
    assert run.status == "stopped"
    statuses = [s.status for s in run.steps.values()]
    assert "running" not in statuses and statuses.count("completed") >= 2
