"""Property: with random permanent failures and flaky steps in random DAGs, exactly the
dependents of permanently failed steps are skipped; flaky steps succeed on retry."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.config.retry_config import StepRetryConfig
from fanflow.exceptions import RunFailedError


@st.composite
def failing_dags(draw):
    size = draw(st.integers(min_value=1, max_value=10))
    graph = {
        n: sorted(draw(st.sets(st.integers(0, n - 1), max_size=3))) if n else []
        for n in range(size)
    }
    roles = {n: draw(st.sampled_from(["ok", "ok", "flaky", "broken"])) for n in range(size)}
    return graph, roles


def dependents(graph, sources):
    children = {n: [c for c, ups in graph.items() if n in ups] for n in graph}
    seen, stack = set(), list(sources)
    while stack:
        for child in children[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=failing_dags())
def test_exactly_the_dependents_of_permanent_failures_are_skipped(case):
    graph, roles = case
    attempts: dict[int, int] = {}
    lock = threading.Lock()

    @step(enable_cache=False, retry=StepRetryConfig(max_retries=1))
    def node(index: int, role: str, inputs: list[int]) -> int:
        with lock:
            attempts[index] = attempts.get(index, 0) + 1
            count = attempts[index]
        if role == "broken" or (role == "flaky" and count == 1):
            raise RuntimeError(f"node {index} ({role}) attempt {count}")
        return index + sum(inputs)

    @pipeline(enable_cache=False, name="failing_dag")
    def failing_dag():
        handles = {}
        for index in sorted(graph):
            handles[index] = node(
                index, roles[index], [handles[p] for p in graph[index]], id=f"n{index}"
            )

    broken = {n for n, role in roles.items() if role == "broken"}
    if broken:
        with pytest.raises(RunFailedError):
            failing_dag()
    else:
        failing_dag()
    run = Client().get_pipeline("failing_dag").last_run
    statuses = {int(name[1:]): view.status for name, view in run.steps.items()}
    skipped = dependents(graph, broken)  # includes broken steps below another broken one
    failed = broken - skipped
    assert {n for n, s in statuses.items() if s == "failed"} == failed
    assert {n for n, s in statuses.items() if s == "skipped"} == skipped
    assert {n for n, s in statuses.items() if s == "completed"} == set(graph) - failed - skipped
    for n in set(graph) - failed - skipped:
        if roles[n] == "flaky":
            assert len(run.steps[f"n{n}"].attempts) == 2
