"""Running a compiled spec and turning the outcome into what the caller gets back.

Shared by `@pipeline` calls and single-step runs: run the orchestrator, then either return the
finished run's view or raise `RunFailedError` naming the failed step(s), chained to the first
step's own exception. Also home of `save_manual_artifact`, the one way an artifact is saved and
recorded outside a run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fanflow.authoring.hook_outputs import store_step_hook_return
from fanflow.client import Client, PipelineRunView
from fanflow.config import Settings, load_settings
from fanflow.enums import ExecutionMode
from fanflow.exceptions import (
    DynamicRunStepFailedError,
    RunFailedError,
    RunStoppedError,
    StepExecutionException,
)
from fanflow.execution.run_setup import RunDescription, RunOutcome
from fanflow.execution.runner import Orchestrator
from fanflow.metadata.maintenance import repair_dead_runs
from fanflow.metadata.store import MetadataStore
from fanflow.spec import PipelineSpec


def launch(
    spec: PipelineSpec,
    *,
    description: RunDescription | None = None,
    settings: Settings | None = None,
    unlisted: bool = False,
    resume: Any = None,
) -> PipelineRunView:
    """Run a static pipeline's spec to the end."""
    settings = settings or load_settings()
    description = description or RunDescription(
        name=spec.name,
        source=spec.source,
        parameters=dict(spec.parameters),
        options=spec.options,
        failure_policy=ExecutionMode(
            spec.options.execution_mode or ExecutionMode.CONTINUE_ON_FAILURE
        ),
    )
    description = dataclasses.replace(description, planned=planned_graph(spec))
    orchestrator = orchestrator_for(description, settings, unlisted, resume)
    try:
        outcome = orchestrator.run_static(list(spec.invocations.values()))
    except KeyboardInterrupt:
        raise stopped_error(orchestrator.run_name) from None
    if orchestrator.interrupted:
        raise stopped_error(outcome.run_name)
    return finished_run(
        outcome, settings, reraise_step_error=description.failure_policy is ExecutionMode.FAIL_FAST
    )


def planned_graph(spec: PipelineSpec) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """Every invocation of a static pipeline with its step name and upstream ids, recorded with
    the run so readers see the whole planned graph, also steps a crashed run never started."""
    return tuple((inv.id, inv.step.name, tuple(inv.upstream)) for inv in spec.invocations.values())


def orchestrator_for(
    description: RunDescription, settings: Settings, unlisted: bool, resume: Any
) -> Orchestrator:
    """An orchestrator for a new run, reusing an earlier run's finished steps when resuming.

    Opening a home for a run first records runs whose orchestrator died as failed, so the
    store's statuses converge without any reader writing.
    """
    repair_dead_runs(MetadataStore(settings.metadata_url))
    orchestrator = Orchestrator(
        description,
        settings,
        unlisted=unlisted,
        reuse=resume.reuse if resume is not None else None,
        original_run_id=resume.original_run_id if resume is not None else None,
    )
    if settings.track_lifecycle_hook_outputs:
        orchestrator.builder.hook_output_saver = store_step_hook_return
    return orchestrator


def stopped_error(run_name: str) -> RunStoppedError:
    return RunStoppedError(
        f"Run `{run_name}` was stopped (Ctrl-C or SIGTERM); every finished step is recorded. "
        f"Resume it with Client().get_pipeline_run({run_name!r}).resume()."
    )


def finished_run(
    outcome: RunOutcome,
    settings: Settings,
    cause: BaseException | None = None,
    *,
    dynamic: bool = False,
    reraise_step_error: bool = False,
) -> PipelineRunView:
    """The run's view, or RunFailedError naming the failed step(s), chained to the cause.

    A dynamic run whose failure is a step the pipeline function called raises
    `DynamicRunStepFailedError` (also a `StepExecutionException`, as in ZenML); a static run and
    a dynamic run that failed for another reason (bad `.map` input, the function raised) raise a
    plain `RunFailedError`. With `reraise_step_error` (the `fail_fast` execution mode) the failed
    step's own exception is raised instead, as ZenML does.
    """
    run = Client(settings).get_pipeline_run(outcome.run_id)
    if outcome.failures:
        failed = tuple(inv_id for inv_id, _, _ in outcome.failures)
        first_id, first_error, first_text = outcome.failures[0]
        if reraise_step_error and isinstance(first_error, Exception):
            raise first_error
        message = (
            f"Pipeline run has failed due to failure in step(s): {', '.join(failed)}. "
            f"Run `{outcome.run_name}`; first error in `{first_id}`: {first_text}"
        )
        if outcome.ratio_errors:
            message = f"{'; '.join(outcome.ratio_errors)}. {message}"
        step_failed = dynamic and (cause is None or isinstance(cause, StepExecutionException))
        kind = DynamicRunStepFailedError if step_failed else RunFailedError
        raise kind(message, outcome.run_name, failed, first_error) from first_error
    if cause is not None:
        message = (
            f"Pipeline run `{outcome.run_name}` has failed: the pipeline function raised "
            f"{type(cause).__name__}: {cause}"
        )
        kind = (
            DynamicRunStepFailedError
            if dynamic and isinstance(cause, StepExecutionException)
            else RunFailedError
        )
        raise kind(message, outcome.run_name, (), cause) from cause
    return run
