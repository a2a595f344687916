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

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fanflow.artifacts.items import ITEM_MATERIALIZER, source_from_metadata
from fanflow.authoring.launch import finished_run, orchestrator_for, stopped_error
from fanflow.authoring.mapping import DEFAULT_MAX_FAN_OUT, expand, split_map_arguments
from fanflow.authoring.tracing import (
    IdAllocator,
    StepArtifact,
    bind_arguments,
    classify_arguments,
    dynamic_context,
    map_branch_id,
)
from fanflow.client.views import ArtifactVersionView
from fanflow.config import Settings
from fanflow.exceptions import StepExecutionException, StepInterfaceError
from fanflow.execution.known import InvocationHandle, KnownArtifact, SplitRequest
from fanflow.execution.lifecycle import run_hook
from fanflow.execution.run_setup import RunDescription
from fanflow.execution.runner import Orchestrator
from fanflow.execution.supervision import graceful_interrupts
from fanflow.spec import (
    ExternalArtifactRef,
    Invocation,
    OutputRef,
    StepDefinition,
    effective_enable_cache,
    frozen_mapping,
)

if TYPE_CHECKING:
    from fanflow.client import Client, PipelineRunView


# --- what the pipeline function holds -------------------------------------------------------------


class OutputArtifact(ArtifactVersionView):
    """A finished step's output in the running dynamic pipeline (an artifact version + names)."""

    __slots__ = ("invocation_id", "output_name", "run_id")

    def __init__(
        self, view: ArtifactVersionView, invocation_id: str, output_name: str, run_id: str
    ) -> None:
        super().__init__(view._record, view._client)
        self.invocation_id = invocation_id
        self.output_name = output_name
        self.run_id = run_id

    @property
    def step_name(self) -> str:
        return self.invocation_id

    def __repr__(self) -> str:
        return (
            f"OutputArtifact(step={self.invocation_id!r}, output={self.output_name!r}, "
            f"version={self.version!r})"
        )


class ArtifactFuture:
    """One output of a submitted step; resolves when the step has finished."""

    __slots__ = ("_handle", "_run", "output_name")

    def __init__(self, run: DynamicRun, handle: InvocationHandle, output_name: str) -> None:
        self._run = run
        self._handle = handle
        self.output_name = output_name

    @property
    def invocation_id(self) -> str:
        return self._handle.invocation_id

    def running(self) -> bool:
        return not self._handle.done

    def wait(self) -> None:
        self._run.wait(self._handle)

    def result(self) -> OutputArtifact:
        self.wait()
        return self._run.output_artifacts(self._handle, [self.output_name])[0]

    def load(self) -> Any:
        self.wait()
        return self._run.load_known(self._handle.outputs[self.output_name])

    def __repr__(self) -> str:
        return f"ArtifactFuture({self.invocation_id!r}, {self.output_name!r})"


class StepFuture:
    """A submitted step: `result()`, `load()`, `wait()`; index or unpack it for its outputs."""

    __slots__ = ("_handle", "_run", "_step")

    def __init__(self, run: DynamicRun, handle: InvocationHandle, step: StepDefinition) -> None:
        self._run = run
        self._handle = handle
        self._step = step

    @property
    def invocation_id(self) -> str:
        return self._handle.invocation_id

    @property
    def output_names(self) -> list[str]:
        return [output.name for output in self._step.outputs]

    def running(self) -> bool:
        return not self._handle.done

    def wait(self) -> None:
        self._run.wait(self._handle)

    def result(self) -> Any:
        """None, one `OutputArtifact`, or a tuple of them (one per output)."""
        self.wait()
        artifacts = self._run.output_artifacts(self._handle, self.output_names)
        if not artifacts:
            return None
        return artifacts[0] if len(artifacts) == 1 else tuple(artifacts)

    artifacts = result

    def load(self) -> Any:
        """The step's value: None, the value, or a tuple of values."""
        self.wait()
        values = [self._run.load_known(self._handle.outputs[name]) for name in self.output_names]
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    def get_artifact(self, key: str) -> ArtifactFuture:
        if key not in self.output_names:
            raise KeyError(
                f"Step {self.invocation_id} does not have an output with the name: {key}."
            )
        return ArtifactFuture(self._run, self._handle, key)

    def __getitem__(self, index: int) -> ArtifactFuture:
        return ArtifactFuture(self._run, self._handle, self.output_names[index])

    def __iter__(self) -> Iterator[ArtifactFuture]:
        if not self.output_names:
            raise ValueError(f"Step {self.invocation_id} does not return any outputs.")
        return (ArtifactFuture(self._run, self._handle, name) for name in self.output_names)

    def __len__(self) -> int:
        return len(self.output_names)

    def __repr__(self) -> str:
        return f"StepFuture({self.invocation_id!r})"


class MapResultsFuture(Sequence[StepFuture]):
    """The branches of a `.map(...)`, in index order; pass it to a `list[T]` input to fan in."""

    def __init__(self, futures: list[StepFuture], group: str) -> None:
        self.futures = futures
        self.group = group

    @property
    def invocation_id(self) -> str:
        return self.group

    def running(self) -> bool:
        return any(future.running() for future in self.futures)

    def wait(self) -> None:
        for future in self.futures:
            future.wait()

    def result(self) -> list[Any]:
        return [future.result() for future in self.futures]

    def load(self) -> list[Any]:
        return [future.load() for future in self.futures]

    def unpack(self) -> tuple[list[ArtifactFuture], ...]:
        """One list per output of a multi-output step: `a, b = step.map(...).unpack()`."""
        if not self.futures:
            return ()
        return tuple(list(column) for column in zip(*self.futures, strict=True))

    def __getitem__(self, index: Any) -> Any:
        return self.futures[index]

    def __len__(self) -> int:
        return len(self.futures)

    def __iter__(self) -> Iterator[StepFuture]:
        return iter(self.futures)

    def __repr__(self) -> str:
        return f"MapResultsFuture({self.group!r}, {len(self.futures)} branches)"


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
        self.handles: list[InvocationHandle] = []
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            from fanflow.client import Client

            self._client = Client(self.settings)
        return self._client

    # --- waiting and loading ------------------------------------------------------------------

    def wait(self, handle: InvocationHandle) -> None:
        self.orchestrator.resolutions.wait(handle)
        if handle.status in ("completed", "cached"):
            return
        inv = self.orchestrator.invocations.get(handle.invocation_id)
        where = f"Step `{handle.invocation_id}`"
        if inv is not None and inv.map_index is not None:
            where += f" (branch {inv.map_index} of map `{inv.map_group}`)"
        if handle.status == "failed":
            error = StepExecutionException(f"{where} failed: {handle.error_text}", handle.error)
            raise error from handle.error
        raise StepExecutionException(f"{where} was not run ({handle.error_text}).", handle.error)

    def load_known(self, known: KnownArtifact) -> Any:
        from fanflow.execution.worker import load_input

        return load_input(known.as_input(), self.orchestrator.artifact_store)

    def output_artifacts(self, handle: InvocationHandle, names: list[str]) -> list[OutputArtifact]:
        ids = [handle.outputs[name].id for name in names]
        records = self.orchestrator.store.get_artifact_versions_by_ids(ids)
        return [
            OutputArtifact(
                ArtifactVersionView(records[av_id], self.client),
                handle.invocation_id,
                name,
                self.orchestrator.run_id,
            )
            for name, av_id in zip(names, ids, strict=True)
        ]

    # --- turning values into references -----------------------------------------------------

    def single_ref(
        self, step: StepDefinition, invocation_id: str, name: str, value: Any
    ) -> OutputRef | ExternalArtifactRef | None:
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
        if isinstance(value, _ItemReference):
            return ExternalArtifactRef(value.artifact_version_id)
        if isinstance(value, OutputArtifact) and value.run_id == self.orchestrator.run_id:
            return OutputRef(value.invocation_id, value.output_name)
        if isinstance(value, ArtifactVersionView):
            return ExternalArtifactRef(value.id.hex)
        if isinstance(value, StepArtifact):
            raise StepInterfaceError(
                f"Step {step.name!r} input {name!r}: got a static pipeline's output handle "
                f"inside a dynamic pipeline."
            )
        return None

    def _prepare(self, value: Any) -> Any:
        return list(value.futures) if isinstance(value, MapResultsFuture) else value

    def _after_ids(self, after: Any) -> list[str]:
        if after is None:
            return []
        items = after if isinstance(after, (list, tuple, set, MapResultsFuture)) else [after]
        ids: list[str] = []
        for item in items:
            if isinstance(item, str):
                if item not in self.ids.taken:
                    raise StepInterfaceError(
                        f"after={item!r} names no step launched so far in this dynamic run."
                    )
                ids.append(item)
            elif isinstance(item, (StepFuture, ArtifactFuture, OutputArtifact)):
                ids.append(item.invocation_id)
            elif isinstance(item, MapResultsFuture):
                ids.extend(future.invocation_id for future in item.futures)
            else:
                raise StepInterfaceError(
                    f"after= takes step ids, futures or outputs, got {item!r}."
                )
        return list(dict.fromkeys(ids))

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
        return Invocation(
            id=invocation_id,
            step=step,
            inputs=frozen_mapping(inputs),
            parameters=frozen_mapping(parameters),
            upstream=tuple(sorted(set(upstream) | set(after))),
            after=tuple(after),
            enable_cache=enable_cache,
            map_group=map_group,
            map_index=map_index,
        )

    def _submit(self, invocations: list[Invocation]) -> list[InvocationHandle]:
        handles = [InvocationHandle(inv.id) for inv in invocations]
        self.handles.extend(handles)
        self.orchestrator.post(("add", invocations, {h.invocation_id: h for h in handles}, {}))
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
        branches = expand(step, mapped, fixed, product=product, max_fan_out=self.max_fan_out)
        group = self.ids.map_group(step.name)
        after_ids = self._after_ids(after)
        invocations = []
        for index, branch_kwargs in enumerate(branches):
            invocation_id = map_branch_id(group, index)
            self.ids.taken.add(invocation_id)
            invocations.append(
                self._invocation(
                    step, invocation_id, branch_kwargs, after_ids, parameter_defaults, group, index
                )
            )
        handles = self._submit(invocations)
        return MapResultsFuture([StepFuture(self, handle, step) for handle in handles], group)

    def _as_sequence(self, step: StepDefinition, name: str, value: Any) -> Sequence[Any] | None:
        """Mapped inputs that are artifacts become per-item references (split by a worker)."""
        if isinstance(value, MapResultsFuture):
            return list(value.futures)
        source = self._known_artifact(value)
        if source is None:
            return None
        request = SplitRequest(source)
        self.orchestrator.post(request)
        self.orchestrator.resolutions.wait(request)
        if request.error is not None:
            raise StepInterfaceError(
                f"Cannot map step {step.name!r} over input {name!r}: {request.error}. Map over "
                "a list, tuple or array, or wrap the input as unmapped(...) to pass it whole."
            ) from request.error
        return [_ItemReference(item.id) for item in request.items]

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
            record = value._record
            item = (
                source_from_metadata(record.uri, record.run_metadata)
                if record.materializer == ITEM_MATERIALIZER
                else None
            )
            return KnownArtifact(
                record.id,
                record.name,
                record.uri,
                record.materializer,
                record.data_type,
                record.content_hash,
                item,
            )
        return None

    # --- the end -------------------------------------------------------------------------------

    def await_all(self) -> None:
        for handle in self.handles:
            self.orchestrator.resolutions.wait(handle)


class _ItemReference:
    """One item of a split sequence artifact, as handed to one branch of a map."""

    __slots__ = ("artifact_version_id",)

    def __init__(self, artifact_version_id: str) -> None:
        self.artifact_version_id = artifact_version_id


def run_dynamic(
    func: Callable[..., Any],
    parameters: dict[str, Any],
    description: RunDescription,
    settings: Settings,
    *,
    unlisted: bool,
    max_fan_out: int | None,
    resume: Any = None,
) -> PipelineRunView:
    """Run a dynamic pipeline function to the end; returns the run or raises RunFailedError.

    Pipeline-level hooks run once for the whole run (after it is recorded), as in ZenML.
    """
    orchestrator = orchestrator_for(description, settings, unlisted, resume)
    run = DynamicRun(
        orchestrator, settings, max_fan_out or DEFAULT_MAX_FAN_OUT, description.options.enable_cache
    )
    thread = orchestrator.start_dynamic()
    cause: BaseException | None = None
    try:
        with graceful_interrupts(orchestrator.interrupt), dynamic_context(run):
            func(**parameters)
            run.await_all()
    except BaseException as exc:
        cause = exc
        orchestrator.post(("stop",))
    finally:
        orchestrator.close_dynamic()
        thread.join()
    if orchestrator.loop_error is not None and cause is None:
        cause = orchestrator.loop_error
    outcome = orchestrator.close(cause)
    options = description.options
    if orchestrator.interrupted or isinstance(cause, KeyboardInterrupt):
        raise stopped_error(outcome.run_name) from None
    failed = outcome.status == "failed"
    first_error = cause or (outcome.failures[0][1] if outcome.failures else None)
    if failed:
        run_hook(options.on_failure, "on_failure", f"run `{outcome.run_name}`", first_error)
    else:
        run_hook(options.on_success, "on_success", f"run `{outcome.run_name}`")
    return finished_run(outcome, settings, cause)
