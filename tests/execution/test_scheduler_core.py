"""The pure scheduler core, driven by events with a fake clock: no threads, no sleeps."""

from __future__ import annotations

import pytest

from fanflow.enums import ExecutionMode
from fanflow.execution.core import (
    Cancel,
    Closed,
    Dispatch,
    GiveUp,
    Interrupted,
    NodeSpec,
    RatioBroken,
    RunScheduler,
    Skip,
    StepFinished,
    StepNeverStarted,
    StepsAdded,
    StepStarted,
    StopRequested,
    Tick,
)
from fanflow.execution.state import NodeStatus


def dispatched(commands) -> list[str]:
    return [node for c in commands if isinstance(c, Dispatch) for node in c.nodes]


def skipped(commands) -> list[str]:
    return [node for c in commands if isinstance(c, Skip) for node in c.nodes]


def of_type(commands, kind):
    return [c for c in commands if isinstance(c, kind)]


def fan(n: int, **spec) -> StepsAdded:
    nodes = [NodeSpec(f"b{i}", (), "work", map_group="work", **spec) for i in range(n)]
    nodes.append(NodeSpec("reduce", tuple(f"b{i}" for i in range(n)), "reduce"))
    return StepsAdded(tuple(nodes))


def test_timeout_counts_from_the_body_start_not_from_dispatch():
    # six 1 s steps, timeout 1.5 s, two slots: queued time must not count
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=2)
    nodes = tuple(NodeSpec(f"s{i}", (), "sleep", timeout=1.5) for i in range(6))
    assert dispatched(core.handle(StepsAdded(nodes))) == ["s0", "s1"]
    now = 0.0
    running = ["s0", "s1"]
    core.handle([StepStarted("s0", now), StepStarted("s1", now)])
    done = []
    while running:
        now += 1.0
        assert core.next_deadline() is not None and core.next_deadline() > now
        commands = core.handle([StepFinished(node, True, now) for node in running] + [Tick(now)])
        assert not of_type(commands, GiveUp)
        done += running
        running = dispatched(commands)
        core.handle([StepStarted(node, now) for node in running])
    assert done == [f"s{i}" for i in range(6)]
    assert core.finished and not core.failures


def test_a_body_that_overruns_is_given_up_as_failed_at_its_deadline():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=4)
    core.handle(
        StepsAdded((NodeSpec("slow", (), "slow", timeout=2.0), NodeSpec("after", ("slow",))))
    )
    assert core.next_deadline() is None  # dispatched, not started: no clock yet
    core.handle(StepStarted("slow", 10.0))
    assert core.next_deadline() == 12.0
    assert core.handle(Tick(11.9)) == []
    commands = core.handle(Tick(12.0))
    give_up = of_type(commands, GiveUp)
    assert give_up and give_up[0].nodes == ("slow",) and give_up[0].timed_out
    assert give_up[0].status == "failed"
    assert skipped(commands) == ["after"]
    assert core.failures == ["slow"] and core.finished
    # its late result changes nothing
    assert core.handle(StepFinished("slow", True, 20.0)) == []


def test_stop_during_a_map_skips_what_has_not_started_and_waits_for_the_rest():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=4)
    assert dispatched(core.handle(fan(10))) == ["b0", "b1", "b2", "b3"]
    core.handle([StepStarted("b0", 0.0), StepStarted("b1", 0.0)])
    commands = core.handle(StopRequested(1.0))
    assert sorted(skipped(commands)) == sorted([f"b{i}" for i in range(4, 10)] + ["reduce"])
    assert of_type(commands, Cancel) == [Cancel(("b2", "b3"))]
    assert not core.finished
    commands = core.handle(
        [StepNeverStarted("b2"), StepNeverStarted("b3"), StepFinished("b0", True, 2.0)]
    )
    assert dispatched(commands) == []
    core.handle(StepFinished("b1", True, 3.0))
    assert core.finished and core.status("b2") is NodeStatus.SKIPPED


def test_interrupt_gives_running_steps_a_grace_period_then_gives_up():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=2)
    core.handle(fan(3))
    core.handle([StepStarted("b0", 0.0), StepStarted("b1", 0.0)])
    commands = core.handle(Interrupted(5.0, grace=30.0))
    assert core.interrupted and sorted(skipped(commands)) == ["b2", "reduce"]
    assert core.next_deadline() == 35.0
    core.handle(StepFinished("b0", True, 6.0))
    commands = core.handle(Tick(35.0))
    assert of_type(commands, GiveUp) == [GiveUp(("b1",), "stopped", "stopped before it finished")]
    assert core.finished


def test_max_concurrency_holds_ready_steps_without_marking_them_running():
    core = RunScheduler(ExecutionMode.STOP_ON_FAILURE, window=8)
    nodes = tuple(NodeSpec(f"n{i}", (), "limited", max_concurrency=2) for i in range(5))
    nodes += (NodeSpec("free", (), "free"),)
    assert dispatched(core.handle(StepsAdded(nodes))) == ["n0", "n1", "free"]
    assert core.status("n2") is NodeStatus.READY  # held, not running
    assert dispatched(core.handle(StepFinished("n0", True, 1.0))) == ["n2"]
    # a failure under stop_on_failure: held steps never start, they are skipped
    commands = core.handle(StepFinished("n1", False, 2.0))
    assert sorted(skipped(commands)) == ["n3", "n4"]
    assert dispatched(commands) == []
    core.handle([StepFinished("n2", True, 3.0), StepFinished("free", True, 3.0)])
    assert core.finished and core.failures == ["n1"]


def test_continue_on_failure_skips_only_dependents():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=100)
    core.handle(fan(40))
    commands = core.handle(StepFinished("b0", False, 1.0))
    assert skipped(commands) == ["reduce"]
    core.handle([StepFinished(f"b{i}", True, 2.0) for i in range(1, 40)])
    assert core.finished
    assert core.state.nodes_with(NodeStatus.COMPLETED) == [f"b{i}" for i in range(1, 40)]


def test_stop_on_failure_cancels_dispatched_work_whose_body_has_not_started():
    core = RunScheduler(ExecutionMode.STOP_ON_FAILURE, window=4)
    core.handle(fan(6))
    core.handle([StepStarted("b0", 0.0)])
    commands = core.handle(StepFinished("b0", False, 1.0))
    assert of_type(commands, Cancel) == [Cancel(("b1", "b2", "b3"))]
    assert sorted(skipped(commands)) == ["b4", "b5", "reduce"]


def test_fail_fast_gives_up_on_running_steps_at_once():
    core = RunScheduler(ExecutionMode.FAIL_FAST, window=4)
    core.handle(fan(4))
    core.handle([StepStarted(f"b{i}", 0.0) for i in range(4)])
    commands = core.handle(StepFinished("b0", False, 1.0))
    give_up = of_type(commands, GiveUp)
    assert give_up == [GiveUp(("b1", "b2", "b3"), "stopped", "stopped before it finished")]
    assert core.finished and core.failures == ["b0"]


def test_a_map_tolerates_failed_branches_while_its_ratio_holds():
    core = RunScheduler(ExecutionMode.STOP_ON_FAILURE, window=10)
    core.handle(fan(4, min_success_ratio=0.75))
    assert core.handle(StepFinished("b1", False, 1.0)) == []  # tolerated: nothing stops
    commands = core.handle([StepFinished(f"b{i}", True, 2.0) for i in (0, 2, 3)])
    assert dispatched(commands) == ["reduce"]
    assert core.tolerated == ["b1"] and core.failures == []
    assert core.groups["work"].ratio == 0.75


def test_a_map_below_its_ratio_fails_the_run_and_says_so():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=10)
    core.handle(fan(4, min_success_ratio=0.75))
    core.handle(StepFinished("b1", False, 1.0))
    commands = core.handle(StepFinished("b2", False, 1.0))
    assert of_type(commands, RatioBroken) == [RatioBroken("work", 2, 4, 0.75)]
    assert skipped(commands) == ["reduce"]
    assert core.failures == ["b2"]


def test_dynamic_runs_end_only_when_closed():
    core = RunScheduler(ExecutionMode.STOP_ON_FAILURE, window=2, closed=False)
    core.handle(StepsAdded((NodeSpec("a"),)))
    core.handle(StepFinished("a", True, 1.0))
    assert not core.finished
    core.handle(Closed())
    assert core.finished


def test_steps_added_while_stopping_are_skipped_on_arrival():
    core = RunScheduler(ExecutionMode.STOP_ON_FAILURE, window=2, closed=False)
    core.handle(StopRequested(0.0))
    commands = core.handle(StepsAdded((NodeSpec("late"),)))
    assert skipped(commands) == ["late"] and dispatched(commands) == []


def test_unknown_events_are_rejected():
    core = RunScheduler(ExecutionMode.STOP_ON_FAILURE, window=2)
    with pytest.raises(TypeError, match="not a scheduler event"):
        core.handle([("stop",)])  # type: ignore[list-item]


# --- declared resources as counting limits (FANFLOW_RESOURCES on this machine) -------------------


def gpu_nodes(n: int, amount: float = 1.0, step: str = "train") -> tuple[NodeSpec, ...]:
    return tuple(NodeSpec(f"{step}{i}", (), step, resources=(("GPU", amount),)) for i in range(n))


def test_resources_hold_steps_that_do_not_fit_and_let_fitting_ones_go_ahead():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=16)
    core.limit_resources({"GPU": 2})
    nodes = (*gpu_nodes(5), NodeSpec("cpu", (), "cpu"))
    assert dispatched(core.handle(StepsAdded(nodes))) == ["train0", "train1", "cpu"]
    assert core.status("train2") is NodeStatus.READY  # waiting for a GPU, not running
    assert core.resources is not None and core.resources.free == {"GPU": 0}
    # one GPU freed wakes exactly one waiting step, the oldest
    assert dispatched(core.handle(StepFinished("train0", True, 1.0))) == ["train2"]
    # a failure frees its GPU too
    assert dispatched(core.handle(StepFinished("train1", False, 2.0))) == ["train3"]
    core.handle([StepFinished("train2", True, 3.0), StepFinished("cpu", True, 3.0)])
    assert dispatched(core.handle(StepFinished("train3", True, 4.0))) == []
    assert core.status("train4") is NodeStatus.RUNNING
    core.handle(StepFinished("train4", True, 5.0))
    assert core.finished and core.resources.free == {"GPU": 2}


def test_a_small_request_goes_ahead_of_a_big_one_that_does_not_fit_yet():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=16)
    core.limit_resources({"GPU": 2, "memory": 10})
    nodes = (
        NodeSpec("one", (), "one", resources=(("GPU", 1),)),
        NodeSpec("both", (), "both", resources=(("GPU", 2),)),
        NodeSpec("mem", (), "mem", resources=(("memory", 8),)),
        NodeSpec("gpu_and_mem", (), "gm", resources=(("GPU", 1), ("memory", 4))),
    )
    # `both` waits for two free GPUs; `mem` fits; `gpu_and_mem` does not (memory 2 left)
    assert dispatched(core.handle(StepsAdded(nodes))) == ["one", "mem"]
    assert dispatched(core.handle(StepFinished("mem", True, 1.0))) == ["gpu_and_mem"]
    assert dispatched(core.handle(StepFinished("one", True, 2.0))) == []
    assert dispatched(core.handle(StepFinished("gpu_and_mem", True, 3.0))) == ["both"]
    core.handle(StepFinished("both", True, 4.0))
    assert core.finished


def test_resources_and_max_concurrency_both_hold():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=16)
    core.limit_resources({"GPU": 4})
    nodes = tuple(
        NodeSpec(f"n{i}", (), "gpu", max_concurrency=1, resources=(("GPU", 1),)) for i in range(3)
    )
    assert dispatched(core.handle(StepsAdded(nodes))) == ["n0"]
    assert core.resources is not None and core.resources.free == {"GPU": 3}
    assert dispatched(core.handle(StepFinished("n0", True, 1.0))) == ["n1"]
    assert core.resources.free == {"GPU": 3}


def test_resources_are_given_back_by_steps_cancelled_or_given_up_on():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=16)
    core.limit_resources({"GPU": 1})
    nodes = tuple(
        NodeSpec(f"t{i}", (), "t", timeout=5.0, resources=(("GPU", 1),)) for i in range(3)
    )
    assert dispatched(core.handle(StepsAdded(nodes))) == ["t0"]
    core.handle(StepStarted("t0", 0.0))
    commands = core.handle(Tick(6.0))  # t0 timed out: its GPU goes to t1
    assert of_type(commands, GiveUp) and dispatched(commands) == ["t1"]
    commands = core.handle(StopRequested(7.0))  # t1 never started: cancelled, t2 skipped
    assert of_type(commands, Cancel) == [Cancel(("t1",))] and skipped(commands) == ["t2"]
    core.handle(StepNeverStarted("t1"))
    assert core.finished and core.resources is not None and core.resources.free == {"GPU": 1}


@pytest.mark.parametrize(
    ("limits", "needs", "message"),
    [
        (
            {},
            (("GPU", 1),),
            r"Step `fit2` \(of `fit`\) asks for .*GPU=none \(FANFLOW_RESOURCES=unset\)",
        ),
        (
            {"GPU": 1},
            (("GPU", 2),),
            r"Step `fit2` \(of `fit`\) asks for GPU=2 but this machine declares only GPU=1 in all "
            r"\(FANFLOW_RESOURCES=GPU=1\)",
        ),
        ({"GPU": 1}, (("TPU", 1),), r"TPU=none \(FANFLOW_RESOURCES=GPU=1\)"),
    ],
)
def test_a_request_that_could_never_fit_fails_before_anything_is_dispatched(limits, needs, message):
    from fanflow.exceptions import ResourceUnavailableError

    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=16)
    core.limit_resources(limits)
    nodes = (NodeSpec("free", (), "free"), NodeSpec("fit2", (), "fit", resources=needs))
    with pytest.raises(ResourceUnavailableError, match=message):
        core.handle(StepsAdded(nodes))
    assert core.specs == {} and not core.in_flight  # nothing joined, nothing dispatched


def test_without_limits_resources_are_left_to_the_executor():
    core = RunScheduler(ExecutionMode.CONTINUE_ON_FAILURE, window=16)
    core.limit_resources(None)  # a Dask cluster places steps on workers offering them
    assert dispatched(core.handle(StepsAdded(gpu_nodes(3, amount=8)))) == [
        "train0",
        "train1",
        "train2",
    ]
