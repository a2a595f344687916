"""Dynamic pipelines: the pipeline function runs as Python while the run goes on."""

from __future__ import annotations

import threading
import time
from typing import Annotated

import pytest

from fanflow import get_step_context, pipeline, step, unmapped
from fanflow.client import Client
from fanflow.exceptions import RunFailedError, StepExecutionException


@step
def list_shards(n: int) -> list[int]:
    return list(range(n))


@step
def process(shard: int, factor: int) -> int:
    return shard * factor


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def shards_pipeline(n: int = 20):
    shards = list_shards(n)
    results = process.map(shards, factor=unmapped(3))
    total(results)


def test_the_issue_example_runs_and_every_branch_is_queryable():
    run = shards_pipeline(n=25)
    assert run.status == "completed"
    assert run.steps["total"].output.load() == 3 * sum(range(25))
    run = Client().get_pipeline("shards_pipeline").last_run
    branches = {name: s for name, s in run.steps.items() if name.startswith("map:process:")}
    assert len(branches) == 25
    for index in range(25):
        branch = branches[f"map:process:{index}"]
        assert branch.map_index == index and branch.map_group == "process"
        assert branch.inputs["shard"][0].load() == index
        assert branch.output.load() == 3 * index
        assert branch.config.parameters == {"factor": 3}
    assert [a.load() for a in run.steps["total"].inputs["values"]] == [3 * i for i in range(25)]


def test_plain_calls_return_loadable_outputs_so_python_control_flow_works():
    @step(enable_cache=False)
    def count() -> int:
        return 3

    @step(enable_cache=False)
    def double(x: int) -> int:
        return 2 * x

    seen = []

    @pipeline(dynamic=True, enable_cache=False)
    def branching():
        n = count()
        value = n.load()
        for i in range(value):
            out = double(i)
            if out.load() > 2:
                seen.append(out.load())

    run = branching()
    assert seen == [4]
    assert sorted(run.steps) == ["count", "double", "double_2", "double_3"]


def test_submit_runs_concurrently_and_futures_resolve():
    @step(enable_cache=False)
    def slow(x: int) -> int:
        time.sleep(0.4)
        return x

    results = {}

    @pipeline(dynamic=True, enable_cache=False)
    def submitting():
        futures = [slow.submit(i) for i in range(4)]
        futures[0].wait()
        results["loaded"] = [f.load() for f in futures]
        results["artifact"] = futures[1].result().load()
        total(futures)

    started = time.perf_counter()
    run = submitting()
    assert time.perf_counter() - started < 4 * 0.4
    assert results == {"loaded": [0, 1, 2, 3], "artifact": 1}
    assert run.steps["total"].output.load() == 6


def test_map_over_a_plain_list_product_and_unpack():
    @step(enable_cache=False)
    def pair(a: int, b: str) -> tuple[Annotated[int, "number"], Annotated[str, "label"]]:
        return a, f"{b}{a}"

    @step(enable_cache=False)
    def join(labels: list[str]) -> str:
        return ",".join(labels)

    captured = {}

    @pipeline(dynamic=True, enable_cache=False)
    def mapping():
        mapped = pair.map([1, 2], ["x", "y"])
        numbers, labels = mapped.unpack()
        captured["numbers"] = [n.load() for n in numbers]
        join(labels)
        crossed = pair.product([1, 2], ["p", "q", "r"])
        captured["product"] = [f.load() for f in crossed]

    run = mapping()
    assert captured["numbers"] == [1, 2]
    assert run.steps["join"].output.load() == "x1,y2"
    assert captured["product"] == [(1, "p1"), (1, "q1"), (1, "r1"), (2, "p2"), (2, "q2"), (2, "r2")]
    assert "map:pair_2:5" in run.steps


def test_map_over_artifacts_of_earlier_runs():
    shards_pipeline(n=5)
    earlier = Client().get_pipeline("shards_pipeline").last_run
    list_artifact = earlier.steps["list_shards"].output
    branch_outputs = [earlier.steps[f"map:process:{i}"].output for i in range(5)]

    @pipeline(dynamic=True, enable_cache=False)
    def reuse():
        total(process.map(list_artifact, factor=unmapped(10)), id="from_list")
        total(process.map(branch_outputs, factor=unmapped(2)), id="from_versions")

    run = reuse()
    assert run.steps["from_list"].output.load() == 10 * sum(range(5))
    assert run.steps["from_versions"].output.load() == 2 * 3 * sum(range(5))


def test_chained_maps_pipeline_item_by_item():
    events: dict[str, float] = {}
    lock = threading.Lock()

    @step(enable_cache=False)
    def first(i: int) -> int:
        time.sleep(0.05 if i == 0 else 0.5)
        with lock:
            events[f"first_end_{i}"] = time.perf_counter()
        return i

    @step(enable_cache=False)
    def second(i: int) -> int:
        with lock:
            events[f"second_start_{i}"] = time.perf_counter()
        return i * 10

    @pipeline(dynamic=True, enable_cache=False, max_parallelism=4)
    def chained():
        total(second.map(first.map([0, 1, 2, 3])))

    run = chained()
    assert run.steps["total"].output.load() == 60
    assert events["second_start_0"] < max(events[f"first_end_{i}"] for i in range(1, 4))


def test_max_concurrency_bounds_one_steps_branches_and_map_index_is_in_context():
    active = 0
    peak = 0
    indices = []
    lock = threading.Lock()

    @step(enable_cache=False, max_concurrency=2)
    def limited(x: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            indices.append(get_step_context().map_index)
        time.sleep(0.05)
        with lock:
            active -= 1
        return x

    @pipeline(dynamic=True, enable_cache=False, max_parallelism=8)
    def bounded():
        total(limited.map(list(range(8))))

    run = bounded()
    assert peak == 2
    assert sorted(indices) == list(range(8))
    assert run.steps["total"].output.load() == sum(range(8))


def test_static_pipeline_map_over_a_literal_list():
    @pipeline(enable_cache=False)
    def static_map():
        total(process.map([1, 2, 3], factor=unmapped(5)))

    run = static_map()
    assert run.steps["total"].output.load() == 30
    assert run.steps["map:process:2"].map_index == 2


def test_unawaited_failing_submit_fails_the_run():
    @step(enable_cache=False)
    def boom() -> int:
        raise ValueError("nobody waited for me")

    @pipeline(dynamic=True, enable_cache=False)
    def forgetful():
        boom.submit()

    with pytest.raises(RunFailedError) as info:
        forgetful()
    assert "boom" in str(info.value)
    assert isinstance(info.value, StepExecutionException)
    assert isinstance(info.value.__cause__, ValueError)
    assert Client().get_pipeline("forgetful").last_run.status == "failed"


def test_submitted_futures_are_awaited_before_the_run_ends():
    finished = []

    @step(enable_cache=False)
    def late(x: int) -> int:
        time.sleep(0.2)
        finished.append(x)
        return x

    @pipeline(dynamic=True, enable_cache=False)
    def fire_and_forget():
        for i in range(3):
            late.submit(i)

    run = fire_and_forget()
    assert sorted(finished) == [0, 1, 2]
    assert run.status == "completed"
    assert {s.status for s in run.steps.values()} == {"completed"}


def test_map_results_index_slice_and_name_branches_like_a_list_of_futures():
    seen: dict[str, object] = {}

    @step(enable_cache=False)
    def last_one() -> int:
        return 7

    @pipeline(dynamic=True, enable_cache=False)
    def indexed():
        results = process.map(list_shards(5), factor=unmapped(2))
        seen["len"] = len(results)
        seen["last"] = results[-1].load()
        seen["middle"] = [future.load() for future in results[1:3]]
        seen["ids"] = [future.invocation_id for future in results]
        seen["repr"] = repr(results)
        with pytest.raises(IndexError, match="5 branches"):
            results[5]
        # A branch id names a launched step for after=; one past the map's width does not.
        last_one(after="map:process:4")
        with pytest.raises(Exception, match="names no step launched"):
            last_one(after="map:process:5")
        seen["all"] = results.load()

    run = indexed()
    assert run.status == "completed"
    assert seen["len"] == 5 and seen["last"] == 8 and seen["middle"] == [2, 4]
    assert seen["ids"] == [f"map:process:{index}" for index in range(5)]
    assert seen["repr"] == "MapResultsFuture('process', 5 branches)"
    assert seen["all"] == [0, 2, 4, 6, 8]
    assert run.steps["last_one"].upstream == ["map:process:4"]
