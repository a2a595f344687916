"""Waiting on what a dynamic run's loop settles: a map's branch table, and what comes too late."""

from __future__ import annotations

import threading

import pytest

from fanflow.execution.known import (
    InvocationHandle,
    KnownArtifact,
    MapBranches,
    Resolutions,
    SplitRequest,
)

OUTPUT = KnownArtifact("ab" * 16, "/store/x", "fanflow.json", "builtins.int", inline=b"1")


def test_a_branch_settles_when_released_and_reads_like_a_handle():
    resolutions = Resolutions()
    table = MapBranches("square", 3, ("output",))
    resolutions.groups["square"] = table
    table.keep_outputs(1, {"output": OUTPUT})  # known at once: dependents are built from it
    resolutions.resolve("map:square:1", "completed", {"output": OUTPUT})
    branch = table.handle(1)
    assert not branch.done and branch.status is None  # not before the records are committed
    resolutions.release()
    assert branch.done and branch.status == "completed"
    assert branch.outputs == {"output": OUTPUT} and branch.invocation_id == "map:square:1"
    resolutions.resolve("map:square:2", "failed", {}, ValueError("bad"), "ValueError: bad")
    resolutions.release()
    failed = table.handle(-1)
    assert failed.status == "failed" and failed.error_text == "ValueError: bad"
    assert failed.outputs == {}
    assert not table.done
    with pytest.raises(IndexError, match="3 branches"):
        table.handle(3)


def test_whatever_is_waited_for_after_the_loop_ended_is_settled_not_waited_for_forever():
    resolutions = Resolutions()
    loop_error = RuntimeError("the loop broke")
    resolutions.end_all(loop_error)
    late_handle = InvocationHandle("added_too_late")
    late_table = MapBranches("late", 2, ("output",))
    late_split = SplitRequest(OUTPUT)
    waited: list[object] = []

    def wait_for_all() -> None:
        for target in (late_handle, late_table.handle(0), late_table, late_split):
            resolutions.wait(target)
            waited.append(target)

    waiter = threading.Thread(target=wait_for_all)
    waiter.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive() and len(waited) == 4
    assert late_handle.status == "skipped" and late_handle.error is loop_error
    assert "already ended" in (late_handle.error_text or "")
    assert late_table.done and late_table.handle(1).status == "skipped"
    assert late_split.done and late_split.error is not None
