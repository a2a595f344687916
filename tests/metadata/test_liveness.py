"""A run whose orchestrator died: readers show it failed without writing, listings agree with the
view, and only explicit writers (maintenance, the next run, resume) record the repair."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.ids import new_id, utcnow
from fanflow.metadata.liveness import as_seen, orchestrator_is_dead, run_is_orphaned
from fanflow.metadata.maintenance import repair_dead_runs
from fanflow.metadata.store import MetadataStore

SCRIPT = Path(__file__).parent.parent / "reliability" / "scripts" / "wide_pipeline.py"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _store() -> MetadataStore:
    return MetadataStore(load_settings().metadata_url)


def _record_running_run(name: str, pid: int | None, heartbeat_age_s: float = 0.0) -> str:
    store = _store()
    run_id = new_id()
    started = utcnow() - timedelta(seconds=heartbeat_age_s)
    store.create_run(
        run_id=run_id,
        name=name,
        pipeline_id=store.get_or_create_pipeline("liveness"),
        config={"heartbeat_interval": 1.0},
        spec=None,
        start_time=started,
        pid=pid,
        host=socket.gethostname(),
    )
    return run_id


def test_the_rule_reads_pid_and_heartbeat_age():
    now = utcnow()
    host = socket.gethostname()
    assert orchestrator_is_dead(_dead_pid(), host, now, 1.0, now)
    assert not orchestrator_is_dead(os.getpid(), host, now, 1.0, now)
    # Another host: only the heartbeat counts (three intervals, at least a minute).
    assert not orchestrator_is_dead(1, "elsewhere", now - timedelta(seconds=59), 1.0, now)
    assert orchestrator_is_dead(1, "elsewhere", now - timedelta(seconds=61), 1.0, now)
    assert not orchestrator_is_dead(1, "elsewhere", now - timedelta(seconds=100), 40.0, now)


def test_a_dead_run_is_shown_failed_and_nothing_is_written():
    dead_id = _record_running_run("dead_run", _dead_pid())
    live_id = _record_running_run("live_run", os.getpid())
    client = Client()

    shown = client.get_pipeline_run("dead_run")
    assert shown.status == "failed"
    assert "ended without finishing" in shown.exception
    assert shown.end_time is not None
    assert client.get_pipeline_run("live_run").status == "running"
    assert _store().get_run(dead_id).status == "running"  # the read wrote nothing

    failed = client.list_pipeline_runs(status="failed")
    assert [run.name for run in failed] == ["dead_run"] and failed.total == 1
    running = client.list_pipeline_runs(status="running")
    assert [run.name for run in running] == ["live_run"] and running.total == 1
    both = client.list_pipeline_runs(status=["running", "failed"])
    assert {run.name: str(run.status.value) for run in both} == {
        "dead_run": "failed",
        "live_run": "running",
    }
    assert _store().get_run(dead_id).status == "running"
    assert _store().get_run(live_id).status == "running"


def test_a_stale_heartbeat_on_another_host_reads_as_dead():
    run_id = _record_running_run("silent_run", None, heartbeat_age_s=3600)
    record = _store().get_run(run_id)
    assert run_is_orphaned(record)
    assert as_seen(record).status == "failed"
    assert [r.name for r in Client().list_pipeline_runs(status="failed")] == ["silent_run"]


def test_repair_is_an_explicit_write():
    dead_id = _record_running_run("dead_run", _dead_pid())
    _record_running_run("live_run", os.getpid())
    store = _store()
    assert repair_dead_runs(store) == ["dead_run"]
    repaired = store.get_run(dead_id)
    assert repaired.status == "failed" and "ended without finishing" in repaired.exception
    assert repair_dead_runs(store) == []
    assert [r.name for r in Client().list_pipeline_runs(status="running")] == ["live_run"]


def test_the_next_run_in_the_home_records_the_repair():
    from fanflow import pipeline, step

    dead_id = _record_running_run("dead_run", _dead_pid())

    @step
    def one() -> int:
        return 1

    @pipeline(enable_cache=False)
    def next_run():
        one()

    next_run()
    assert _store().get_run(dead_id).status == "failed"


@pytest.mark.slow
def test_list_failed_right_after_a_crash_finds_the_crashed_run(fanflow_home, tmp_path):
    ledger = tmp_path / "ledger.txt"
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home), "LEDGER": str(ledger)}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "static", "8", "1.0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (ledger.exists() and ledger.read_text()):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    client = Client()
    failed = client.list_pipeline_runs(status="failed")
    assert [run.name for run in failed] == [client.get_pipeline("wide_static").last_run.name]
    assert failed[0].status == "failed"
    assert client.list_pipeline_runs(status="running").total == 0
    view = client.get_pipeline_run(failed[0].name)
    assert all(step.status != "running" for step in view.steps.values())
    assert _store().get_run(view.id.hex).status == "running"  # shown, not written
