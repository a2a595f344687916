"""orchestrator="dask": runs on real Dask clusters on 127.0.0.1 (the session's local cluster,
a cluster started for one run, and `dask scheduler` + `dask worker` processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import wait
from pathlib import Path

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.exceptions import ResourceUnavailableError, RunFailedError
from fanflow.execution.executors.dask import (
    DaskClusterError,
    DaskExecutor,
    StepShippingError,
    WorkerDiedError,
)

SCRIPTS = Path(__file__).parent / "scripts"


@step(enable_cache=False)
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def plus(x: int, offset: int) -> int:
    return x + offset


@step(enable_cache=False)
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False, orchestrator="dask")
def wide_map(n: int = 10):
    total(plus.map(numbers(n), unmapped(1)))


def test_a_script_without_main_guard_runs_on_a_local_cluster_started_for_the_run(tmp_path):
    """No address: a LocalCluster is started for the run and closed after it; the script runs
    once (workers never re-import it), closures and __main__ functions travel by value, and
    step output is stored with the step and echoed on the orchestrator's console."""
    env = {**os.environ, "FANFLOW_ORCHESTRATOR": "dask", "FACTOR": "4"}
    env.pop("FANFLOW_DASK_ADDRESS", None)
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "unguarded_map.py")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert out.count("SCRIPT STARTED") == 1, out
    assert "TOTAL 45" in out  # sum(4 * x + 1 for x in range(5))
    pids = out.split("WORKER PID ")[1].split()
    assert pids[0] != pids[2]  # the step ran in another process
    assert "LOG scaling 2" in out  # stored with the step
    assert "[map:scale:2] scaling 2" in out  # echoed live on the orchestrator's console


def test_dynamic_map_groups_tiny_branches_and_records_each(dask_address):
    run = wide_map(n=300)
    assert run.steps["total"].output.load() == sum(range(1, 301))
    branches = [name for name in run.steps if name.startswith("map:plus:")]
    assert len(branches) == 300
    assert run.steps["map:plus:123"].output.load() == 124
    assert run.config.orchestrator == "dask"


def test_executor_groups_tiny_tasks_and_bounds_nothing_lost(dask_address):
    executor = DaskExecutor(0, load_settings())
    try:
        first = [executor.submit(abs, -i) for i in range(50)]
        wait(first)
        futures = [executor.submit(abs, -i) for i in range(2000)]
        wait(futures, timeout=120)
        assert [f.result() for f in futures] == list(range(2000))
        assert executor.tasks_submitted < 1000  # several calls per Dask task
    finally:
        executor.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(900)  # minutes on a loaded 2-core machine
def test_map_of_ten_thousand_branches(dask_address):
    run = wide_map(n=10_000)
    assert run.steps["total"].output.load() == sum(range(1, 10_001))
    assert run.steps["map:plus:9999"].output.load() == 10_000


def test_retries_and_cache_work_on_dask(dask_address, tmp_path):
    attempts = tmp_path / "attempts"

    @step(retry={"max_retries": 2, "delay": 0})
    def flaky(x: int) -> int:
        with open(attempts, "a") as handle:
            handle.write("x")
        if len(attempts.read_text()) < 2:
            raise RuntimeError("first attempt fails")
        return x * 10

    @pipeline(orchestrator="dask")
    def retried():
        flaky(4)

    run = retried()
    assert run.steps["flaky"].output.load() == 40
    assert len(attempts.read_text()) == 2
    again = retried()
    assert again.steps["flaky"].status == "cached"


def test_a_step_that_cannot_be_shipped_is_named_before_anything_runs(dask_address, tmp_path):
    lock = threading.Lock()
    marker = tmp_path / "ran"

    @step(enable_cache=False)
    def first() -> int:
        marker.write_text("ran")
        return 1

    @step(enable_cache=False)
    def holds_lock(x: int) -> int:
        with lock:
            return x

    @pipeline(orchestrator="dask", enable_cache=False)
    def unshippable():
        holds_lock(first())

    with pytest.raises(StepShippingError, match="Step `holds_lock` cannot be sent"):
        unshippable()
    assert not marker.exists()


def test_a_resource_no_worker_offers_fails_clearly(dask_address):
    @step(enable_cache=False, resources={"GPU": 1})
    def needs_gpu() -> int:
        return 1

    @pipeline(orchestrator="dask", enable_cache=False)
    def gpu_pipeline():
        needs_gpu()

    with pytest.raises(RunFailedError) as info:
        gpu_pipeline()
    cause = info.value.__cause__
    assert isinstance(cause, ResourceUnavailableError)
    assert "needs_gpu" in str(cause) and "GPU" in str(cause)


def test_resource_settings_become_dask_resource_restrictions(dask_address):
    from fanflow.config import ResourceSettings

    @step(enable_cache=False)
    def trains() -> int:
        return 1

    @pipeline(
        orchestrator="dask",
        enable_cache=False,
        settings={"resources": ResourceSettings(gpu_count=1)},
    )
    def gpu_by_settings():
        trains()

    with pytest.raises(RunFailedError) as info:
        gpu_by_settings()
    cause = info.value.__cause__
    assert isinstance(cause, ResourceUnavailableError)
    assert "trains" in str(cause) and "GPU" in str(cause)


def test_local_modes_refuse_undeclared_resources_and_accept_declared_ones(monkeypatch):
    @step(enable_cache=False, resources={"GPU": 1})
    def on_gpu() -> int:
        return 7

    @pipeline(enable_cache=False)
    def local_gpu():
        on_gpu()

    with pytest.raises(ResourceUnavailableError, match=r"Step `on_gpu`.*GPU=none"):
        local_gpu()
    monkeypatch.setenv("FANFLOW_RESOURCES", "GPU=1")
    assert local_gpu().steps["on_gpu"].output.load() == 7
    with pytest.raises(ValueError, match="resources="):
        step(resources={"GPU": -1})(lambda: None)


def test_unreachable_scheduler_is_a_clear_error_at_start(monkeypatch):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("FANFLOW_DASK_ADDRESS", f"tcp://127.0.0.1:{port}")
    monkeypatch.setenv("FANFLOW_DASK_CONNECT_TIMEOUT", "2")
    with pytest.raises(
        DaskClusterError, match=f"Cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    ):
        wide_map(n=3)


@pytest.mark.slow
def test_a_worker_killed_mid_map_is_survived(dask_cluster, dask_address, tmp_path):
    """SIGKILL one worker process while branches run: the scheduler runs its tasks again on
    the other worker (and the nanny restarts the killed one); the run completes."""
    started = tmp_path / "started"
    started.mkdir()

    @step(enable_cache=False)
    def slow_plus(x: int) -> int:
        (started / str(x)).write_text(str(os.getpid()))
        time.sleep(0.2)
        return x + 1

    @pipeline(dynamic=True, enable_cache=False, orchestrator="dask")
    def slow_map(n: int = 16):
        total(slow_plus.map(numbers(n)))

    from distributed import Client as DaskClient

    with DaskClient(dask_cluster.scheduler_address, set_as_default=False) as client:
        worker_pids = set(client.run(os.getpid).values())

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for entry in started.iterdir():
                pid = int(entry.read_text() or 0)
                if pid in worker_pids:
                    os.kill(pid, 9)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one)
    killer.start()
    run = slow_map(n=16)
    killer.join()
    assert run.steps["total"].output.load() == sum(range(1, 17))


@pytest.mark.slow
def test_a_step_that_keeps_killing_its_worker_fails_with_worker_died(dask_cluster, dask_address):
    from distributed import Client as DaskClient

    @step(enable_cache=False)
    def crashes() -> int:
        os._exit(3)

    @pipeline(orchestrator="dask", enable_cache=False)
    def crashing():
        crashes()

    with DaskClient(dask_cluster.scheduler_address, set_as_default=False) as client:
        before = client.run_on_scheduler(_set_allowed_failures, 0)
        try:
            with pytest.raises(RunFailedError) as info:
                crashing()
        finally:
            client.run_on_scheduler(_set_allowed_failures, before)
            client.wait_for_workers(2, timeout=60)
    cause = info.value.__cause__
    assert isinstance(cause, WorkerDiedError)
    assert "Step `crashes`" in str(cause)
    view = Client().get_pipeline("crashing").last_run.steps["crashes"]
    assert view.status == "failed" and "WorkerDiedError" in view.exception_info.message


def _completed_branches(pipeline_name: str) -> int:
    try:
        run = Client().get_pipeline(pipeline_name).last_run
    except Exception:  # not recorded yet
        return 0
    return sum(v.status == "completed" for n, v in run.steps.items() if n.startswith("map:"))


def _set_allowed_failures(value, dask_scheduler=None):
    before = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = value
    return before


@pytest.mark.slow
def test_killing_the_orchestrator_mid_map_then_resume(
    dask_cluster, dask_address, fanflow_home, tmp_path, monkeypatch
):
    from distributed import Client as DaskClient

    script = Path(__file__).parents[1] / "reliability" / "scripts" / "wide_pipeline.py"
    ledger = tmp_path / "ledger.txt"
    env = {
        **os.environ,
        "FANFLOW_ORCHESTRATOR": "dask",
        "LEDGER": str(ledger),
        "FANFLOW_HEARTBEAT_INTERVAL": "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, str(script), "dynamic", "24", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _completed_branches("wide_dynamic") < 3:
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=30)
    time.sleep(0.5)  # let the last queued tasks of the dead run end on the workers
    run = Client().get_pipeline("wide_dynamic").last_run
    assert run.status == "failed"
    finished = {n for n, v in run.steps.items() if v.status == "completed" and n.startswith("map:")}
    assert finished
    with DaskClient(dask_cluster.scheduler_address, set_as_default=False) as client:
        client.run(sys.path.insert, 0, str(script.parent))  # the resumed pipeline's module
    monkeypatch.setenv("LEDGER", str(ledger))
    monkeypatch.setenv("FANFLOW_ORCHESTRATOR", "dask")
    sys.path.insert(0, str(script.parent))
    try:
        resumed = run.resume()
    finally:
        sys.path.remove(str(script.parent))
    assert resumed.steps["combine"].output.load() == sum(i * i for i in range(24))
    reused = {n for n, v in resumed.steps.items() if v.status == "cached"}
    assert finished <= reused


def _fanflow_tasks(dask_scheduler=None):
    return sum(str(key).startswith("fanflow-") for key in dask_scheduler.tasks)


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_interrupting_the_orchestrator_cancels_its_outstanding_dask_tasks(
    dask_cluster, dask_address, tmp_path, signum
):
    import signal

    from distributed import Client as DaskClient

    script = Path(__file__).parents[1] / "reliability" / "scripts" / "wide_pipeline.py"
    ledger = tmp_path / "ledger.txt"
    env = {
        **os.environ,
        "FANFLOW_ORCHESTRATOR": "dask",
        "LEDGER": str(ledger),
        "FANFLOW_STOP_GRACE_PERIOD": "0.5",
    }
    process = subprocess.Popen(
        [sys.executable, str(script), "dynamic", "200", "1.0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with DaskClient(dask_cluster.scheduler_address, set_as_default=False) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and client.run_on_scheduler(_fanflow_tasks) < 10:
            time.sleep(0.05)
        assert client.run_on_scheduler(_fanflow_tasks) >= 10  # many queued on the cluster
        process.send_signal(getattr(signal, signum))
        process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.run_on_scheduler(_fanflow_tasks) > 2:
            time.sleep(0.1)
        assert client.run_on_scheduler(_fanflow_tasks) <= 2  # at most the running ones finish


def test_resources_accept_zenml_resource_settings_shape():
    class ResourceSettings:  # the attributes ZenML's ResourceSettings has
        gpu_count = 2
        cpu_count = None
        memory = "4GB"

    @step(resources=ResourceSettings())
    def trains() -> int:
        return 1

    assert dict(trains.definition.config.resources) == {"GPU": 2.0, "memory": 4e9}
    with pytest.raises(ValueError, match=r"Step 'bad'.*resources="):
        step(name="bad", resources=["GPU"])(lambda: None)


@step(enable_cache=False, timeout=0.5)
def overstays() -> int:
    time.sleep(4)
    return 1


@pipeline(enable_cache=False, orchestrator="dask")
def overstaying():
    overstays()


def test_a_dask_step_that_overruns_its_timeout_fails_with_a_timeout(dask_address):
    """Timeouts count from the worker's start report, which arrives while the step still runs
    (Dask cannot stop the body; the step is given up on and recorded as failed)."""
    from fanflow.exceptions import StepTimeoutError

    with pytest.raises(RunFailedError) as info:
        overstaying()
    assert isinstance(info.value.__cause__, StepTimeoutError)
    assert Client().get_pipeline("overstaying").last_run.steps["overstays"].status == "failed"


def test_a_run_without_max_parallelism_is_sized_by_the_cluster(dask_address):
    run = wide_map(n=3)
    assert run.steps["total"].output.load() == 6
    assert run.config.max_parallelism == 2  # the session cluster's two worker threads
