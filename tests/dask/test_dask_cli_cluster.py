"""A cluster started the way users start one: `dask scheduler` and two `dask worker` processes
on 127.0.0.1, one offering a GPU resource; plus a worker that cannot see this machine's files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.exceptions import RunFailedError
from fanflow.execution.executors.dask import DaskClusterError

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parents[1]


def _start(args: list[str], **kwargs) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    return subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs
    )


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=120)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory):
    scheduler_file = tmp_path_factory.mktemp("dask") / "scheduler.json"
    processes = [
        _start(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ]
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        import json

        address = json.loads(scheduler_file.read_text())["address"]
        for resources in ("GPU=1", ""):
            processes.append(
                _start(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                    ]
                    + (["--resources", resources] if resources else [])
                )
            )
        _wait_for_workers(address, 2)
        yield address, processes
    finally:
        _stop(processes)


@step(enable_cache=False)
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def square(x: int, offset: int) -> int:
    return x * x + offset


@step(enable_cache=False)
def total(values: list[int]) -> int:
    return sum(values)


@step(enable_cache=False, resources={"GPU": 1})
def on_gpu(x: int) -> int:
    return x + 1000


@pipeline(dynamic=True, enable_cache=False, orchestrator="dask")
def on_cli_cluster(n: int = 40):
    values = square.map(numbers(n), unmapped(1))
    total(values)
    on_gpu(3)


def test_runs_on_a_scheduler_and_two_worker_processes(cli_cluster, monkeypatch):
    address, _ = cli_cluster
    monkeypatch.setenv("FANFLOW_DASK_ADDRESS", address)
    run = on_cli_cluster(n=40)
    assert run.steps["total"].output.load() == sum(x * x + 1 for x in range(40))
    assert run.steps["on_gpu"].output.load() == 1003  # ran on the worker offering a GPU


def test_a_worker_that_cannot_see_the_artifact_store_is_refused_at_start(
    cli_cluster, monkeypatch, fanflow_home
):
    """A worker in its own mount namespace, with an empty file system over this test's
    FANFLOW_HOME, stands for a worker on another machine."""
    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode
    ):
        pytest.skip("needs `unshare -rm` (user and mount namespaces)")
    address, _ = cli_cluster
    fanflow_home.mkdir(parents=True, exist_ok=True)
    isolated = _start(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            f'mount -t tmpfs none "{fanflow_home}" && exec "{sys.executable}" -m '
            f"distributed.cli.dask_worker {address} --nthreads 1 --host 127.0.0.1 --no-dashboard",
        ]
    )
    try:
        _wait_for_workers(address, 3)
        monkeypatch.setenv("FANFLOW_DASK_ADDRESS", address)
        with pytest.raises(DaskClusterError, match="cannot use the artifact store") as info:
            on_cli_cluster(n=3)
        assert "cannot read" in str(info.value) and "FANFLOW_ARTIFACT_ROOT" in str(info.value)
    finally:
        _stop([isolated])


def test_losing_the_scheduler_mid_run_fails_the_run_without_hanging(tmp_path, monkeypatch):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _start(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ]
    )
    processes = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        import json

        address = json.loads(scheduler_file.read_text())["address"]
        processes.append(
            _start(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "2",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ]
            )
        )
        _wait_for_workers(address, 1)
        started = tmp_path / "started"

        @step(enable_cache=False)
        def slow(x: int) -> int:
            started.write_text("yes")
            time.sleep(1.0)
            return x

        @pipeline(dynamic=True, enable_cache=False, orchestrator="dask")
        def long_map(n: int = 20):
            total(slow.map(numbers(n)))

        def kill_scheduler() -> None:
            deadline = time.monotonic() + 60
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            scheduler.kill()

        import threading

        killer = threading.Thread(target=kill_scheduler)
        killer.start()
        monkeypatch.setenv("FANFLOW_DASK_ADDRESS", address)
        began = time.monotonic()
        with pytest.raises((RunFailedError, DaskClusterError)) as info:
            long_map(n=20)
        killer.join()
        assert time.monotonic() - began < 110
        text = str(info.value) + str(info.value.__cause__)
        assert "Dask" in text or "scheduler" in text
    finally:
        _stop(processes)
