"""Running pipelines: parallel by default, sequential on request, failures contained."""

from __future__ import annotations

import os
import threading
import time

import pytest

from fanflow import get_step_context, pipeline, step
from fanflow.client import Client
from fanflow.exceptions import RunFailedError
from topologies import EventLog, diamond, fan_out_fan_in


def test_fan_in_receives_the_list_of_branch_results_in_order():
    pipe, _ = fan_out_fan_in(width=5)
    run = pipe()
    assert run.status == "completed"
    combine = run.steps["combine"]
    assert combine.output.load() == sum(1 + i for i in range(5))
    assert [a.load() for a in combine.inputs["values"]] == [1 + i for i in range(5)]


def test_branches_run_concurrently():
    pipe, log = fan_out_fan_in(width=8, delay=0.4)
    started = time.perf_counter()
    pipe()
    elapsed = time.perf_counter() - started
    starts, ends = log.times("start"), log.times("end")
    branch_starts = [at for name, at in starts.items() if name.startswith("branch_")]
    branch_ends = [at for name, at in ends.items() if name.startswith("branch_")]
    assert max(branch_starts) < min(branch_ends), "every branch started before any finished"
    assert elapsed < 8 * 0.4


def test_sequential_mode_runs_one_at_a_time_in_declaration_order(monkeypatch):
    monkeypatch.setenv("FANFLOW_ORCHESTRATOR", "sequential")
    pipe, log = fan_out_fan_in(width=4, delay=0.01)
    pipe()
    events = [(kind, name) for kind, name, _ in log.events]
    for index in range(0, len(events), 2):
        assert events[index][0] == "start" and events[index + 1] == ("end", events[index][1])
    assert log.started() == ["source", "branch_0", "branch_1", "branch_2", "branch_3", "combine"]


def test_sequential_option_on_the_pipeline():
    pipe, log = fan_out_fan_in(width=3, delay=0.05)
    run = pipe.with_options(orchestrator="sequential")()
    assert run.config.orchestrator == "sequential"
    assert log.started() == ["source", "branch_0", "branch_1", "branch_2", "combine"]


def test_max_parallelism_bounds_concurrency(monkeypatch):
    active = 0
    peak = 0
    lock = threading.Lock()

    @step(enable_cache=False)
    def busy(i: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return i

    @pipeline(enable_cache=False, max_parallelism=3)
    def bounded():
        for i in range(9):
            busy(i)

    bounded()
    assert peak == 3
    peak = 0
    monkeypatch.setenv("FANFLOW_MAX_PARALLELISM", "2")

    @pipeline(enable_cache=False)
    def env_bounded():
        for i in range(6):
            busy(i)

    env_bounded()
    assert peak == 2


def test_dependents_start_as_soon_as_their_upstreams_finish_not_in_waves():
    log = EventLog()

    @step(enable_cache=False)
    def slow() -> int:
        time.sleep(0.6)
        log.mark("end", "slow")
        return 1

    @step(enable_cache=False)
    def fast() -> int:
        log.mark("end", "fast")
        return 2

    @step(enable_cache=False)
    def after_fast(x: int) -> int:
        log.mark("start", "after_fast")
        return x

    @pipeline(enable_cache=False)
    def uneven():
        slow()
        after_fast(fast())

    uneven()
    assert log.times("start")["after_fast"] < log.times("end")["slow"]


def test_diamond_values_and_client_order():
    pipe, _ = diamond()
    run = pipe()
    assert run.steps["bottom"].output.load() == 2 * 3 + 2 * 5
    assert list(run.steps) == ["top", "left", "right", "bottom"]


def test_client_lists_steps_by_layer_then_id_as_strings():
    @step(enable_cache=False)
    def src() -> int:
        return 0

    @step(enable_cache=False)
    def branch(x: int) -> int:
        return x

    @pipeline(enable_cache=False)
    def thirty():
        value = src()
        for i in range(30):
            branch(value, id=f"process_{i}")

    run = thirty()
    names = list(run.steps)
    assert names[0] == "src"
    assert names[1:5] == ["process_0", "process_1", "process_10", "process_11"]
    assert sorted(names[1:]) == names[1:]


def test_failing_step_fails_the_run_and_spares_independent_work():
    @step(enable_cache=False)
    def ok() -> int:
        return 1

    @step(enable_cache=False)
    def boom(x: int) -> int:
        raise ValueError(f"bad value {x}")

    @step(enable_cache=False)
    def after_boom(x: int) -> int:
        raise AssertionError("must never start")

    @step(enable_cache=False)
    def independent() -> int:
        time.sleep(0.1)
        return 5

    @pipeline(enable_cache=False)
    def failing():
        after_boom(boom(ok()))
        independent()

    with pytest.raises(RunFailedError) as info:
        failing()
    error = info.value
    assert isinstance(error, RuntimeError)
    assert "Pipeline run has failed due to failure in step(s): boom" in str(error)
    assert isinstance(error.__cause__, ValueError) and "bad value 1" in str(error.__cause__)
    run = Client().get_pipeline("failing").last_run
    assert run.status == "failed"
    assert run.steps["boom"].status == "failed"
    assert "ValueError: bad value 1" in run.steps["boom"].exception_info.traceback
    assert run.steps["after_boom"].status == "skipped"
    assert run.steps["independent"].status == "completed"
    assert run.steps["ok"].output.load() == 1


def test_print_reaches_stdout_and_steps_run_in_the_callers_directory(capfd, tmp_path):
    @step(enable_cache=False)
    def where() -> str:
        print("hello from a step")
        return os.getcwd()

    @pipeline(enable_cache=False)
    def printing():
        where()

    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        run = printing()
    finally:
        os.chdir(previous)
    assert "hello from a step" in capfd.readouterr().out
    assert run.steps["where"].output.load() == str(tmp_path)


def test_step_context_is_per_thread():
    seen = {}

    @step(enable_cache=False)
    def who(i: int) -> str:
        time.sleep(0.05)
        context = get_step_context()
        seen[i] = (context.step_name, context.pipeline_run.name, context.step_run.name)
        return context.step_name

    @pipeline(enable_cache=False)
    def contexts():
        for i in range(6):
            who(i, id=f"who_{i}")

    run = contexts()
    assert {i: name for i, (name, _, _) in seen.items()} == {i: f"who_{i}" for i in range(6)}
    assert all(run_name == run.name for _, run_name, _ in seen.values())
    assert all(step_run == name for name, _, step_run in seen.values())
    assert get_step_context.__module__ == "fanflow.authoring.context"


def test_get_step_context_outside_a_step():
    with pytest.raises(RuntimeError, match="only available inside a step"):
        get_step_context()


def test_pipeline_parameters_with_defaults_are_recorded():
    @step(enable_cache=False)
    def scale(x: int, factor: int = 10) -> int:
        return x * factor

    @pipeline(enable_cache=False)
    def parametrized(x: int, label: str = "default"):
        scale(x)

    run = parametrized(x=4)
    assert run.config.parameters == {"x": 4, "label": "default"}
    assert run.steps["scale"].config.parameters == {"x": 4, "factor": 10}
    assert run.steps["scale"].output.load() == 40


def test_repeated_step_calls_get_zenml_ids():
    @step(enable_cache=False)
    def noop() -> None:
        return None

    @pipeline(enable_cache=False)
    def repeated():
        noop()
        noop()
        noop(id="custom")
        noop()

    run = repeated()
    assert sorted(run.steps) == ["custom", "noop", "noop_2", "noop_3"]


def test_after_accepts_ids_lists_and_handles():
    order = EventLog()

    @step(enable_cache=False)
    def first() -> int:
        time.sleep(0.1)
        order.mark("start", "first")
        return 1

    @step(enable_cache=False)
    def second() -> None:
        order.mark("start", "second")

    @pipeline(enable_cache=False)
    def ordered():
        handle = first()
        second(after=handle, id="by_handle")
        second(after="first", id="by_id")
        second(after=["first", "by_id"], id="by_list")

    run = ordered()
    assert order.started()[0] == "first"
    assert set(run.steps["by_list"].upstream) == {"first", "by_id"}


def test_run_name_template_with_substitutions_and_uniqueness():
    from fanflow.exceptions import EntityExistsError

    @step(enable_cache=False)
    def noop() -> None:
        return None

    @pipeline(enable_cache=False)
    def named():
        noop()

    run = named.with_options(run_name="exp_{experiment}", substitutions={"experiment": "a"})()
    assert run.name == "exp_a"
    with pytest.raises(EntityExistsError):
        named.with_options(run_name="exp_a")()
    default = named()
    assert default.name.startswith("named-")


def test_calling_a_step_outside_a_pipeline_runs_it_and_returns_the_value():
    @step
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
    assert double.entrypoint(4) == 8
    single = Client().list_pipeline_runs().items[0]
    assert single.steps["double"].output.load() == 42
    # Recorded under a pipeline named after the step, which list_pipelines() shows (as ZenML).
    assert single.pipeline is not None and single.pipeline.name == "double"
    assert [p.name for p in Client().list_pipelines()] == ["double"]


def test_steps_called_inside_steps_are_plain_calls():
    @step
    def inner(x: int) -> int:
        return x + 1

    @step(enable_cache=False)
    def outer(x: int) -> int:
        return inner(x) * 10

    @pipeline(enable_cache=False)
    def nested():
        outer(1)

    assert nested().steps["outer"].output.load() == 20
