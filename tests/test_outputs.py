"""Step outputs: names, counts, types, as ZenML names them, and clear errors when they don't fit."""

from __future__ import annotations

from typing import Annotated, Tuple

import pytest

from fanflow import pipeline, step
from fanflow.exceptions import RunFailedError, StepOutputError


def _run_single(step_obj, **kwargs):
    @pipeline(enable_cache=False)
    def wrapper():
        step_obj(**kwargs)

    return wrapper().steps[step_obj.name]


def test_single_output_is_named_output():
    @step
    def one() -> int:
        return 7

    run_step = _run_single(one)
    assert list(run_step.outputs) == ["output"]
    assert run_step.output.load() == 7
    assert run_step.output.name == "unlisted::one::output" or run_step.output.name.endswith(
        "::one::output"
    )


def test_annotated_name_names_output_and_artifact():
    @step
    def named() -> Annotated[str, "greeting"]:
        return "hi"

    run_step = _run_single(named)
    assert list(run_step.outputs) == ["greeting"]
    assert run_step.outputs["greeting"][0].name == "greeting"


def test_tuple_of_annotated_gives_several_outputs():
    @step
    def split() -> Tuple[Annotated[int, "a"], Annotated[str, "b"]]:
        return 1, "x"

    run_step = _run_single(split)
    assert run_step.outputs["a"][0].load() == 1
    assert run_step.outputs["b"][0].load() == "x"
    with pytest.raises(ValueError, match="multiple outputs"):
        _ = run_step.output


def test_unnamed_tuple_gives_output_0_and_output_1():
    @step
    def pair() -> tuple[int, str]:
        return 3, "y"

    run_step = _run_single(pair)
    assert sorted(run_step.outputs) == ["output_0", "output_1"]
    assert run_step.outputs["output_1"][0].load() == "y"


def test_tuple_returned_from_a_variable_is_one_output():
    @step
    def whole() -> tuple[int, int]:
        result = (1, 2)
        return result

    run_step = _run_single(whole)
    assert list(run_step.outputs) == ["output"]
    assert run_step.output.load() == (1, 2)


def test_none_annotation_gives_no_outputs():
    @step
    def nothing() -> None:
        return None

    run_step = _run_single(nothing)
    assert run_step.outputs == {}
    with pytest.raises(ValueError, match="no outputs"):
        _ = run_step.output


def test_multiple_outputs_unpack_in_the_pipeline():
    @step
    def split() -> Tuple[Annotated[int, "left"], Annotated[int, "right"]]:
        return 2, 3

    @step
    def add(a: int, b: int) -> int:
        return a + b

    @pipeline(enable_cache=False)
    def unpacking():
        left, right = split()
        add(left, right)

    run = unpacking()
    assert run.steps["add"].output.load() == 5
    assert [a.load() for a in run.steps["add"].inputs["a"]] == [2]


def test_wrong_number_of_outputs_names_step_and_outputs():
    @step
    def short() -> Tuple[Annotated[int, "a"], Annotated[int, "b"]]:
        return (1, 2, 3)

    @pipeline(enable_cache=False)
    def bad():
        short()

    with pytest.raises(RunFailedError) as info:
        bad()
    cause = info.value.__cause__
    assert isinstance(cause, StepOutputError)
    assert "short" in str(cause) and "2 outputs" in str(cause) and "3 values" in str(cause)


def test_wrong_output_type_names_step_and_output():
    @step
    def liar() -> Annotated[int, "count"]:
        return "many"

    @pipeline(enable_cache=False)
    def bad():
        liar()

    with pytest.raises(RunFailedError) as info:
        bad()
    cause = info.value.__cause__
    assert isinstance(cause, StepOutputError)
    assert "liar" in str(cause) and "count" in str(cause) and "int" in str(cause)
    from fanflow.client import Client

    failed = Client().get_pipeline("bad").last_run
    assert failed.status == "failed"
    assert failed.steps["liar"].status == "failed"
    assert "StepOutputError" in failed.steps["liar"].exception_info.traceback


def test_output_no_materializer_can_save_fails_clearly():
    import threading

    @step
    def lock_maker() -> object:
        return threading.Lock()

    @pipeline(enable_cache=False)
    def unsaveable():
        lock_maker()

    with pytest.raises(RunFailedError) as info:
        unsaveable()
    message = str(info.value.__cause__)
    assert "lock_maker" in message and "output" in message and "lock" in message.lower()


def test_unannotated_step_without_return_has_no_outputs_and_with_return_has_one():
    @step
    def silent(x: int):
        print(x)

    @step
    def loud():
        return {"k": (1, 2)}

    assert silent.definition.outputs == ()
    assert [o.name for o in loud.definition.outputs] == ["output"]
    run_step = _run_single(loud)
    assert run_step.output.load() == {"k": (1, 2)}
