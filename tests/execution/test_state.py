"""The scheduler state alone: counters, ready queue, failure propagation, dynamic additions."""

from __future__ import annotations

import pytest

from fanflow.execution.state import NodeStatus, SchedulerState


def diamond_state() -> SchedulerState:
    state = SchedulerState()
    state.add([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])])
    return state


def test_roots_are_ready_in_insertion_order():
    state = SchedulerState()
    state.add([("x", []), ("y", []), ("z", ["x"])])
    assert state.take(10) == ["x", "y"]
    assert state.status("z") is NodeStatus.WAITING


def test_completion_releases_dependents_once_all_upstreams_finish():
    state = diamond_state()
    assert state.take(5) == ["a"]
    assert state.complete("a") == ["b", "c"]
    assert state.take(1) == ["b"]
    assert state.complete("b") == []
    assert state.take(5) == ["c"]
    assert state.complete("c") == ["d"]
    state.take(1)
    state.complete("d")
    assert state.done


def test_take_respects_the_limit():
    state = SchedulerState()
    state.add((f"n{i}", []) for i in range(10))
    assert len(state.take(3)) == 3 and state.running_count == 3 and state.ready_count == 7


def test_failure_skips_exactly_the_transitive_dependents():
    state = SchedulerState()
    state.add([("a", []), ("b", ["a"]), ("c", ["b"]), ("other", []), ("join", ["c", "other"])])
    state.take(5)
    assert sorted(state.fail("a")) == ["b", "c", "join"]
    assert state.status("other") is NodeStatus.RUNNING
    state.complete("other")
    assert state.done


def test_nodes_added_later_see_finished_upstreams():
    state = SchedulerState()
    state.add([("a", []), ("bad", [])])
    state.take(2)
    state.complete("a")
    state.fail("bad")
    state.add([("after_a", ["a"])])
    assert state.status("after_a") is NodeStatus.READY
    assert state.add([("after_bad", ["bad"])]) == ["after_bad"]


def test_forward_references_within_one_batch():
    state = SchedulerState()
    state.add([("late", ["early"]), ("early", [])])
    assert state.take(5) == ["early"]


def test_skip_unstarted_stops_new_work():
    state = diamond_state()
    state.take(1)
    assert sorted(state.skip_unstarted()) == ["b", "c", "d"]
    state.complete("a")
    assert state.done


def test_invalid_transitions_are_refused():
    state = diamond_state()
    with pytest.raises(ValueError):
        state.complete("a")
    with pytest.raises(ValueError):
        state.add([("a", [])])
    with pytest.raises(ValueError):
        state.add([("e", ["nope"])])
