"""A map wider than `MAP_PENDING_LIMIT` is added while it runs, a chunk at a time.

The limits are lowered here so a small map takes the gradual path: the orchestrator must never
hold more than the limit plus one chunk of the map's branches waiting to be dispatched, every
branch must still run and be recorded, and a run that stops, or a map call that raises part
way, must end instead of waiting for branches that will never be added.
"""

from __future__ import annotations

from typing import Any

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.authoring import dynamic
from fanflow.client import Client
from fanflow.exceptions import StepInterfaceError
from fanflow.execution.runner import Orchestrator

LIMIT = 6
CHUNK = 4
WIDTH = 200
pending_seen: list[int] = []


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamic, "MAP_PENDING_LIMIT", LIMIT)
    monkeypatch.setattr(dynamic, "MAP_ADD_CHUNK", CHUNK)


@pytest.fixture(autouse=True)
def pending_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notes, in the orchestrator's own thread, how many invocations it holds undispatched
    right after each addition (when that number peaks)."""
    pending_seen.clear()
    original = Orchestrator._add

    def watched(self: Orchestrator, item: Any) -> Any:
        added = original(self, item)
        pending_seen.append(len(self.invocations))
        return added

    monkeypatch.setattr(Orchestrator, "_add", watched)


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def scaled(value: int, factor: int) -> int:
    return value * factor


@step
def added_up(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def wide(n: int = WIDTH):
    added_up(scaled.map(numbers(n), factor=unmapped(2)))


def test_a_wide_map_never_holds_more_than_the_limit_and_a_chunk_pending(small_limits):
    run = wide()
    assert run.status == "completed"
    assert run.steps["added_up"].output.load() == 2 * sum(range(WIDTH))
    branches = [name for name in run.steps if name.startswith("map:scaled:")]
    assert len(branches) == WIDTH
    # Chunks of CHUNK branches, each added once at most LIMIT waited; the fan-in comes last.
    assert len(pending_seen) >= WIDTH // CHUNK
    assert max(pending_seen) <= LIMIT + CHUNK + 1, pending_seen
    record = Client().get_pipeline_run(run.id)
    assert [record.steps[f"map:scaled:{i}"].output.load() for i in range(WIDTH)] == [
        2 * i for i in range(WIDTH)
    ]


def test_the_same_map_added_whole_holds_every_branch_pending_at_first():
    """The counterpart: with the default limits, a map this size is added at once."""
    run = wide()
    assert run.status == "completed"
    assert max(pending_seen) > LIMIT + CHUNK, pending_seen


@step
def fragile(value: int) -> int:
    if value == 5:
        raise ValueError("branch five breaks")
    return value


@pipeline(dynamic=True, enable_cache=False)
def wide_and_failing(n: int = WIDTH):
    added_up(fragile.map(numbers(n)))


def test_a_failing_branch_stops_a_gradual_map_without_hanging(small_limits):
    with pytest.raises(Exception, match="branch five breaks"):
        wide_and_failing()
    run = Client().get_pipeline("wide_and_failing").last_run
    assert run.status == "failed"
    assert run.steps["map:fragile:5"].status == "failed"
    assert "added_up" not in run.steps or run.steps["added_up"].status == "skipped"


@step(enable_cache=False)
def pair() -> tuple[int, int]:
    return 1, 2


@step
def passthrough(value: int) -> int:
    return value


outcome: dict[str, object] = {}


@pipeline(dynamic=True, enable_cache=False)
def map_call_raises_part_way():
    values: list[object] = list(range(10))
    values[9] = pair.submit()  # a future with two outputs cannot be one branch's input
    try:
        passthrough.map(values)
    except StepInterfaceError as exc:
        outcome["error"] = str(exc)
    outcome["after"] = passthrough(7).load()


def test_a_map_call_that_raises_part_way_leaves_a_run_that_ends(small_limits):
    outcome.clear()
    run = map_call_raises_part_way()
    assert "multiple output artifacts" in str(outcome["error"])
    assert outcome["after"] == 7
    assert run.status == "completed"
    added = sorted(name for name in run.steps if name.startswith("map:passthrough:"))
    # The chunks before the one that raised were added and ran; nothing after them exists.
    assert added == [f"map:passthrough:{i}" for i in range(8)]
    assert all(run.steps[name].status == "completed" for name in added)
