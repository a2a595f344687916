"""Calling a step outside any pipeline: run it as a one-step, uncached pipeline named after it.

As in ZenML, the call returns the step's value (None, one value, or a tuple for several
outputs). Arguments that cannot be recorded as parameters are saved as artifacts first, so the
run's record stays complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fanflow.authoring.binding import bind_arguments, is_recordable
from fanflow.authoring.launch import launch
from fanflow.authoring.manual_artifacts import save_manual_artifact
from fanflow.authoring.tracing import tracing
from fanflow.client.views import ArtifactVersionView
from fanflow.config import load_settings
from fanflow.spec import RunOptions
from fanflow.typecheck import mismatch

if TYPE_CHECKING:
    from fanflow.authoring.steps import Step


def run_single_step(step: Step, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    definition = step.definition
    settings = load_settings()
    bound = bind_arguments(definition, args, kwargs)
    prepared: dict[str, Any] = {}
    for name, value in bound.items():
        signature = definition.input(name)
        annotation = signature.annotation if signature else Any
        if isinstance(value, ArtifactVersionView):
            prepared[name] = value
        elif is_recordable(value) or mismatch(value, annotation) is not None:
            prepared[name] = value  # a bad type is reported by tracing, with the step's name
        else:
            prepared[name] = save_manual_artifact(
                value, f"{definition.name}::{name}", settings=settings
            )
    with tracing(definition.name) as trace:
        trace.add_invocation(definition, (), prepared, custom_id=None, after=None)
    spec = trace.compile(
        source=definition.source,
        parameters={},
        options=RunOptions(run_name=f"{definition.name}-{{date}}-{{time}}", enable_cache=False),
        pipeline_enable_cache=False,
    )
    # Recorded under a pipeline named after the step, as ZenML lists it.
    run = launch(spec, settings=settings, unlisted=False)
    step_run = run.steps[definition.name]
    values = [step_run.outputs[output.name][0].load() for output in definition.outputs]
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)
