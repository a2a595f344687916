"""`get_step_context()`: what a running step can learn about itself.

Each step thread has its own context (a `ContextVar` set by the worker), so steps running side
by side never see each other's. The run and step views are read from the store when first asked
for, so a step that only needs its name pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fanflow.client import Client, PipelineRunView, PipelineView, StepRunView
from fanflow.exceptions import StepContextError
from fanflow.execution.runtime import StepRuntime, active_step


class StepContext:
    """The running step's run, step run, name and output metadata."""

    def __init__(self, runtime: StepRuntime) -> None:
        self._runtime = runtime
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            from fanflow.client import Client

            self._client = Client()
        return self._client

    @property
    def step_name(self) -> str:
        """The invocation id of this step in its pipeline (`process_3`, `map:square:2`)."""
        return self._runtime.invocation_id

    @property
    def pipeline_run(self) -> PipelineRunView:
        return self.client.get_pipeline_run(self._runtime.run_id)

    @property
    def step_run(self) -> StepRunView:
        return self.client.get_run_step(self._runtime.step_run_id)

    @property
    def pipeline(self) -> PipelineView:
        pipeline = self.pipeline_run.pipeline
        if pipeline is None:
            raise StepContextError(
                f"Unable to get pipeline in step `{self.step_name}` of pipeline run "
                f"'{self._runtime.run_name}': this run does not belong to a pipeline."
            )
        return pipeline

    @property
    def map_index(self) -> int | None:
        """This branch's index within its `.map(...)`, or None outside a map."""
        return self._runtime.map_index

    @property
    def inputs(self) -> dict[str, Any]:
        return self.step_run.inputs

    def _output_name(self, output_name: str | None) -> str:
        names = self._runtime.output_names
        if output_name is None:
            if not names:
                raise StepContextError(
                    f"Unable to get step output for step `{self.step_name}`: this step does not "
                    "have any outputs."
                )
            if len(names) > 1:
                raise StepContextError(
                    f"Unable to get step output for step `{self.step_name}`: this step has "
                    f"multiple outputs ({names}), please specify which output to use."
                )
            return names[0]
        if output_name not in names:
            raise StepContextError(
                f"Unable to get step output '{output_name}' for step `{self.step_name}`: it has "
                f"no output with this name; its outputs are {names}."
            )
        return output_name

    def add_output_metadata(self, metadata: dict[str, Any], output_name: str | None = None) -> None:
        name = self._output_name(output_name)
        self._runtime.output_metadata.setdefault(name, {}).update(metadata)

    def get_output_metadata(self, output_name: str | None = None) -> dict[str, Any]:
        return dict(self._runtime.output_metadata.get(self._output_name(output_name), {}))


def get_step_context() -> StepContext:
    """The context of the step running in this thread; RuntimeError outside a step."""
    runtime = active_step()
    if runtime is None:
        raise StepContextError("The step context is only available inside a step function.")
    return StepContext(runtime)
