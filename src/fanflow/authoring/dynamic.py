"""Dynamic pipelines: the pipeline function runs as ordinary Python while the run goes on.

`@pipeline(dynamic=True)` starts the orchestrator's loop in a background thread and runs the
function in the caller's thread. Step calls inside it become invocations added to the live run:

- `step(...)` runs the step and returns its outputs (`OutputArtifact`, `.load()` gives the value),
  so `if` and loops on values work;
- `step.submit(...)` returns a `StepFuture` at once; the step runs concurrently;
- `step.map(...)` / `step.product(...)` fan out over sequences whose length may only be known
  now, and return a `MapResultsFuture`; chained maps pipeline branch by branch;
- futures, outputs and map results can be passed to other steps, also as one `list[T]` input.

Invariants:
- a branch's name is `map:<group>:<index>`; its identity for caching (and resume) is its step
  code, parameters and input *content*, never the order in which calls were made;
- futures nobody waited for are still awaited before the run ends, and their failures fail it;
- the function never touches the metadata store; it talks to the orchestrator through messages.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fanflow.artifacts.external_artifact import ExternalArtifact
from fanflow.authoring.binding import (
    Unmapped,
    after_ids,
    artifact_ref,
    bind_arguments,
    classify_arguments,
)
from fanflow.authoring.futures import (
    ArtifactFuture,
    ItemReference,
    ItemReferences,
    MapResultsFuture,
    OutputArtifact,
    StepFuture,
)
from fanflow.authoring.hook_outputs import named_outputs, save_outside
from fanflow.authoring.launch import finished_run, orchestrator_for, stopped_error
from fanflow.authoring.mapping import DEFAULT_MAX_FAN_OUT, expand, split_map_arguments
from fanflow.authoring.run_config import StepOverrides
from fanflow.authoring.step_overrides import apply_step_overrides, with_pipeline_settings
from fanflow.authoring.tracing import IdAllocator, StepArtifact, dynamic_context
from fanflow.client.views import ArtifactVersionView
from fanflow.config import Settings
from fanflow.enums import ExecutionMode
from fanflow.exceptions import StepExecutionException, StepInterfaceError
from fanflow.execution.known import Handle, InvocationHandle, KnownArtifact, MapBranches
from fanflow.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext
from fanflow.execution.recording import hook_records
from fanflow.execution.run_setup import RunDescription
from fanflow.execution.runner import Orchestrator
from fanflow.execution.step_hooks import HookCall, call_hook
from fanflow.execution.supervision import graceful_interrupts
from fanflow.metadata.store import MetadataStore
from fanflow.spec import (
    ExternalArtifactRef,
    Invocation,
    OutputRef,
    StepDefinition,
    effective_enable_cache,
    frozen_mapping,
    map_branch_id,
    split_branch_id,
)
from fanflow.typecheck import mismatch

if TYPE_CHECKING:
    from fanflow.client import Client, PipelineRunView


# A map wider than this is added while it runs: a chunk of branches at a time, each once at
# most this many of its branches wait to be dispatched, so the run never holds the pending
# state (invocation, node, item record) of a million branches at once.
MAP_PENDING_LIMIT = 20_000
MAP_ADD_CHUNK = 5_000


# --- the run ------------------------------------------------------------------------------------


class DynamicRun:
    """The live run behind a dynamic pipeline function."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        settings: Settings,
        max_fan_out: int,
        enable_cache: bool | None,
    ) -> None:
        self.orchestrator = orchestrator
        self.settings = settings
        self.max_fan_out = max_fan_out
        self.enable_cache = enable_cache
        self.ids = IdAllocator(orchestrator.description.name)
        # What the run waits for before it ends: single steps' handles, maps' branch tables.
        self.handles: list[InvocationHandle | MapBranches] = []
        self._client: Client | None = None
        self._positions = itertools.count()
        self._last_parameters: Mapping[str, Any] | None = None
        # Configured values per invocation id (`steps:` of a run configuration).
        self.step_overrides: Mapping[str, StepOverrides] = {}
        # The pipeline's merged `settings` (every step's lowest settings layer).
        self.pipeline_settings: Mapping[str, Any] = {}
        # Item artifact ids of the outputs `.chunk(index)` split, by output artifact id.
        self._chunks: dict[str, Sequence[str]] = {}

    @property
    def client(self) -> Client:
        if self._client is None:
            from fanflow.client import Client

            self._client = Client(self.settings)
        return self._client

    # --- waiting and loading ------------------------------------------------------------------

    def wait(self, handle: Handle) -> None:
        self.orchestrator.wait(handle)
        if handle.status in ("completed", "cached"):
            return
        where = f"Step `{handle.invocation_id}`"
        group, index = split_branch_id(handle.invocation_id)
        if group is not None:
            where += f" (branch {index} of map `{group}`)"
        if handle.status == "failed":
            error = StepExecutionException(f"{where} failed: {handle.error_text}", handle.error)
            raise error from handle.error
        reason = handle.error_text
        if reason is None and handle.error is not None:  # the run's loop ended with this error
            reason = f"{type(handle.error).__name__}: {handle.error}"
        error = StepExecutionException(f"{where} was not run ({reason}).", handle.error)
        raise error from handle.error

    def load_known(self, known: KnownArtifact) -> Any:
        return self.orchestrator.load(known)

    def output_artifacts(self, handle: Handle, names: list[str]) -> list[OutputArtifact]:
        ids = [handle.outputs[name].id for name in names]
        records = self.orchestrator.artifact_records(ids)
        return [
            OutputArtifact(
                ArtifactVersionView(records[av_id], self.client),
                handle.invocation_id,
                name,
                self.orchestrator.run_id,
                (self, handle),
            )
            for name, av_id in zip(names, ids, strict=True)
        ]

    def chunk(self, handle: Handle, output_name: str, index: int) -> ArtifactVersionView:
        """One item of a finished sequence output (ZenML's `.chunk(index)`). The output is split
        into item artifacts once (as `.map` splits it); later chunks reuse the split."""
        where = f"output artifact `{output_name}` of step `{handle.invocation_id}`"
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"Chunk index for {where} must be an int, got {index!r}.")
        self.wait(handle)
        source = handle.outputs[output_name]
        items = self._chunks.get(source.id)
        if items is None:
            request = self.orchestrator.split(source)
            if request.error is not None:
                raise ValueError(
                    f"The {where} can not be chunked: {request.error}."
                ) from request.error
            assert request.items is not None
            items = self._chunks[source.id] = request.items.ids
        if not 0 <= index < len(items):
            raise ValueError(
                f"Chunk index `{index}` out of range for {where} ({len(items)} items)."
            )
        record = self.orchestrator.artifact_records([items[index]])[items[index]]
        return ArtifactVersionView(record, self.client)

    # --- turning values into references -----------------------------------------------------

    def single_ref(
        self, step: StepDefinition, invocation_id: str, name: str, value: Any
    ) -> OutputRef | ExternalArtifactRef | None:
        if isinstance(value, OutputRef):  # a map's branch, from `_prepare`
            return value
        if isinstance(value, StepFuture):
            if len(value.output_names) != 1:
                raise StepInterfaceError(
                    f"Invalid step input `{name}` of step {step.name!r}: passing a future that "
                    "refers to multiple output artifacts as an input to another step is not "
                    "allowed; index it (future[0]) or unpack it."
                )
            return OutputRef(value.invocation_id, value.output_names[0])
        if isinstance(value, ArtifactFuture):
            return OutputRef(value.invocation_id, value.output_name)
        if isinstance(value, ItemReference):
            return ExternalArtifactRef(value.artifact_version_id)
        if isinstance(value, OutputArtifact) and value.run_id == self.orchestrator.run_id:
            return OutputRef(value.invocation_id, value.output_name)
        if isinstance(value, ArtifactVersionView):
            return ExternalArtifactRef(value.id.hex)
        if isinstance(value, ExternalArtifact):
            # Imported here: tracing a pipeline must not load the database layer.
            from fanflow.authoring.manual_artifacts import upload_external_artifact

            return ExternalArtifactRef(upload_external_artifact(value).id.hex)
        if isinstance(value, StepArtifact):
            raise StepInterfaceError(
                f"Step {step.name!r} input {name!r}: got a static pipeline's output handle "
                f"inside a dynamic pipeline."
            )
        return None

    def _raw_values_as_artifacts(
        self, step: StepDefinition, invocation_id: str, bound: Mapping[str, Any]
    ) -> dict[str, Any]:
        """As in ZenML's dynamic pipelines, a plain value passed to a step call becomes an input
        artifact of that step (so the step's parameters hold only configured values and
        defaults). A value that does not fit its annotation is left for the usual error."""
        from fanflow.authoring.manual_artifacts import save_manual_artifact

        converted = dict(bound)
        for name, value in bound.items():
            signature = step.input(name)
            annotation = signature.annotation if signature is not None else Any
            prepared = self._prepare(value)
            if artifact_ref(step, invocation_id, name, prepared, annotation, self.single_ref):
                converted[name] = prepared  # prepared once (a map's refs are a million long)
                continue
            if isinstance(value, Unmapped) or mismatch(value, annotation) is not None:
                continue
            converted[name] = save_manual_artifact(
                value,
                f"{self.orchestrator.description.name}::{invocation_id}::{name}",
                settings=self.settings,
            )
        return converted

    def _prepare(self, value: Any) -> Any:
        """A map's results passed whole become its branches' references (made straight from
        the map's group, not through a future per branch)."""
        if isinstance(value, MapResultsFuture):
            return value.output_refs() or list(value.futures)
        return value

    def _after_ids(self, after: Any) -> list[str]:
        def item_ids(item: Any) -> list[str] | None:
            if isinstance(item, str):
                if not self.ids.launched(item):
                    raise StepInterfaceError(
                        f"after={item!r} names no step launched so far in this dynamic run."
                    )
                return [item]
            if isinstance(item, (StepFuture, ArtifactFuture, OutputArtifact)):
                return [item.invocation_id]
            if isinstance(item, MapResultsFuture):
                return item.invocation_ids
            return None

        return after_ids(
            after,
            item_ids,
            where="Dynamic pipeline step call",
            expected="step ids, futures or outputs",
            groups=(MapResultsFuture,),
        )

    def _invocation(
        self,
        step: StepDefinition,
        invocation_id: str,
        kwargs: Mapping[str, Any],
        after: list[str],
        parameter_defaults: Mapping[str, Any],
        map_group: str | None = None,
        map_index: int | None = None,
    ) -> Invocation:
        prepared = {name: self._prepare(value) for name, value in kwargs.items()}
        inputs, parameters, upstream = classify_arguments(
            step, invocation_id, prepared, parameter_defaults, self.single_ref
        )
        enable_cache = effective_enable_cache(step.config.enable_cache, self.enable_cache)
        upstream_ids = set(upstream)  # one set (a fan-in's may hold a million ids), no union
        upstream_ids.update(after)
        return Invocation(
            id=invocation_id,
            step=step,
            inputs=frozen_mapping(inputs),
            parameters=self._shared_parameters(parameters),
            upstream=tuple(sorted(upstream_ids)),
            after=tuple(after),
            enable_cache=enable_cache,
            map_group=map_group,
            map_index=map_index,
            position=next(self._positions),
        )

    def _shared_parameters(self, parameters: dict[str, Any]) -> Mapping[str, Any]:
        """The previous invocation's parameter mapping when this one holds the very same values
        (every branch of a `.map` with `unmapped(...)` or default parameters): one mapping for
        the whole group instead of one per branch, ~200 bytes less held per branch."""
        last = self._last_parameters
        if (
            last is not None
            and len(last) == len(parameters)
            and all(name in last and last[name] is value for name, value in parameters.items())
        ):
            return last
        frozen = frozen_mapping(parameters)
        self._last_parameters = frozen
        return frozen

    def _submit(self, invocations: list[Invocation]) -> list[InvocationHandle]:
        handles = self.orchestrator.add(invocations)
        self.handles.extend(handles)
        return handles

    # --- the three ways to launch ---------------------------------------------------------

    def launch(
        self,
        step: StepDefinition,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        custom_id: str | None,
        after: Any,
        parameter_defaults: Mapping[str, Any],
        wait: bool,
    ) -> Any:
        invocation_id = self.ids.allocate(custom_id or step.name, custom_id is not None)
        bound = bind_arguments(step, args, kwargs)
        step, parameter_defaults = apply_step_overrides(
            step,
            invocation_id,
            bound,
            parameter_defaults,
            self.step_overrides,
            self.pipeline_settings,
        )
        bound = self._raw_values_as_artifacts(step, invocation_id, bound)
        invocation = self._invocation(
            step, invocation_id, bound, self._after_ids(after), parameter_defaults
        )
        handle = self._submit([invocation])[0]
        future = StepFuture(self, handle, step)
        if not wait:
            return future
        return future.result()

    def map(
        self,
        step: StepDefinition,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        after: Any,
        product: bool,
        parameter_defaults: Mapping[str, Any],
    ) -> MapResultsFuture:
        mapped, fixed = split_map_arguments(
            step, args, kwargs, as_sequence=lambda name, value: self._as_sequence(step, name, value)
        )
        width, branches = expand(step, mapped, fixed, product=product, max_fan_out=self.max_fan_out)
        step = with_pipeline_settings(step, self.pipeline_settings)
        group = self.ids.map_group(step.name)
        after_ids = self._after_ids(after)
        table = MapBranches(group, width, tuple(output.name for output in step.outputs))
        made = (
            self._invocation(
                step,
                map_branch_id(group, index),
                kwargs,
                after_ids,
                parameter_defaults,
                group,
                index,
            )
            for index, kwargs in enumerate(branches)
        )
        # A map that tolerates failed branches is added whole: its success ratio is counted
        # over all its branches from the start.
        gradual = width > MAP_PENDING_LIMIT and step.config.min_success_ratio is None
        self.ids.map_widths[group] = width
        self.handles.append(table)
        added = 0
        try:
            while True:
                chunk = list(itertools.islice(made, MAP_ADD_CHUNK if gradual else width))
                if added and chunk:
                    self.orchestrator.wait_for_room(table, added, MAP_PENDING_LIMIT)
                if chunk or not added:
                    self.orchestrator.add_branches(table, chunk)
                added += len(chunk)
                if added >= width:
                    break
        except BaseException:
            self.ids.map_widths[group] = added
            self.orchestrator.end_branches(table, added)
            raise
        return MapResultsFuture(self, table, step)

    def _as_sequence(self, step: StepDefinition, name: str, value: Any) -> Sequence[Any] | None:
        """Mapped inputs that are artifacts become per-item references (split by a worker)."""
        if isinstance(value, MapResultsFuture):
            return value  # a sequence of its branches' futures, each made when read
        source = self._known_artifact(value)
        if source is None:
            return None
        request = self.orchestrator.split(source)
        if request.error is not None:
            raise StepInterfaceError(
                f"Cannot map step {step.name!r} over input {name!r}: {request.error}. Map over "
                "a list, tuple or array, or wrap the input as unmapped(...) to pass it whole."
            ) from request.error
        assert request.items is not None
        return ItemReferences(request.items.ids)

    def _known_artifact(self, value: Any) -> KnownArtifact | None:
        if isinstance(value, StepFuture):
            if len(value.output_names) != 1:
                raise StepInterfaceError(
                    f"Cannot map over step {value.invocation_id!r}: it has several outputs; "
                    "index or unpack it first."
                )
            value.wait()
            return value._handle.outputs[value.output_names[0]]
        if isinstance(value, ArtifactFuture):
            value.wait()
            return value._handle.outputs[value.output_name]
        if isinstance(value, ArtifactVersionView):
            return KnownArtifact.of_version(value._record)
        return None

    # --- the end -------------------------------------------------------------------------------

    def await_all(self) -> None:
        for handle in self.handles:
            self.orchestrator.wait(handle)


def run_dynamic(
    func: Callable[..., Any],
    parameters: dict[str, Any],
    description: RunDescription,
    settings: Settings,
    *,
    unlisted: bool,
    max_fan_out: int | None,
    resume: Any = None,
    step_overrides: Mapping[str, StepOverrides] | None = None,
    pipeline_settings: Mapping[str, Any] | None = None,
    pipeline: Any = None,
) -> PipelineRunView:
    """Run a dynamic pipeline function to the end; returns the run or raises RunFailedError.

    Pipeline-level hooks run once for the whole run (after it is recorded), as in ZenML, inside
    the run's `DynamicPipelineRunContext` (so they can read `.get().run`). ZenML's pause and
    resume map onto the graceful stop: `on_pause` fires once when the run stops gracefully
    (first Ctrl-C, SIGTERM, `fanflow runs stop`), `on_resume` once when a stopped run is
    resumed, before its steps.
    """
    orchestrator = orchestrator_for(description, settings, unlisted, resume)
    run = DynamicRun(
        orchestrator, settings, max_fan_out or DEFAULT_MAX_FAN_OUT, description.options.enable_cache
    )
    run.step_overrides = step_overrides or {}
    run.pipeline_settings = pipeline_settings or {}
    thread = orchestrator.start_dynamic()
    cause: BaseException | None = None
    options = description.options
    run_where = f"run `{orchestrator.run_name}`"
    run_calls: list[HookCall] = []

    def store_return(hook: Any, result: Any) -> dict[str, list[str]]:
        return save_outside(named_outputs(hook, result), settings)

    def fire(kind: str, exc: BaseException | None = None) -> None:
        call = call_hook(
            getattr(options, kind),
            kind,
            run_where,
            exc,
            hook_type=kind.replace("on_", "run_"),
            store_return=store_return if settings.track_lifecycle_hook_outputs else None,
        )
        if call is not None:
            run_calls.append(call)

    context = DynamicPipelineRunContext(
        pipeline, orchestrator.run_id, lambda run_id: run.client.get_pipeline_run(run_id), run
    )
    with context:
        fire("on_start")
        if resume is not None and resume.resumes_stopped:
            fire("on_resume")
        try:
            with graceful_interrupts(orchestrator.interrupt), dynamic_context(run):
                func(**parameters)
                run.await_all()
        except BaseException as exc:
            cause = exc
            orchestrator.function_raised(exc)
        finally:
            orchestrator.close_dynamic()
            thread.join()
        if orchestrator.loop_error is not None and cause is None:
            cause = orchestrator.loop_error
        outcome = orchestrator.close(cause)
        interrupted = orchestrator.interrupted or isinstance(cause, KeyboardInterrupt)
        failed = outcome.status == "failed"
        first_error = cause or (outcome.failures[0][1] if outcome.failures else None)
        if interrupted:
            fire("on_pause")
        elif failed:
            fire("on_failure", first_error)
        else:
            fire("on_success")
        fire("on_end", first_error if failed or interrupted else None)
    MetadataStore(settings.metadata_url).record_hook_invocations(
        hook_records(run_calls, outcome.run_id, None)
    )
    if interrupted:
        raise stopped_error(outcome.run_name) from None
    return finished_run(
        outcome,
        settings,
        cause,
        dynamic=True,
        reraise_step_error=description.failure_policy is ExecutionMode.FAIL_FAST
        and (cause is None or isinstance(cause, StepExecutionException)),
    )
