"""ZenML behaviours: which error a failed run raises, broadcast literals in `.map`, not-found
errors as KeyError, and the order of a dynamic run's steps."""

from __future__ import annotations

import pytest

from fanflow import load_artifact, pipeline, step
from fanflow.client import Client
from fanflow.exceptions import (
    DoesNotExistError,
    MapInputError,
    RunFailedError,
    StepExecutionException,
)


@step(enable_cache=False)
def boom() -> int:
    raise ValueError("boom")


@step(enable_cache=False)
def numbers() -> list[int]:
    return [1, 2, 3]


@step(enable_cache=False)
def with_scalar(a: int, offset: int) -> int:
    return a + offset


@step(enable_cache=False)
def gather(values: list[int]) -> list[int]:
    return values


def test_a_failed_static_run_raises_a_runtime_error_that_is_not_a_step_execution_exception():
    @pipeline(enable_cache=False)
    def static_failing():
        boom()

    with pytest.raises(RuntimeError) as info:
        static_failing()
    assert isinstance(info.value, RunFailedError)
    assert not isinstance(info.value, StepExecutionException)
    assert isinstance(info.value.__cause__, ValueError)


def test_a_dynamic_run_whose_step_failed_raises_step_execution_exception():
    @pipeline(dynamic=True, enable_cache=False)
    def dynamic_failing():
        boom().load()

    with pytest.raises(StepExecutionException) as info:
        dynamic_failing()
    assert isinstance(info.value, RunFailedError)  # still names the run
    assert "boom" in str(info.value)


@pytest.mark.parametrize("shape", ["scalar", "unequal"])
def test_bad_map_input_in_a_dynamic_run_is_a_runtime_error_not_a_step_failure(shape):
    @pipeline(dynamic=True, enable_cache=False)
    def bad_map():
        if shape == "scalar":
            with_scalar.map(a=numbers().load()[0], offset=1)
        else:
            with_scalar.map(a=[1, 2, 3], offset=[1, 2])

    with pytest.raises(RuntimeError) as info:
        bad_map()
    assert not isinstance(info.value, StepExecutionException)
    assert isinstance(info.value.__cause__, MapInputError)


def test_missing_artifacts_raise_key_errors():
    for lookup in (lambda: load_artifact("missing"),
                   lambda: Client().get_artifact_version("missing")):
        with pytest.raises(KeyError) as info:
            lookup()
        assert isinstance(info.value, DoesNotExistError)
        assert "missing" in str(info.value)


def test_a_literal_scalar_next_to_a_mapped_artifact_is_broadcast_in_a_dynamic_run():
    @pipeline(dynamic=True, enable_cache=False)
    def broadcast_dynamic():
        gather(with_scalar.map(a=numbers(), offset=100))

    run = broadcast_dynamic()
    assert run.steps["gather"].output.load() == [101, 102, 103]


def test_a_literal_scalar_next_to_a_mapped_literal_is_broadcast_in_a_static_run():
    @pipeline(enable_cache=False)
    def broadcast_static():
        gather(with_scalar.map(a=[1, 2, 3], offset=100))

    run = broadcast_static()
    assert run.steps["gather"].output.load() == [101, 102, 103]


def test_mapping_with_no_sequence_input_stays_an_error():
    @pipeline(enable_cache=False)
    def nothing_to_map():
        with_scalar.map(a=1, offset=100)

    with pytest.raises(MapInputError, match="no input is a sequence") as info:
        nothing_to_map()
    assert "'a'" in str(info.value) and "'offset'" in str(info.value)
