"""`fanflow logs RUN STEP --follow` on the team setup: the step runs on a Dask worker, metadata
is in PostgreSQL and logs in S3 (moto on 127.0.0.1). The follower must print the step's lines
while it still runs, not only once its log is stored.

The step and the test shake hands through files (the cluster runs on this machine): the step
prints a line, then waits for `go`; the test reads that line from the follower before it writes
`go`, so the line can only have come from the live copy.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from fanflow.client import Client

pytestmark = pytest.mark.slow

PIPELINE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from fanflow import pipeline, step

    @step(enable_cache=False)
    def talker(go: str) -> int:
        print("first line, before go", flush=True)
        while not Path(go).exists():
            time.sleep(0.05)
        print("second line, after go", flush=True)
        return 2

    @pipeline(enable_cache=False, orchestrator="dask")
    def remote_talk(go: str):
        talker(go)

    remote_talk.with_options(run_name=sys.argv[2])(go=sys.argv[1])
    """
)

GUARD_S = 300.0  # only against a hang: nothing here depends on how fast anything is


def _lines(stream: Any) -> queue.SimpleQueue[str | None]:
    found: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def pump() -> None:
        for line in stream:
            found.put(line)
        found.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return found


def _wait_for_running(client: Client, run_name: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        try:
            run = client.get_pipeline_run(run_name)
        except KeyError:
            run = None
        if run is not None and "talker" in run.steps and run.steps["talker"].status == "running":
            return
        time.sleep(0.1)
    pytest.fail("the step never started")


def test_follow_streams_a_dask_steps_output_from_s3_while_it_runs(
    s3_server: Any,
    postgres_url: str,
    dask_address: str,
    fanflow_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        **os.environ,
        "FANFLOW_HOME": str(fanflow_home),
        "FANFLOW_METADATA_URL": postgres_url,
        "FANFLOW_ARTIFACT_ROOT": f"s3://fanflow-test/{uuid.uuid4().hex}/artifacts",
        "FANFLOW_ARTIFACT_STORAGE_OPTIONS": s3_server.storage_options_json(),
        "FANFLOW_DASK_ADDRESS": dask_address,
    }
    for name in (
        "FANFLOW_METADATA_URL",
        "FANFLOW_ARTIFACT_ROOT",
        "FANFLOW_ARTIFACT_STORAGE_OPTIONS",
    ):
        monkeypatch.setenv(name, env[name])
    go = tmp_path / "go"
    run_name = f"follow-{uuid.uuid4().hex[:8]}"
    runner = subprocess.Popen(
        [sys.executable, "-c", PIPELINE, str(go), run_name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    follower = None
    try:
        client = Client()
        _wait_for_running(client, run_name)
        follower = subprocess.Popen(
            [sys.executable, "-m", "fanflow.cli", "logs", run_name, "talker", "--follow"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = _lines(follower.stdout)
        first = lines.get(timeout=GUARD_S)
        # `go` does not exist yet, so the step is still running: this line came live from S3
        assert first == "first line, before go\n"
        assert not go.exists()
        assert client.get_pipeline_run(run_name).steps["talker"].status == "running"
        go.write_text("go")
        rest = []
        while (line := lines.get(timeout=GUARD_S)) is not None:
            rest.append(line)
        assert follower.wait(timeout=GUARD_S) == 0, (
            follower.stderr.read() if follower.stderr else ""
        )
        assert rest == ["second line, after go\n"]
        assert runner.wait(timeout=GUARD_S) == 0, runner.stderr.read() if runner.stderr else ""
    finally:
        for process in (runner, follower):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    run = client.get_pipeline_run(run_name)
    assert run.status == "completed" and run.config.orchestrator == "dask"
    assert run.steps["talker"].logs is not None
    assert run.steps["talker"].logs.read() == "first line, before go\nsecond line, after go\n"
    # the live parts were removed once the log was stored
    import s3fs

    fs = s3fs.S3FileSystem(**__import__("json").loads(env["FANFLOW_ARTIFACT_STORAGE_OPTIONS"]))
    root = env["FANFLOW_ARTIFACT_ROOT"].removeprefix("s3://")
    assert not [path for path in fs.find(root) if ".live" in path]
