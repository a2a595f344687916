"""`@step(resources=...)` on this machine: `FANFLOW_RESOURCES` totals are counting limits.

Each body records when it ran (wall-clock timestamps, comparable across processes); the test
checks the invariant on those intervals (never more than k GPU steps at once), not speed.
"""

from __future__ import annotations

import time

import pytest

from fanflow import pipeline, step
from fanflow.exceptions import ResourceUnavailableError


@step(enable_cache=False, resources={"GPU": 1})
def on_gpu(i: int) -> list[float]:
    start = time.time()
    time.sleep(0.15)
    return [i, start, time.time()]


@step(enable_cache=False, resources={"GPU": 3})
def greedy() -> int:
    return 1


@pipeline(enable_cache=False, max_parallelism=4)
def gpu_map(n: int = 8):
    on_gpu.map(list(range(n)))


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at t is counted before a start at t)."""
    edges = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    peak = active = 0
    for _, delta in edges:
        active += delta
        peak = max(peak, active)
    return peak


@pytest.mark.parametrize("mode", ["threads", "processes"])
@pytest.mark.parametrize("k", [1, 2])
def test_at_most_k_gpu_steps_run_at_once(monkeypatch, mode, k):
    monkeypatch.setenv("FANFLOW_RESOURCES", f"GPU={k}")
    run = gpu_map.with_options(orchestrator=mode)(n=8)
    assert run.status == "completed"
    results = [s.output.load() for s in run.steps.values()]
    assert sorted(int(i) for i, _, _ in results) == list(range(8))
    assert peak_overlap([(start, end) for _, start, end in results]) <= k


@pytest.mark.parametrize("mode", ["sequential", "threads", "processes"])
def test_more_than_the_machine_declares_fails_before_anything_runs(monkeypatch, mode):
    monkeypatch.setenv("FANFLOW_RESOURCES", "GPU=2")

    @pipeline(enable_cache=False, orchestrator=mode)
    def too_greedy():
        on_gpu.map([1, 2])
        greedy()

    with pytest.raises(
        ResourceUnavailableError,
        match=r"Step `greedy` asks for GPU=3 but this machine declares only GPU=2 in all "
        r"\(FANFLOW_RESOURCES=GPU=2\)",
    ):
        too_greedy()
    from fanflow.client import Client

    (run,) = Client().list_pipeline_runs(size=10)
    assert run.status == "failed"
    assert {s.status for s in run.steps.values()} == {"skipped"}  # not even those that fit


def test_a_bad_fanflow_resources_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("FANFLOW_RESOURCES", "GPU")
    with pytest.raises(ValueError, match=r"FANFLOW_RESOURCES must look like 'GPU=1,memory=8e9'"):
        gpu_map(n=1)


def test_a_dynamic_pipeline_fails_when_the_step_that_could_never_fit_is_added(monkeypatch):
    monkeypatch.setenv("FANFLOW_RESOURCES", "GPU=1")

    @pipeline(enable_cache=False, dynamic=True)
    def grows():
        on_gpu(0)
        greedy()

    with pytest.raises(Exception) as info:
        grows()
    # the run's error says why, naming the step, the resource and the variable
    text = str(info.value)
    assert "Step `greedy` asks for GPU=3" in text and "(FANFLOW_RESOURCES=GPU=1)" in text
    causes, error = [], info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__
    assert any(isinstance(e, ResourceUnavailableError) for e in causes), causes
    from fanflow.client import Client

    (run,) = Client().list_pipeline_runs(size=10)
    assert run.status == "failed"
    assert "greedy" not in run.steps or run.steps["greedy"].status != "completed"
