"""Smaller things a user trips over: step order and lookups in `run.steps`, logs and attempts of
a step that ran once, unknown Client filters, using a static step output as a value, tuple
outputs, and explicit ids that look like map branches."""

from __future__ import annotations

import warnings
from typing import Annotated

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.exceptions import (
    PipelineDefinitionError,
    ReservedInvocationIdError,
    UnknownFilterError,
)


@step(enable_cache=False)
def square(x: int) -> int:
    return x * x


@step(enable_cache=False)
def total(values: list[int]) -> int:
    return sum(values)


@step(enable_cache=False)
def seed() -> int:
    return 3


@step(enable_cache=False)
def quiet() -> int:
    return 1


def test_map_branches_are_listed_by_index_and_a_typo_suggests_close_names():
    @pipeline(enable_cache=False)
    def twelve():
        total(square.map(list(range(12))))

    run = twelve()
    branches = [name for name in run.steps if name.startswith("map:")]
    assert branches == [f"map:square:{i}" for i in range(12)]
    assert list(run.steps)[-1] == "total"
    with pytest.raises(KeyError) as info:
        run.steps["totl"]
    assert "Did you mean 'total'?" in str(info.value)


def test_a_dynamic_run_lists_steps_in_call_order():
    @step(enable_cache=False)
    def zeta() -> int:
        return 1

    @step(enable_cache=False)
    def alpha(x: int) -> int:
        return x

    @pipeline(dynamic=True, enable_cache=False)
    def called_in_order():
        first = zeta()
        mapped = square.map(list(range(11)))
        alpha(first)
        total(mapped)

    run = called_in_order()
    assert list(run.steps) == [
        "zeta",
        *[f"map:square:{i}" for i in range(11)],
        "alpha",
        "total",
    ]
    assert [s.name for s in run.steps.values()] == list(run.steps)


def test_logs_of_a_silent_step_read_empty_and_a_first_time_success_has_one_attempt():
    @pipeline(enable_cache=False)
    def silent():
        quiet()

    view = silent().steps["quiet"]
    assert view.logs.read() == ""
    attempts = view.attempts
    assert len(attempts) == 1
    assert attempts[0]["attempt"] == 1 and attempts[0]["error"] is None
    assert attempts[0]["start_time"] == view.start_time.isoformat()


def test_a_failed_step_without_retries_has_its_one_failed_attempt():
    @step(enable_cache=False)
    def fails() -> int:
        raise ValueError("nope")

    @pipeline(enable_cache=False)
    def failing():
        fails()

    with pytest.raises(RuntimeError):
        failing()
    view = Client().get_pipeline("failing").last_run.steps["fails"]
    assert [a["error"] for a in view.attempts] == ["ValueError: nope"]


def test_unknown_list_filters_are_refused_with_a_suggestion():
    client = Client()
    with pytest.raises(UnknownFilterError, match="did you mean 'pipeline_name'") as info:
        client.list_pipeline_runs(pipline_name="x")
    assert isinstance(info.value, TypeError)
    with pytest.raises(UnknownFilterError, match="'user'"):
        client.list_pipeline_runs(user="someone")
    with pytest.raises(UnknownFilterError):
        client.list_artifact_versions(nme="x")
    assert client.list_pipeline_runs(hydrate=True).total == 0  # presentation only


def test_list_artifact_versions_and_pipelines_take_zenmls_sort_by():
    @pipeline(enable_cache=False)
    def twice():
        seed()

    twice()
    twice()
    client = Client()
    name = "twice::seed::output"
    oldest = [v.version for v in client.list_artifact_versions(name=name)]
    newest = [v.version for v in client.list_artifact_versions(name=name, sort_by="desc:created")]
    assert oldest == ["1", "2"] and newest == ["2", "1"]
    assert [p.name for p in client.list_pipelines(sort_by="asc:created")] == ["twice"]


@pytest.mark.parametrize("use", ["gt", "eq", "if"])
def test_using_a_static_step_output_as_a_value_says_to_go_dynamic(use):
    @pipeline(enable_cache=False)
    def branching():
        out = seed()
        if use == "gt":
            out > 3  # noqa: B015
        elif use == "eq":
            out == 3  # noqa: B015
        elif out:
            square(2)

    with pytest.raises(PipelineDefinitionError) as info:
        branching()
    message = str(info.value)
    assert "dynamic=True" in message and ".load()" in message and "'seed'" in message
    assert isinstance(info.value, TypeError)


def test_a_tuple_return_that_is_not_a_literal_tuple_explains_zenmls_rule():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @step(enable_cache=False)
        def pair() -> tuple[Annotated[int, "a"], Annotated[int, "b"]]:
            result = (1, 2)
            return result

    assert any("literal tuple" in str(w.message) and "'pair'" in str(w.message) for w in caught)

    @pipeline(enable_cache=False)
    def unpacking():
        a, _b = pair()
        square(a)

    with pytest.raises(PipelineDefinitionError) as info:
        unpacking()
    assert "return a, b" in str(info.value) and ".map" not in str(info.value)


def test_a_literal_tuple_return_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @step(enable_cache=False)
        def pair() -> tuple[Annotated[int, "a"], Annotated[int, "b"]]:
            return 1, 2

    assert [o.name for o in pair.definition.outputs] == ["a", "b"]


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("explicit_first", [False, True])
def test_an_explicit_id_that_looks_like_a_map_branch_is_a_clear_definition_error(
    dynamic, explicit_first
):
    @pipeline(dynamic=dynamic, enable_cache=False)
    def colliding():
        if explicit_first:
            square(3, id="map:square:0")
        square.map([1, 2])
        square(3, id="map:square:0")

    with pytest.raises(Exception) as info:
        colliding()
    error = info.value if not dynamic else info.value.__cause__
    assert isinstance(error, ReservedInvocationIdError)
    assert "reserved" in str(error) and "map:square:0" in str(error)
