"""Definition errors surface while tracing, before any run is recorded, naming the culprit."""

from __future__ import annotations

from typing import Annotated

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.exceptions import (
    DuplicateInvocationIdError,
    ForeignHandleError,
    InvalidAfterReferenceError,
    PipelineCycleError,
    PipelineInterfaceError,
    StepInterfaceError,
    StepParameterTypeError,
)


@step
def produce() -> int:
    return 1


@step
def consume(value: int, factor: int = 2) -> int:
    return value * factor


def _no_runs_recorded() -> bool:
    return Client().list_pipeline_runs().total == 0


def test_wrong_parameter_type_is_a_runtime_error_naming_step_and_input():
    @pipeline
    def wrong_type():
        consume(produce(), factor="three")

    with pytest.raises(RuntimeError) as info:
        wrong_type()
    assert isinstance(info.value, StepParameterTypeError)
    message = str(info.value)
    assert "consume" in message and "factor" in message and "int" in message
    assert _no_runs_recorded()


def test_unknown_after_id_names_the_invocation_and_suggests():
    @pipeline
    def bad_after():
        produce()
        consume(produce(), after="prodce")

    with pytest.raises(RuntimeError) as info:
        bad_after()
    assert isinstance(info.value, InvalidAfterReferenceError)
    message = str(info.value)
    assert "prodce" in message and "consume" in message and "did you mean 'produce'" in message
    assert _no_runs_recorded()


def test_duplicate_id_is_refused_at_the_call():
    @pipeline
    def duplicate():
        produce(id="same")
        produce(id="same")

    with pytest.raises(RuntimeError) as info:
        duplicate()
    assert isinstance(info.value, DuplicateInvocationIdError)
    assert "same" in str(info.value)
    assert _no_runs_recorded()


def test_cycle_through_after_is_reported_with_its_path():
    @pipeline
    def cyclic():
        a = produce(id="a", after="b")
        consume(a, id="b")

    with pytest.raises(PipelineCycleError) as info:
        cyclic()
    assert "a" in str(info.value) and "b" in str(info.value)
    assert _no_runs_recorded()


def test_handle_from_another_pipeline_is_refused():
    leaked = {}

    @pipeline
    def first():
        leaked["handle"] = produce()

    first()

    @pipeline
    def second():
        consume(leaked["handle"])

    with pytest.raises(ForeignHandleError) as info:
        second()
    assert "consume" in str(info.value) and "value" in str(info.value)


def test_missing_required_input_raises_step_interface_error():
    @pipeline
    def missing():
        consume()

    with pytest.raises(StepInterfaceError) as info:
        missing()
    assert "value" in str(info.value) and "consume" in str(info.value)
    assert _no_runs_recorded()


def test_unknown_keyword_suggests_the_close_name():
    @pipeline
    def typo():
        consume(produce(), factr=3)

    with pytest.raises(StepInterfaceError, match="factor"):
        typo()


def test_wrong_pipeline_arguments():
    @pipeline
    def needs_n(n: int):
        consume(produce(), factor=n)

    with pytest.raises(PipelineInterfaceError):
        needs_n()
    with pytest.raises(PipelineInterfaceError, match="n"):
        needs_n(n="x")
    assert _no_runs_recorded()


def test_unrecordable_parameter_is_refused_with_advice():
    class Opaque:
        pass

    @step
    def takes_any(thing: object) -> None:
        return None

    @pipeline
    def opaque():
        takes_any(Opaque())

    with pytest.raises(StepInterfaceError, match="save_artifact"):
        opaque()


def test_list_of_handles_into_a_non_list_input_is_refused():
    @pipeline
    def bad_fan_in():
        consume([produce(), produce()])

    with pytest.raises(StepInterfaceError, match="list"):
        bad_fan_in()


def test_mixed_handles_and_literals_in_a_list_are_refused():
    @step
    def total(values: list[int]) -> int:
        return sum(values)

    @pipeline
    def mixed():
        total([produce(), 3])

    with pytest.raises(StepInterfaceError, match="mix"):
        mixed()


def test_step_definition_errors_at_decoration():
    with pytest.raises(StepInterfaceError, match="variable"):

        @step
        def star(*values: int) -> int:
            return 0

    with pytest.raises(StepInterfaceError, match="duplicate"):

        @step
        def twice() -> tuple[Annotated[int, "x"], Annotated[int, "x"]]:
            return 1, 2


def test_empty_pipeline_is_refused():
    @pipeline
    def empty():
        pass

    with pytest.raises(RuntimeError, match="no steps"):
        empty()
