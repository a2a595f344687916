"""What the orchestrator keeps of a map's branches once they have started or finished.

A wide map must not hold, per finished branch, the invocation it was built from, the record of
the item it read, the scheduler's node description or status entry, or a handle and future
object of its own (the map's futures are one table): only what a pending fan-in needs (each
branch's output). These tests count the live objects of each kind while the fan-in runs, so
they fail whenever finished-branch state is kept again.
"""

from __future__ import annotations

import gc

from fanflow import pipeline, step, unmapped
from fanflow.artifacts.items import ITEM_MATERIALIZER
from fanflow.authoring.futures import StepFuture
from fanflow.execution.core import NodeSpec
from fanflow.execution.known import InvocationHandle, KnownArtifact
from fanflow.execution.state import SchedulerState
from fanflow.spec import Invocation

BRANCHES = 300
BRANCH_PREFIX = "map:branch_of_memory_test:"
live_at_fan_in: dict[str, int] = {}


def _count_live() -> dict[str, int]:
    """Objects of this test's map (its step name is unique to this module; other tests' runs
    in the same process may keep objects of their own)."""
    gc.collect()
    counts = dict.fromkeys(
        ("invocations", "items", "node_specs", "outputs", "handles", "futures", "node_states"), 0
    )
    for obj in gc.get_objects():
        if isinstance(obj, (InvocationHandle, StepFuture)):
            if obj.invocation_id.startswith(BRANCH_PREFIX):
                counts["handles" if isinstance(obj, InvocationHandle) else "futures"] += 1
        elif isinstance(obj, SchedulerState):
            counts["node_states"] += sum(
                1 for node in obj._status if node.startswith(BRANCH_PREFIX)
            )
            counts["node_states"] += sum(1 for node in obj._depth if node.startswith(BRANCH_PREFIX))
        elif isinstance(obj, Invocation) and obj.id.startswith(BRANCH_PREFIX):
            counts["invocations"] += 1
        elif isinstance(obj, NodeSpec) and obj.id.startswith(BRANCH_PREFIX):
            counts["node_specs"] += 1
        elif isinstance(obj, KnownArtifact):
            if obj.materializer == ITEM_MATERIALIZER:
                counts["items"] += 1
            else:
                counts["outputs"] += 1
    return counts


@step
def list_shards(n: int) -> list[int]:
    return list(range(n))


@step
def branch_of_memory_test(shard: int, factor: int) -> int:
    return shard * factor


@step
def total(values: list[int]) -> int:
    live_at_fan_in.update(_count_live())
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def mapped(n: int = 10):
    total(branch_of_memory_test.map(list_shards(n), factor=unmapped(3)))


def test_finished_branches_leave_only_their_outputs_behind():
    run = mapped(n=BRANCHES)
    assert run.status == "completed"
    assert run.steps["total"].output.load() == 3 * sum(range(BRANCHES))
    assert live_at_fan_in["invocations"] == 0, live_at_fan_in
    assert live_at_fan_in["items"] == 0, live_at_fan_in
    assert live_at_fan_in["node_specs"] == 0, live_at_fan_in
    assert live_at_fan_in["handles"] == 0, live_at_fan_in
    assert live_at_fan_in["futures"] == 0, live_at_fan_in
    assert live_at_fan_in["node_states"] == 0, live_at_fan_in
    # What the fan-in needs is still there: one known output per branch (and the list's).
    assert live_at_fan_in["outputs"] >= BRANCHES, live_at_fan_in


@step
def pick(value: int) -> int:
    return value


@pipeline(dynamic=True, enable_cache=False)
def chunk_read_twice():
    values = list_shards(5)
    first = pick(values.chunk(3)).load()
    # The item's record was released once `first` was dispatched; a later reader gets it back
    # from the store.
    second = pick(values.chunk(3)).load()
    assert (first, second) == (3, 3)


def test_an_item_read_again_after_its_first_reader_started_is_read_from_the_store():
    run = chunk_read_twice()
    assert run.status == "completed"
    assert [s.output.load() for s in run.steps.values() if s.name.startswith("pick")] == [3, 3]


@step
def pair(left: int, right: int) -> int:
    return left * 10 + right


@pipeline(dynamic=True, enable_cache=False)
def product_map():
    results = pair.product(list_shards(3), list_shards(4))
    total(results)


def test_items_read_by_several_branches_of_a_product_map_stay_until_the_last_one():
    run = product_map()
    assert run.status == "completed"
    expected = sum(left * 10 + right for left in range(3) for right in range(4))
    assert run.steps["total"].output.load() == expected
