"""Dynamic pipelines: failures, bad input, fan-out limits and per-branch caching."""

from __future__ import annotations

import threading
import time

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.client import Client
from fanflow.exceptions import (
    FanOutLimitError,
    MapInputError,
    RunFailedError,
    StepExecutionException,
    StepInterfaceError,
)

CALLS: list[int] = []
LOCK = threading.Lock()


@step
def square(x: int) -> int:
    with LOCK:
        CALLS.append(x)
    return x * x


@step
def total(values: list[int]) -> int:
    return sum(values)


@step
def make_list(values: list[int]) -> list[int]:
    return values


def _steps_of(pipeline_name: str) -> dict:
    return Client().get_pipeline(pipeline_name).last_run.steps


def test_a_failed_branch_fails_the_run_naming_branch_and_index_while_siblings_finish():
    started = threading.Semaphore(0)

    @step(enable_cache=False)
    def fragile(x: int) -> int:
        started.release()
        if x == 3:
            for _ in range(6):  # fail only once every sibling is running
                started.acquire(timeout=5)
            raise ValueError("three is bad")
        time.sleep(0.3)
        return x

    @pipeline(dynamic=True, enable_cache=False, max_parallelism=8)
    def mostly_fine():
        total(fragile.map(list(range(6))))

    with pytest.raises(StepExecutionException) as info:
        mostly_fine()
    message = str(info.value)
    assert "map:fragile:3" in message
    assert isinstance(info.value.__cause__, ValueError)
    steps = _steps_of("mostly_fine")
    assert steps["map:fragile:3"].status == "failed"
    finished = [
        n for n, s in steps.items() if n.startswith("map:fragile") and s.status == "completed"
    ]
    assert len(finished) == 5
    assert steps["total"].status == "skipped"


def test_loading_a_failed_future_raises_the_steps_error_clearly():
    @step(enable_cache=False)
    def broken() -> int:
        raise KeyError("missing column")

    seen = {}

    @pipeline(dynamic=True, enable_cache=False)
    def awaiting():
        future = broken.submit()
        try:
            future.load()
        except StepExecutionException as exc:
            seen["message"] = str(exc)
            seen["cause"] = exc.__cause__
            raise

    with pytest.raises(RunFailedError):
        awaiting()
    assert "Step `broken` failed" in seen["message"] and "missing column" in seen["message"]
    assert isinstance(seen["cause"], KeyError)


def test_pipeline_function_raising_after_some_branches_ran():
    @pipeline(dynamic=True, enable_cache=False)
    def raises_midway():
        square.map([1, 2, 3]).wait()
        raise RuntimeError("changed my mind")

    with pytest.raises(RunFailedError) as info:
        raises_midway()
    assert "changed my mind" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    run = Client().get_pipeline("raises_midway").last_run
    assert run.status == "failed"
    assert [run.steps[f"map:square:{i}"].status for i in range(3)] == ["completed"] * 3


def test_mapping_over_a_scalar_or_a_string_is_refused_before_any_branch():
    @pipeline(dynamic=True, enable_cache=False)
    def scalar():
        square.map(5)

    with pytest.raises(RunFailedError) as info:
        scalar()
    assert isinstance(info.value.__cause__, MapInputError)
    assert "unmapped" in str(info.value.__cause__) and "'x'" in str(info.value.__cause__)
    assert "map:square:0" not in _steps_of("scalar")

    @pipeline(dynamic=True, enable_cache=False)
    def over_output_that_is_not_a_list():
        square.map(total([1, 2]))

    with pytest.raises(RunFailedError) as info:
        over_output_that_is_not_a_list()
    assert "not" in str(info.value.__cause__) and "unmapped" in str(info.value.__cause__)


def test_mapped_inputs_of_different_lengths_are_refused():
    @step(enable_cache=False)
    def add(a: int, b: int) -> int:
        return a + b

    @pipeline(dynamic=True, enable_cache=False)
    def uneven():
        add.map([1, 2, 3], [1, 2])

    with pytest.raises(RunFailedError) as info:
        uneven()
    cause = info.value.__cause__
    assert isinstance(cause, MapInputError)
    assert "a=3" in str(cause) and "b=2" in str(cause)
    assert not any(name.startswith("map:") for name in _steps_of("uneven"))


def test_mapping_over_an_empty_list_gives_zero_branches_and_an_empty_fan_in():
    @pipeline(dynamic=True, enable_cache=False)
    def empty():
        total(square.map(make_list([])))

    run = empty()
    assert run.status == "completed"
    assert run.steps["total"].output.load() == 0
    assert run.steps["total"].inputs == {}


def test_unmapped_outside_a_map_and_everything_unmapped_are_refused():
    @pipeline(dynamic=True, enable_cache=False)
    def misuse():
        square(unmapped(3))

    with pytest.raises(RunFailedError) as info:
        misuse()
    assert isinstance(info.value.__cause__, StepInterfaceError)
    assert "unmapped" in str(info.value.__cause__)

    @pipeline(dynamic=True, enable_cache=False)
    def nothing_to_map():
        square.map(unmapped([1, 2]))

    with pytest.raises(RunFailedError) as info:
        nothing_to_map()
    assert "nothing to map over" in str(info.value.__cause__)


def test_max_fan_out_fails_fast_before_any_branch_starts():
    @pipeline(dynamic=True, enable_cache=False, max_fan_out=10)
    def too_wide():
        square.map(list(range(11)))

    with pytest.raises(RunFailedError) as info:
        too_wide()
    assert isinstance(info.value.__cause__, FanOutLimitError)
    assert "11" in str(info.value.__cause__) and "max_fan_out=10" in str(info.value.__cause__)
    assert not any(name.startswith("map:") for name in _steps_of("too_wide"))


def test_caching_works_per_branch():
    @pipeline(dynamic=True)
    def cached_map(values: list[int]):
        total(square.map(make_list(values)))

    CALLS.clear()
    cached_map(values=list(range(20)))
    assert sorted(CALLS) == list(range(20))
    CALLS.clear()
    changed = list(range(20))
    changed[2], changed[7], changed[11] = 102, 107, 111
    run = cached_map(values=changed)
    assert sorted(CALLS) == [102, 107, 111]
    statuses = [run.steps[f"map:square:{i}"].status for i in range(20)]
    assert statuses.count("completed") == 3 and statuses.count("cached") == 17


def test_branch_identity_does_not_depend_on_call_order():
    @pipeline(dynamic=True)
    def before(values: list[int]):
        total(square.map(values))

    @pipeline(dynamic=True, name="before")
    def after_inserting_a_call(values: list[int]):
        square(99)  # a new call before the map
        total(square.map(values))

    before(values=[1, 2, 3])
    CALLS.clear()
    run = after_inserting_a_call(values=[1, 2, 3])
    assert CALLS == [99]
    assert {run.steps[f"map:square:{i}"].status for i in range(3)} == {"cached"}
