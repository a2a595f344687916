"""`fanflow runs resume/stop/delete`, `fanflow gc`, `fanflow logs --follow` on real runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.conftest import env_for, fill_small_store
from fanflow.client import Client


def _wait_for_running(name_prefix: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = Client().list_pipeline_runs(status="running", size=5)
        for run in runs:
            if run.name.startswith(name_prefix):
                steps = [s for s in run.steps.values() if s.status == "running"]
                if steps:
                    return run.name
        time.sleep(0.1)
    raise AssertionError(f"no running run named {name_prefix}*")


def _start(code: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env_for(home, FANFLOW_STOP_GRACE_PERIOD="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_resume_runs_only_the_unfinished_steps(fanflow, fanflow_home, monkeypatch):
    import cli_flows
    from fanflow.exceptions import RunFailedError

    with pytest.raises(RunFailedError) as failed:
        cli_flows.failing_flow()
    name = failed.value.run_name
    refused = fanflow("runs", "resume", name, ok=False)  # the step still fails
    assert refused.exit_code == 1 and "failed again" in refused.stderr
    monkeypatch.setenv(cli_flows.FIX_ENV, "1")
    result = fanflow("runs", "resume", name)
    assert "completed" in result.stderr
    newest = Client().get_pipeline("failing_flow").last_run
    assert newest.status == "completed"
    assert newest.original_run_id == Client().get_pipeline_run(name).id
    assert newest.steps["load"].status == "cached"
    assert newest.steps["report"].output.load() == "size=4"
    again = fanflow("runs", "resume", newest.name, ok=False)
    assert again.exit_code == 1
    assert (
        again.stderr.strip() == f"Error: Run {newest.name!r} completed; there is nothing to resume."
    )


@pytest.mark.slow
def test_stop_asks_a_running_orchestrator_in_another_process_to_stop(fanflow, fanflow_home):
    process = _start("import cli_flows\ncli_flows.slow_flow(lines=200, pause=0.1)\n", fanflow_home)
    try:
        name = _wait_for_running("slow_flow")
        result = fanflow("runs", "stop", name, "--timeout", "60")
        assert "Asked run" in result.stderr and "stopped" in result.stderr
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0 and "RunStoppedError" in stderr
    run = Client().get_pipeline_run(name)
    assert run.status == "stopped"
    assert run.steps["slow_talker"].status == "stopped"  # its grace period (1 s) ran out
    not_running = fanflow("runs", "stop", name, ok=False)
    assert not_running.stderr.strip() == f"Error: Run {name!r} is not running (it is stopped)."


def test_stop_refuses_a_run_on_another_host_or_with_a_reused_pid(fanflow, fanflow_home):
    from fanflow.config import load_settings
    from fanflow.ids import new_id, utcnow
    from fanflow.metadata.store import MetadataStore

    store = MetadataStore(load_settings().metadata_url)
    elsewhere, reused = "elsewhere-run", "reused-pid-run"
    for name, host, pid in (
        (elsewhere, "some-other-host", os.getpid()),
        # our own pid, but "started" before this process existed: not that run's orchestrator
        (reused, os.uname().nodename, os.getpid()),
    ):
        started = utcnow() if name == elsewhere else utcnow().replace(year=2001)
        run_id = new_id()
        store.create_run(
            run_id=run_id,
            name=name,
            pipeline_id=None,
            config={"heartbeat_interval": 3600},
            spec=None,
            start_time=started,
            pid=pid,
            host=host,
        )
        store.heartbeat(run_id)  # a fresh heartbeat: the record reads as running
    other_host = fanflow("runs", "stop", elsewhere, ok=False)
    assert other_host.exit_code == 1
    assert "orchestrated on host 'some-other-host', not on this machine" in other_host.stderr
    pid_reused = fanflow("runs", "stop", reused, ok=False)
    assert pid_reused.exit_code == 1
    assert "is not the run's orchestrator" in pid_reused.stderr


def test_delete_keeps_artifacts_that_other_runs_still_use(fanflow, fanflow_home):
    import cli_flows

    # `make`'s list is beyond the inline limit (a folder); `use`'s sum is recorded inline
    first = cli_flows.cached_flow(n=30_000)
    second = cli_flows.cached_flow(n=30_000)  # every step cached: the first run's outputs
    assert {step.status for step in second.steps.values()} == {"cached"}
    shared = first.steps["make"].output
    assert os.path.isdir(shared.uri) and first.steps["use"].output.is_inline
    result = fanflow("runs", "delete", first.name, "--yes")
    assert "Deleted 1 run(s)" in result.stdout
    assert "Kept 2 artifact version(s) that other runs still use" in result.stdout
    assert os.path.isdir(shared.uri)
    survivor = Client().get_pipeline_run(second.name)
    assert survivor.steps["use"].output.load() == sum(range(30_000))
    assert survivor.steps["make"].output.load() == list(range(30_000))
    missing = fanflow("runs", "show", first.name, ok=False)
    assert "No run named" in missing.stderr
    summary = fanflow.json("runs", "delete", second.name, "--yes")
    assert summary["artifact_versions"] == 2 and summary["bytes_freed"] > 0
    assert not os.path.exists(shared.uri)
    assert fanflow.json("artifacts", "list") == []


def test_delete_by_age_and_pipeline(fanflow, fanflow_home):
    names = fill_small_store(fanflow_home)
    nothing = fanflow("runs", "delete", "--older-than", "30d", "--yes")
    assert "No run matches" in nothing.stderr
    dry = fanflow.json(
        "runs", "delete", "--older-than", "0s", "--pipeline", "failing_flow", "--dry-run"
    )
    assert sorted(dry["runs"]) == sorted([names["failed"], names["resumed"]]) and dry["dry_run"]
    assert len(fanflow.json("runs", "list")) == 4
    fanflow("runs", "delete", "--pipeline", "failing_flow", input="y\n")
    assert sorted(r["name"] for r in fanflow.json("runs", "list")) == sorted(
        [names["static"], names["retried"]]
    )
    bad = fanflow("runs", "delete", "--older-than", "soon", ok=False)
    assert bad.exit_code == 2 and "is not an age" in bad.stderr
    empty = fanflow("runs", "delete", ok=False)
    assert empty.exit_code == 2


def test_gc_removes_only_files_no_record_points_to(fanflow, fanflow_home):
    import cli_flows

    run = cli_flows.static_flow()
    root = fanflow_home / "artifacts"
    stray = root / "orphan" / "output" / "0123"
    stray.mkdir(parents=True)
    (stray / "data.bin").write_bytes(b"x" * 3000)
    (root / "logs" / "gone.log").parent.mkdir(parents=True, exist_ok=True)
    (root / "logs" / "gone.log").write_text("old\n")
    dry = fanflow.json("gc", "--dry-run")
    assert dry["bytes_freed"] == 3004 and stray.exists()
    assert sorted(dry["paths"]) == sorted([str(root / "logs" / "gone.log"), str(root / "orphan")])
    text = fanflow("gc").stdout
    assert "Freed 2.9 KB (3004 bytes) in 2 path(s)." in text
    assert not (root / "orphan").exists()
    assert Client().get_pipeline_run(run.name).steps["combine"].output.load() == 3 + 3 + 5
    assert fanflow("logs", run.name, "square_0").stdout == "square 0 says hi\n"
    assert fanflow.json("gc")["bytes_freed"] == 0


@pytest.mark.slow
def test_logs_follow_prints_a_running_steps_output_until_it_ends(fanflow_home):
    process = _start("import cli_flows\ncli_flows.slow_flow(lines=12, pause=0.25)\n", fanflow_home)
    try:
        name = _wait_for_running("slow_flow")
        follower = subprocess.run(
            [sys.executable, "-m", "fanflow.cli", "logs", name, "slow_talker", "--follow"],
            env=env_for(fanflow_home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert follower.returncode == 0, follower.stderr
    assert follower.stdout == "".join(f"line {i}\n" for i in range(12))
    assert Client().get_pipeline_run(name).status == "completed"
