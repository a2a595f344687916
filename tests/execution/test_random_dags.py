"""Property test: random DAGs give the same results in parallel and sequential mode, and no
step ever starts before all of its upstreams have finished."""

from __future__ import annotations

import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fanflow import pipeline, step
from fanflow.client import Client


@st.composite
def dags(draw) -> dict[int, list[int]]:
    size = draw(st.integers(min_value=1, max_value=12))
    graph: dict[int, list[int]] = {}
    for node in range(size):
        if node == 0:
            graph[node] = []
            continue
        graph[node] = sorted(draw(st.sets(st.integers(0, node - 1), max_size=3)))
    return graph


def expected_values(graph: dict[int, list[int]]) -> dict[int, int]:
    values: dict[int, int] = {}
    for node in sorted(graph):
        values[node] = node * 7 + sum(values[parent] for parent in graph[node])
    return values


def build(graph: dict[int, list[int]], log: list[tuple[str, int, float]]):
    lock = threading.Lock()

    @step(enable_cache=False)
    def node(index: int, inputs: list[int], pause: float) -> int:
        with lock:
            log.append(("start", index, time.perf_counter()))
        time.sleep(pause)
        with lock:
            log.append(("end", index, time.perf_counter()))
        return index * 7 + sum(inputs)

    @pipeline(enable_cache=False, name="random_dag")
    def random_dag():
        handles = {}
        for index in sorted(graph):
            parents = [handles[parent] for parent in graph[index]]
            handles[index] = node(index, parents, 0.002 * (index % 3), id=f"n{index}")

    return random_dag


def run_mode(graph, mode: str) -> tuple[dict[int, int], list[tuple[str, int, float]], object]:
    log: list[tuple[str, int, float]] = []
    run = build(graph, log).with_options(orchestrator=mode)()
    outputs = {int(name[1:]): view.output.load() for name, view in run.steps.items()}
    return outputs, log, run


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(graph=dags())
def test_parallel_equals_sequential_and_respects_dependencies(graph):
    parallel, parallel_log, run = run_mode(graph, "local")
    sequential, sequential_log, _ = run_mode(graph, "sequential")
    assert parallel == sequential == expected_values(graph)
    for log in (parallel_log, sequential_log):
        ends = {index: at for kind, index, at in log if kind == "end"}
        starts = {index: at for kind, index, at in log if kind == "start"}
        for index, parents in graph.items():
            for parent in parents:
                assert starts[index] > ends[parent], (index, parent)
    recorded = Client().get_pipeline_run(run.id).steps
    for index, parents in graph.items():
        for parent in parents:
            assert recorded[f"n{index}"].start_time >= recorded[f"n{parent}"].end_time
