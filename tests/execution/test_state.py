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


def _run_map(state: SchedulerState, group: str, width: int) -> list[str]:
    branches = [f"map:{group}:{index}" for index in range(width)]
    state.add((branch, ["root"]) for branch in branches)
    assert sorted(state.take(width)) == sorted(branches)
    for branch in branches:
        state.complete(branch)
    return branches


def test_a_completed_map_branch_is_forgotten_but_still_reads_as_completed():
    state = SchedulerState(depth_first=True)
    state.add([("root", [])])
    state.take(1)
    state.complete("root")
    branches = _run_map(state, "square", 5)
    # No per-branch entry is left in the node tables, only the group's byte table.
    assert not [node for node in state._status if node.startswith("map:")]
    assert not [node for node in state._depth if node.startswith("map:")]
    assert all(state.status(branch) is NodeStatus.COMPLETED for branch in branches)
    assert "map:square:4" in state and "map:square:5" not in state
    assert sorted(state.nodes_with(NodeStatus.COMPLETED)) == sorted(["root", *branches])
    # A node added later that reads the branches is ready at once, and deeper than them.
    assert state.add([("fan_in", branches)]) == []
    assert state.status("fan_in") is NodeStatus.READY
    assert state._depth["fan_in"] == 2
    with pytest.raises(ValueError, match="added twice"):
        state.add([("map:square:2", [])])
    with pytest.raises(ValueError, match="unknown"):
        state.add([("late", ["map:square:9"])])
    with pytest.raises(KeyError):
        state.status("map:square:9")


def test_failed_and_skipped_branches_keep_their_status_and_still_skip_late_dependents():
    state = SchedulerState()
    state.add([("map:m:0", []), ("map:m:1", [])])
    state.take(2)
    state.complete("map:m:0")
    state.fail("map:m:1")
    assert state.status("map:m:0") is NodeStatus.COMPLETED
    assert state.status("map:m:1") is NodeStatus.FAILED
    assert state.add([("after_both", ["map:m:0", "map:m:1"])]) == ["after_both"]
    assert state.add([("after_first", ["map:m:0"])]) == []
    assert state.status("after_first") is NodeStatus.READY


def test_ids_that_only_look_like_branches_are_kept_as_ordinary_nodes():
    state = SchedulerState()
    odd = ["map:", "map:g", "map:g:", "map:g:01", "map:g:x"]
    state.add((node, []) for node in odd)
    for node in state.take(10):
        state.complete(node)
    assert all(state.status(node) is NodeStatus.COMPLETED for node in odd)
    assert sorted(node for node in state._status) == sorted(odd)


def test_repeated_upstreams_count_once_whether_or_not_they_arrive_sorted():
    for upstream in (("a", "a", "b"), ["b", "a", "b"], ("a", "b")):
        state = SchedulerState()
        state.add([("a", []), ("b", []), ("c", upstream)])
        for node in state.take(2):
            state.complete(node)
        assert state.status("c") is NodeStatus.READY, upstream
