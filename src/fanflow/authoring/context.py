"""`get_step_context()`: what a running step can learn about itself.

Each step thread has its own context (a `ContextVar` set by the worker), so steps running side
by side never see each other's. The run and step views are read from the store when first asked
for, so a step that only needs its name pays nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
        """Input artifacts by input name: one artifact version each (as in ZenML's
        `StepContext.inputs`), or a list of them for a fan-in (`list[T]`) input."""
        from fanflow.typecheck import is_list_annotation, strip_annotated

        found: dict[str, Any] = {}
        for name, items in self.step_run.inputs.items():
            signature = self._runtime.step.input(name)
            annotation = strip_annotated(signature.annotation) if signature else None
            fan_in = annotation is not None and is_list_annotation(annotation)
            found[name] = items if fan_in or len(items) != 1 else items[0]
        return found

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

    def add_output_tags(self, tags: list[str], output_name: str | None = None) -> None:
        """Tag the artifact version this step's output will become."""
        if isinstance(tags, str):
            raise ValueError("add_output_tags takes a list of tags, not a string.")
        current = self._runtime.output_tags.setdefault(self._output_name(output_name), [])
        current.extend(str(tag) for tag in tags if str(tag) not in current)

    def get_output_tags(self, output_name: str | None = None) -> list[str]:
        """The tags the output will get: its `ArtifactConfig` tags, then those added here."""
        name = self._output_name(output_name)
        configured = next(
            (
                list(o.config.tags)
                for o in self._runtime.step.outputs
                if o.name == name and o.config is not None
            ),
            [],
        )
        added = self._runtime.output_tags.get(name, [])
        return list(dict.fromkeys([*configured, *added]))

    def remove_output_tags(self, tags: list[str], output_name: str | None = None) -> None:
        name = self._output_name(output_name)
        current = self._runtime.output_tags.get(name, [])
        self._runtime.output_tags[name] = [tag for tag in current if tag not in set(tags)]

    def get_output_artifact_uri(self, output_name: str | None = None) -> str:
        """Where the output's artifact will be stored (reserved now, used when it is saved).

        The step may write side files into this folder (`os.path.join(uri, "logs")`, ...): they
        are published with the output's value, as one artifact (see `artifacts/side_files.py`).
        """
        name = self._output_name(output_name)
        reserved = self._runtime.output_uris.get(name)
        if reserved is None:
            from fanflow.ids import new_id

            artifact_id = new_id()
            runtime = self._runtime
            uri = runtime.artifact_store.uri_for(
                runtime.map_group or runtime.invocation_id, name, artifact_id
            )
            from fanflow.artifacts.side_files import prepare_output_uri

            prepare_output_uri(runtime.artifact_store, uri)
            reserved = runtime.output_uris[name] = (artifact_id, uri)
        return reserved[1]

    def get_output_materializer(
        self,
        output_name: str | None = None,
        custom_materializer_class: type | None = None,
        data_type: type | None = None,
    ) -> Any:
        """A materializer *instance* for the output, initialized with its artifact URI (as in
        ZenML): `custom_materializer_class` replaces the output's own, `data_type` chooses by
        type (for a `Union` output). Saving with it writes side files into the output's folder,
        which are published with the value."""
        name = self._output_name(output_name)
        output = next(o for o in self._runtime.step.outputs if o.name == name)
        chosen = custom_materializer_class or output.materializer
        if chosen is None or data_type is not None:
            from fanflow.artifacts.registry import materializer_registry
            from fanflow.typecheck import strip_annotated

            annotation = data_type or strip_annotated(output.annotation)
            chosen = custom_materializer_class or materializer_registry.select(
                annotation if isinstance(annotation, type) else object
            )
        uri = self.get_output_artifact_uri(name)
        return chosen(uri, artifact_store=self._runtime.artifact_store)


def get_step_context() -> StepContext:
    """The context of the step running in this thread; RuntimeError outside a step."""
    runtime = active_step()
    if runtime is None:
        raise StepContextError("The step context is only available inside a step function.")
    return StepContext(runtime)


class PipelineContext:
    """What a pipeline function can read about the pipeline being composed or run."""

    def __init__(
        self,
        name: str,
        extra: dict[str, Any],
        enable_cache: bool | None,
        run_name: str | None,
        parameters: dict[str, Any],
        tags: list[str],
    ) -> None:
        self.name = name
        self.extra = extra
        self.enable_cache = enable_cache
        self.run_name = run_name
        self.parameters = parameters
        self.tags = tags
        self.model = None  # the model control plane is not part of fanflow

    def __repr__(self) -> str:
        return f"PipelineContext(name={self.name!r})"


_pipeline_context: ContextVar[PipelineContext | None] = ContextVar(
    "fanflow_pipeline_context", default=None
)


def get_pipeline_context() -> PipelineContext:
    """The context of the pipeline whose function is running (ZenML's `get_pipeline_context`)."""
    context = _pipeline_context.get()
    if context is None:
        raise RuntimeError(
            "No active pipeline found: get_pipeline_context() works only inside a pipeline "
            "function."
        )
    return context


@contextmanager
def pipeline_context(context: PipelineContext) -> Iterator[PipelineContext]:
    token = _pipeline_context.set(context)
    try:
        yield context
    finally:
        _pipeline_context.reset(token)
