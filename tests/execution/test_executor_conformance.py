"""Every registered executor honours the seam (`executors/base.py`) and runs the same pipelines
to the same results. Adding an executor to the registry adds it to every test here (`dask`
runs on the session's local cluster of worker processes)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.exceptions import RunFailedError, StepTimeoutError
from fanflow.execution.executors import EXECUTORS, executor_class
from topologies import diamond, fan_out_fan_in

MODES = sorted(EXECUTORS)


def _double(x: int) -> int:
    return 2 * x


def _fail(message: str) -> int:
    raise ValueError(message)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.fixture(params=MODES)
def executor(request):
    cls = executor_class(request.param)
    instance = cls(2, load_settings())
    yield instance
    instance.shutdown(wait=False)


def test_executors_declare_their_capabilities(executor):
    for attribute in ("ships_functions_by_value", "can_kill", "is_remote"):
        assert isinstance(getattr(type(executor), attribute), bool)
    assert type(executor).name in EXECUTORS


def test_submit_returns_a_future_and_delivers_failures_through_it(executor):
    ok = executor.submit(_double, 21)
    bad = executor.submit(_fail, "no good")
    assert isinstance(ok, Future) and ok.result(timeout=60) == 42
    with pytest.raises(ValueError, match="no good"):
        bad.result(timeout=60)


def test_every_started_body_is_reported_once(executor):
    seen: list[Future] = []
    lock = threading.Lock()

    def listener(future):
        with lock:
            seen.append(future)

    executor.watch_starts(listener)
    futures = [executor.submit(_double, i) for i in range(5)]
    assert [f.result(timeout=60) for f in futures] == [0, 2, 4, 6, 8]
    assert sorted(map(id, seen)) == sorted(map(id, futures))


def test_cancel_withdraws_queued_work_and_kill_matches_can_kill(executor):
    if type(executor).name == "sequential":
        pytest.skip("runs each body inside submit: nothing is ever queued")
    blockers = [executor.submit(_sleep, 1.5) for _ in range(2)]
    queued = executor.submit(_double, 1)
    assert executor.cancel(queued) and queued.cancelled()
    deadline = time.monotonic() + 30
    while not blockers[0].running() and time.monotonic() < deadline:
        time.sleep(0.01)
    killed = executor.kill(blockers[0], RuntimeError("killed"))
    assert killed is type(executor).can_kill
    if killed:
        with pytest.raises(RuntimeError, match="killed"):
            blockers[0].result(timeout=30)
    assert blockers[1].result(timeout=30) == 1.5


def test_unknown_names_get_a_clear_error():
    with pytest.raises(ValueError, match="Unknown orchestrator 'dusk'; expected one of"):
        executor_class("dusk")


@pytest.fixture(autouse=True)
def _dask_cluster_for_dask_mode(request):
    """Runs and executors in `dask` mode use the session's local cluster (started once)."""
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    if "dask" in (params.get("mode"), params.get("executor")):
        request.getfixturevalue("dask_address")


@step(enable_cache=False)
def start() -> int:
    return 2


@step(enable_cache=False)
def branch(value: int, offset: int) -> int:
    return value + offset


@step(enable_cache=False)
def gather(values: list[int]) -> int:
    return sum(values)


@pipeline(enable_cache=False)
def fan_out_fan_in_plain(width: int = 6):
    value = start()
    gather([branch(value, i, id=f"branch_{i}") for i in range(width)])


@pipeline(enable_cache=False)
def diamond_plain():
    top = start()
    gather([branch(top, 3, id="left"), branch(top, 5, id="right")])


@pytest.mark.parametrize("mode", MODES)
def test_static_topologies(mode):
    run = fan_out_fan_in_plain.with_options(orchestrator=mode)(width=6)
    assert run.steps["gather"].output.load() == sum(2 + i for i in range(6))
    assert run.config.orchestrator == mode
    run = diamond_plain.with_options(orchestrator=mode)()
    assert run.steps["gather"].output.load() == 12
    assert list(run.steps) == ["start", "left", "right", "gather"]


def test_steps_closing_over_unpicklable_state_get_a_clear_error_in_processes():
    pipe, _ = fan_out_fan_in(width=2)  # its steps close over a lock-holding event log
    with pytest.raises(RunFailedError, match="cannot be pickled"):
        pipe.with_options(orchestrator="processes")()
    assert diamond()[0]().steps["bottom"].output.load() == 16  # threads are fine


@step(enable_cache=False)
def shards(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def times(x: int, factor: int) -> int:
    return x * factor


@step(enable_cache=False)
def add_up(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def dynamic_sum(n: int = 12):
    add_up(times.map(times.map(shards(n), unmapped(2)), unmapped(5)))


@pytest.mark.parametrize("mode", MODES)
def test_dynamic_chained_maps(mode):
    run = dynamic_sum.with_options(orchestrator=mode)(n=12)
    assert run.steps["add_up"].output.load() == 10 * sum(range(12))
    assert run.steps["map:times_2:3"].inputs["x"][0].load() == 6


@step(enable_cache=False)
def where_am_i(i: int) -> int:
    print(f"working on {i}")
    return os.getpid()


@pipeline(enable_cache=False, orchestrator="processes", max_parallelism=2)
def in_processes():
    for i in range(4):
        where_am_i(i, id=f"where_{i}")


def test_process_steps_run_outside_the_orchestrator_and_keep_their_logs():
    run = in_processes()
    pids = {run.steps[f"where_{i}"].output.load() for i in range(4)}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    for i in range(4):
        assert f"working on {i}" in run.steps[f"where_{i}"].logs.read()


@step(enable_cache=False, timeout=0.5)
def endless() -> int:
    while True:
        time.sleep(0.05)


@pipeline(enable_cache=False, orchestrator="processes")
def killing():
    endless()


def test_timeout_kills_a_process_step():
    started = time.perf_counter()
    with pytest.raises(RunFailedError) as info:
        killing()
    assert time.perf_counter() - started < 10
    assert isinstance(info.value.__cause__, StepTimeoutError)
    assert "process was killed" in str(info.value.__cause__)
    view = Client().get_pipeline("killing").last_run.steps["endless"]
    assert view.status == "failed"


class Unpicklable(Exception):
    def __init__(self, handle):
        super().__init__("cannot travel")
        self.handle = handle


@step(enable_cache=False)
def raises_unpicklable() -> int:
    import threading

    raise Unpicklable(threading.Lock())


@pipeline(enable_cache=False, orchestrator="processes")
def remote_failure():
    raises_unpicklable()


def test_an_unpicklable_step_error_still_reports_its_message_and_traceback():
    with pytest.raises(RunFailedError) as info:
        remote_failure()
    assert "Unpicklable: cannot travel" in str(info.value)
    view = Client().get_pipeline("remote_failure").last_run.steps["raises_unpicklable"]
    assert "Unpicklable" in view.exception_info.traceback


@step(enable_cache=False)
def one() -> int:
    return 1


@pipeline(enable_cache=False, orchestrator="processes")
def sized_by_default():
    one()


def test_processes_are_one_per_core_unless_max_parallelism_says_otherwise(monkeypatch):
    monkeypatch.delenv("FANFLOW_MAX_PARALLELISM", raising=False)
    assert sized_by_default().config.max_parallelism == (os.cpu_count() or 1)
    run = sized_by_default.with_options(max_parallelism=3)()
    assert run.config.max_parallelism == 3


class RecordingExecutor(executor_class("threads")):  # type: ignore[misc]
    """A plugin executor (threads) that keeps every task it is handed, pickled."""

    name = "recording"
    seen: list[bytes] = []

    def submit(self, fn, task):
        import cloudpickle

        RecordingExecutor.seen.append(cloudpickle.dumps(task))
        return super().submit(fn, task)


@pipeline(enable_cache=False)
def on_a_plugin():
    gather([branch(start(), i, id=f"plugin_{i}") for i in range(3)])


def test_a_registered_plugin_runs_and_tasks_carry_no_metadata_url(monkeypatch):
    from fanflow.execution import executors

    monkeypatch.setitem(executors.EXECUTORS, "recording", f"{__name__}:RecordingExecutor")
    RecordingExecutor.seen.clear()
    run = on_a_plugin.with_options(orchestrator="recording")()
    assert run.config.orchestrator == "recording"
    assert run.steps["gather"].output.load() == 3 * 2 + 0 + 1 + 2
    settings = load_settings()
    assert len(RecordingExecutor.seen) >= 5
    for payload in RecordingExecutor.seen:
        assert settings.metadata_url.encode() not in payload
        assert b"fanflow.db" not in payload
