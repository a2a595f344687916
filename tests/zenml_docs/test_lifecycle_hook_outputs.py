"""ZenML's Hooks page: "Return values are discarded. Set `ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS=true`
in the execution environment to instead materialize lifecycle hook return values as output
artifacts of the invocation, following the same rules as `store_return=True` on `run_hook`."
fanflow reads `FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS` first, then the ZenML name."""

from __future__ import annotations

from typing import Annotated, Tuple

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.enums import HookType
from fanflow.exceptions import RunFailedError


def started() -> str:
    return "started!"


def ended(exception=None) -> Tuple[Annotated[int, "code"], Annotated[str, "reason"]]:
    return (1 if exception else 0), type(exception).__name__ if exception else "ok"


def succeeded() -> dict:
    return {"accuracy": 0.9}


def failed(exception) -> str:
    return f"alert: {exception}"


def quiet() -> None:
    return None


@step(on_start=started, on_end=ended, on_success=succeeded)
def good() -> int:
    return 1


@step(on_failure=failed)
def bad() -> int:
    raise ValueError("boom")


def _by_type(run_id) -> dict[str, object]:
    return {i.hook_type: i for i in Client().list_hook_invocations(pipeline_run_id=run_id).items}


def test_return_values_are_discarded_by_default(monkeypatch):
    monkeypatch.delenv("FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS", raising=False)
    monkeypatch.delenv("ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS", raising=False)

    @pipeline(enable_cache=False)
    def p():
        good()

    run = p()
    invocations = Client().list_hook_invocations(pipeline_run_id=run.id).items
    assert len(invocations) == 3
    assert all(not i.outputs for i in invocations)


@pytest.mark.parametrize(
    "variable", ["FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS", "ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS"]
)
def test_step_hook_return_values_become_invocation_outputs(monkeypatch, variable):
    monkeypatch.setenv(variable, "true")

    @pipeline(enable_cache=False)
    def p():
        good()

    run = p()
    hooks = _by_type(run.id)
    start = hooks[HookType.STEP_START.value]
    assert start.outputs["output"][0].load() == "started!"
    assert start.step_run_id == run.steps["good"].id
    end = hooks[HookType.STEP_END.value]
    assert end.outputs["code"][0].load() == 0 and end.outputs["reason"][0].load() == "ok"
    assert hooks[HookType.STEP_SUCCESS.value].outputs["output"][0].load() == {"accuracy": 0.9}
    # hook outputs are not step outputs
    assert list(run.steps["good"].outputs) == ["output"]


def test_step_hook_outputs_in_worker_processes(monkeypatch):
    monkeypatch.setenv("FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS", "true")

    @pipeline(enable_cache=False, orchestrator="processes")
    def p():
        good()

    run = p()
    hooks = _by_type(run.id)
    assert hooks[HookType.STEP_START.value].outputs["output"][0].load() == "started!"


def test_on_failure_return_value_and_pipeline_level_hooks(monkeypatch):
    monkeypatch.setenv("FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS", "1")

    @pipeline(enable_cache=False, on_failure=failed)
    def p():
        bad()

    with pytest.raises(RunFailedError):
        p()
    run = Client().get_pipeline("p").last_run
    hooks = _by_type(run.id)
    assert hooks[HookType.STEP_FAILURE.value].outputs["output"][0].load() == "alert: boom"


def test_dynamic_pipeline_run_hooks_store_outputs_with_the_run(monkeypatch):
    monkeypatch.setenv("ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS", "yes")

    @pipeline(
        dynamic=True, enable_cache=False, on_start=started, on_success=succeeded, on_end=quiet
    )
    def p():
        good()

    run = p()
    runs = {
        i.hook_type: i
        for i in Client().list_hook_invocations(pipeline_run_id=run.id).items
        if i.step_run_id is None
    }
    assert runs[HookType.RUN_START.value].outputs["output"][0].load() == "started!"
    assert runs[HookType.RUN_SUCCESS.value].outputs["output"][0].load() == {"accuracy": 0.9}
    assert not runs[HookType.RUN_END.value].outputs  # `-> None`: nothing to store


def test_fanflow_variable_wins_and_bad_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS", "true")
    monkeypatch.setenv("FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS", "off")
    assert load_settings().track_lifecycle_hook_outputs is False
    monkeypatch.delenv("FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS")
    assert load_settings().track_lifecycle_hook_outputs is True
    monkeypatch.setenv("ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS", "maybe")
    with pytest.raises(ValueError, match=r"ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS.*'maybe'"):
        load_settings()
