"""Saving hooks' return values as artifact versions, the outputs of their hook invocation.

Shared by `run_hook(..., store_return=True)` and by lifecycle hooks when
`FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS` (ZenML: `ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS`) is on, so
both follow the same rules: an unannotated (or single) return is one output named `output` (or
its `Annotated` name), an annotated tuple one output per element, `-> None` no output. Inside a
step the artifacts are saved with the step's (recorded with its result, not as its outputs);
outside (a dynamic pipeline's function) each is saved as a manual artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fanflow.artifacts.io import save_value
from fanflow.authoring.manual_artifacts import save_manual_artifact
from fanflow.authoring.signature import parse_outputs
from fanflow.execution.runtime import ExtraArtifact, StepRuntime
from fanflow.ids import new_id


def named_outputs(func: Callable[..., Any], result: Any) -> dict[str, Any]:
    """The return value by output name, read from the function's return annotation."""
    label = f"hook {getattr(func, '__name__', func)!r}"
    outputs, _ = parse_outputs(func, label)
    if not outputs:
        return {}
    if len(outputs) == 1:
        return {outputs[0].name: result}
    names = [output.name for output in outputs]
    if not isinstance(result, (list, tuple)):
        raise ValueError(
            f"Hook function with multiple outputs ({names}) must return a tuple or list, got "
            f"{type(result).__name__}."
        )
    if len(result) != len(names):
        raise ValueError(
            f"Hook function returned {len(result)} values but its annotation declares "
            f"{len(names)} outputs."
        )
    return dict(zip(names, result, strict=True))


def save_in_step(runtime: StepRuntime, values: dict[str, Any]) -> dict[str, list[str]]:
    """Save outputs with the running step's artifacts (recorded with its result, not as its
    outputs)."""
    saved_ids: dict[str, list[str]] = {}
    store = runtime.artifact_store
    for output_name, value in values.items():
        artifact_id = new_id()
        saved = save_value(
            value, store, store.uri_for("hook_outputs", output_name, artifact_id), None, artifact_id
        )
        runtime.extra_artifacts.append(
            ExtraArtifact(output_name, None, saved, {}, link_output=False)
        )
        saved_ids[output_name] = [saved.id]
    return saved_ids


def save_outside(values: dict[str, Any], settings: Any) -> dict[str, list[str]]:
    """Save outputs as manual artifacts (a hook of a dynamic pipeline's function)."""
    return {
        output_name: [save_manual_artifact(value, output_name, settings=settings).id.hex]
        for output_name, value in values.items()
    }


def store_step_hook_return(
    runtime: StepRuntime, hook: Callable[..., Any], result: Any
) -> dict[str, list[str]]:
    """A lifecycle hook's return value, saved with its step: what a step task carries (by
    reference, so it pickles) when lifecycle hook outputs are tracked."""
    return save_in_step(runtime, named_outputs(hook, result))
