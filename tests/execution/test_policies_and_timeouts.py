"""Failure policies, timeouts, exits inside steps and console lines, end to end.

Sleeps here are long next to their margins (a step's sleep vs. its timeout differs by seconds),
so no assertion depends on tight timing.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.config.retry_config import StepRetryConfig
from fanflow.exceptions import RunFailedError, StepTimeoutError

# --- failure policies ------------------------------------------------------------------------


@step(enable_cache=False)
def branch(i: int) -> int:
    if i == 0:
        raise ValueError("branch 0 is bad")
    time.sleep(0.01)
    return i


@step(enable_cache=False)
def reduce_all(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False, execution_mode="continue_on_failure")
def dynamic_continue():
    reduce_all(branch.map(list(range(40))))


def test_continue_on_failure_in_a_dynamic_pipeline_runs_every_independent_branch():
    with pytest.raises(RunFailedError, match="map:branch:0"):
        dynamic_continue()
    run = Client().get_pipeline("dynamic_continue").last_run
    statuses = {name: view.status for name, view in run.steps.items()}
    assert statuses.pop("map:branch:0") == "failed"
    assert statuses.pop("reduce_all") == "skipped"
    assert set(statuses.values()) == {"completed"} and len(statuses) == 39


started: list[str] = []


@step(enable_cache=False)
def first_fails() -> None:
    started.append("first")
    raise RuntimeError("first fails")


@step(enable_cache=False)
def independent(name: str) -> None:
    started.append(name)


@pipeline(enable_cache=False, execution_mode="stop_on_failure", max_parallelism=1)
def one_at_a_time():
    first_fails()
    for name in ("b", "c", "d"):
        independent(name, id=name)


def test_stop_on_failure_with_one_slot_starts_nothing_after_the_failure():
    started.clear()
    with pytest.raises(RunFailedError):
        one_at_a_time()
    assert started == ["first"]
    run = Client().get_pipeline("one_at_a_time").last_run
    assert [run.steps[name].status for name in ("b", "c", "d")] == ["skipped"] * 3


@step(enable_cache=False)
def sibling(i: int) -> int:
    if i == 2:
        raise ValueError("the third branch fails")
    time.sleep(0.3)
    return i


@pipeline(dynamic=True, enable_cache=False)
def three_siblings():
    sibling.map([0, 1, 2])


def test_stop_on_failure_lets_siblings_dispatched_with_the_failed_branch_finish():
    with pytest.raises(RunFailedError):
        three_siblings()
    run = Client().get_pipeline("three_siblings").last_run
    assert [run.steps[f"map:sibling:{i}"].status for i in range(3)] == [
        "completed",
        "completed",
        "failed",
    ]


# --- timeouts --------------------------------------------------------------------------------


@step(enable_cache=False, timeout=2.0)
def steady(i: int) -> int:
    time.sleep(0.8)
    return i


@pipeline(enable_cache=False, max_parallelism=2)
def six_in_two_slots():
    for i in range(6):
        steady(i, id=f"steady_{i}")


def test_the_timeout_clock_starts_when_the_body_starts_not_while_it_waits():
    # three rounds of 0.8 s: the last starts at 1.6 s, well past 2.0 s from dispatch
    run = six_in_two_slots()
    assert [run.steps[f"steady_{i}"].status for i in range(6)] == ["completed"] * 6


release = threading.Event()


@step(enable_cache=False, timeout=0.3)
def stuck() -> int:
    release.wait(60)
    return 0


@step(enable_cache=False)
def quick(i: int) -> int:
    return i


@pipeline(enable_cache=False, max_parallelism=1)
def stuck_then_quick():
    stuck()
    for i in range(3):
        quick(i, id=f"quick_{i}")


def test_a_timed_out_thread_step_does_not_keep_its_slot():
    release.clear()
    begun = time.monotonic()
    try:
        with pytest.raises(RunFailedError) as info:
            stuck_then_quick()
        assert time.monotonic() - begun < 30  # not held up by the stuck thread (60 s)
    finally:
        release.set()
    assert isinstance(info.value.__cause__, StepTimeoutError)
    assert "replacement thread" in str(info.value.__cause__)
    run = Client().get_pipeline("stuck_then_quick").last_run
    assert [run.steps[f"quick_{i}"].status for i in range(3)] == ["completed"] * 3
    view = run.steps["stuck"]
    assert view.status == "failed" and view.start_time is not None
    # about the timeout (0.3 s); the body's recorded start and the scheduler's clock differ by
    # a few milliseconds
    assert (view.end_time - view.start_time).total_seconds() >= 0.25


@pipeline(enable_cache=False, orchestrator="sequential")
def stuck_in_sequence():
    stuck()
    quick(1)


def test_timeouts_hold_in_sequential_mode():
    release.clear()
    begun = time.monotonic()
    try:
        with pytest.raises(RunFailedError) as info:
            stuck_in_sequence()
        assert time.monotonic() - begun < 30
    finally:
        release.set()
    assert isinstance(info.value.__cause__, StepTimeoutError)
    run = Client().get_pipeline("stuck_in_sequence").last_run
    assert run.steps["quick"].status == "completed"
    assert run.steps["stuck"].start_time is not None


# --- exits and interrupts raised by a step's body --------------------------------------------

hook_calls: list[str] = []


def remember(exception: BaseException) -> None:
    hook_calls.append(type(exception).__name__)


@step(enable_cache=False, retry=StepRetryConfig(max_retries=1), on_failure=remember)
def exits(kind: str) -> int:
    if kind == "exit":
        raise SystemExit(3)
    raise KeyboardInterrupt


@pipeline(enable_cache=False)
def exiting(kind: str = "exit"):
    exits(kind)


@pytest.mark.parametrize(
    ("kind", "name", "orchestrator"),
    [
        ("exit", "SystemExit", "local"),
        ("interrupt", "KeyboardInterrupt", "local"),
        ("exit", "SystemExit", "sequential"),
    ],
)
def test_sys_exit_or_keyboard_interrupt_in_a_body_is_a_step_failure(kind, name, orchestrator):
    hook_calls.clear()
    with pytest.raises(RunFailedError) as info:
        exiting.with_options(orchestrator=orchestrator)(kind=kind)
    assert type(info.value.__cause__).__name__ == name
    assert hook_calls == [name]
    view = Client().get_pipeline("exiting").last_run.steps["exits"]
    assert view.status == "failed" and len(view.attempts) == 2
    assert name in view.exception_info.traceback


# --- console lines ---------------------------------------------------------------------------


@step(enable_cache=False)
def pause(i: int) -> int:
    time.sleep(0.3)
    logging.getLogger("my.steps").warning("step %d logs", i)
    return i


@pipeline(enable_cache=False, max_parallelism=2)
def four_in_two_slots():
    for i in range(4):
        pause(i, id=f"pause_{i}")


def test_has_started_is_printed_when_the_body_starts(caplog, monkeypatch):
    monkeypatch.setenv("FANFLOW_PROGRESS", "0")  # a line per step event
    caplog.set_level(logging.INFO, logger="fanflow")
    four_in_two_slots()
    lines = [
        line
        for record in caplog.records
        if record.name == "fanflow"
        for line in record.getMessage().splitlines()
    ]
    first_finish = next(i for i, line in enumerate(lines) if "has finished" in line)
    assert sum("has started" in line for line in lines[:first_finish]) == 2
    assert sum("has started" in line for line in lines) == 4


HARD_EXIT = """
import os
from fanflow import pipeline, step

@step(enable_cache=False)
def leave() -> int:
    os._exit(7)

@pipeline(enable_cache=False)
def hard_exit():
    leave()

hard_exit()
"""


def test_os_exit_in_a_thread_step_ends_the_process_and_the_run_reads_failed(fanflow_home):
    import os
    import subprocess
    import sys

    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    done = subprocess.run(
        [sys.executable, "-c", HARD_EXIT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 7  # the whole process ended, as os._exit does
    run = Client().get_pipeline("hard_exit").last_run
    assert run.status == "failed"  # its recorded process is gone: the run cannot be running


@step(enable_cache=False)
def record_start(i: int) -> int:
    started.append(f"s{i}")
    if i == 0:
        time.sleep(0.2)  # both slots are busy by now; four steps wait in the executor's queue
        raise RuntimeError("the first fails")
    time.sleep(1.0)
    return i


@pipeline(enable_cache=False, execution_mode="stop_on_failure", max_parallelism=2)
def two_slots_stop():
    for i in range(6):
        record_start(i, id=f"s{i}")


def test_stop_on_failure_starts_nothing_queued_behind_running_steps():
    started.clear()
    with pytest.raises(RunFailedError):
        two_slots_stop()
    assert sorted(started) == ["s0", "s1"]
    run = Client().get_pipeline("two_slots_stop").last_run
    assert [run.steps[f"s{i}"].status for i in range(6)] == ["failed", "completed"] + [
        "skipped"
    ] * 4
