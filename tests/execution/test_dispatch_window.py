"""The orchestrator hands a local pool at most `local_dispatch_window(max_parallelism)` steps.

Handed-over steps are recorded `running` at once, so while every body is held, the store shows
exactly the window's worth of running steps: neither more (the bound holds) nor fewer (the pool
is kept fed up to the bound).
"""

from __future__ import annotations

import threading
import time

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.execution.executors.base import LOCAL_TASKS_PER_SLOT, local_dispatch_window

WIDTH = 100
release = threading.Event()


@step
def items(n: int) -> list[int]:
    return list(range(n))


@step
def held(value: int) -> int:
    release.wait(30)
    return value


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, max_parallelism=2, enable_cache=False)
def windowed() -> None:
    total(held.map(items(WIDTH)))


def running_count() -> int:
    runs = Client().list_pipeline_runs(size=1).items
    if not runs:
        return 0
    steps = [s for s in runs[0].steps.values() if s.name.startswith("map:held:")]
    return sum(1 for s in steps if str(s.status) == "running")


def test_window_is_sixteen_tasks_per_slot_and_one_when_sequential() -> None:
    assert LOCAL_TASKS_PER_SLOT == 16
    assert local_dispatch_window(2) == 32
    assert local_dispatch_window(1) == 1


def test_a_held_pool_gets_exactly_the_window_of_steps() -> None:
    release.clear()
    thread = threading.Thread(target=windowed)
    thread.start()
    try:
        window = local_dispatch_window(2)
        deadline = time.monotonic() + 20
        seen = 0
        while time.monotonic() < deadline and seen < window:
            seen = running_count()
            time.sleep(0.05)
        time.sleep(0.3)  # a loop that hands over more than the window would have done so now
        assert running_count() == window
    finally:
        release.set()
        thread.join(60)
    run = Client().list_pipeline_runs(size=1).items[0]
    assert str(run.status) == "completed"
    assert run.steps["total"].outputs
