"""Every executor runs the same pipelines to the same results (threads, inline, processes, and
Dask on a local cluster of worker processes)."""

from __future__ import annotations

import os
import time

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.client import Client
from fanflow.exceptions import RunFailedError, StepTimeoutError
from topologies import diamond, fan_out_fan_in

MODES = ["local", "sequential", "processes", "dask"]


@pytest.fixture(autouse=True)
def _dask_cluster_for_dask_mode(request):
    """Runs in `dask` mode use the session's local cluster (started once)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("mode") == "dask":
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
