"""Tracing a pipeline function into a `PipelineSpec`.

While a pipeline function runs under `tracing(...)`, every step call adds an invocation and
returns `StepArtifact` handles instead of running anything. `Trace.compile` then checks the whole
graph and freezes it. All definition errors surface here, before a run is recorded, each naming
the invocation (and input) at fault.

Invariants:
- invocation ids follow ZenML: the step name, then `name_2`, `name_3`, ...; an explicit `id=`
  that is taken is an error at the call;
- a handle is only valid in the trace that made it;
- arguments are bound and classified by `binding` (shared with dynamic runs, single-step calls
  and `.map`).
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fanflow.artifacts.external_artifact import ExternalArtifact
from fanflow.authoring.binding import (
    after_ids,
    bind_arguments,
    classify_arguments,
    close_matches,
)
from fanflow.authoring.run_config import StepOverrides
from fanflow.authoring.step_overrides import apply_step_overrides
from fanflow.client.views import ArtifactVersionView
from fanflow.exceptions import (
    DuplicateInvocationIdError,
    ForeignHandleError,
    InvalidAfterReferenceError,
    PipelineCycleError,
    PipelineDefinitionError,
    ReservedInvocationIdError,
    StaticOutputUseError,
    StepInterfaceError,
)
from fanflow.graph import find_cycle
from fanflow.spec import (
    MAP_BRANCH_PREFIX,
    TUPLE_RULE,
    ExternalArtifactRef,
    InputRef,
    Invocation,
    OutputRef,
    PipelineSpec,
    RunOptions,
    StepDefinition,
    effective_enable_cache,
    frozen_mapping,
    split_branch_id,
)

MAX_ID_SUFFIX = 10_000


class StepArtifact:
    """A handle to one output of a step invocation inside a pipeline being traced."""

    __slots__ = ("_trace", "annotation", "invocation_id", "output_name")

    def __init__(self, trace: Trace, invocation_id: str, output_name: str, annotation: Any) -> None:
        self._trace = trace
        self.invocation_id = invocation_id
        self.output_name = output_name
        self.annotation = annotation

    def load(self) -> Any:
        raise RuntimeError(
            f"Output {self.output_name!r} of step {self.invocation_id!r} has no value yet: in a "
            "static pipeline the function only describes the graph. Read the value in a "
            "downstream step, or use @pipeline(dynamic=True) to work with values directly."
        )

    def _no_value_yet(self, use: str) -> StaticOutputUseError:
        return StaticOutputUseError(
            f"Output {self.output_name!r} of step {self.invocation_id!r} cannot be {use} while "
            "a static pipeline is being defined: the function only describes the graph, and the "
            "value exists only once the step has run. Use @pipeline(dynamic=True) and work with "
            "the value (`out.load()`, e.g. `if out.load() > 3:`), or decide inside a step."
        )

    def __bool__(self) -> bool:
        raise self._no_value_yet("used in an `if` (or `and`/`or`/`not`)")

    def __lt__(self, other: Any) -> bool:
        raise self._no_value_yet("compared with `<`")

    def __le__(self, other: Any) -> bool:
        raise self._no_value_yet("compared with `<=`")

    def __gt__(self, other: Any) -> bool:
        raise self._no_value_yet("compared with `>`")

    def __ge__(self, other: Any) -> bool:
        raise self._no_value_yet("compared with `>=`")

    def __eq__(self, other: object) -> bool:
        if other is self or isinstance(other, StepArtifact):
            return other is self
        raise self._no_value_yet("compared with `==`")

    def __ne__(self, other: object) -> bool:
        if other is self or isinstance(other, StepArtifact):
            return other is not self
        raise self._no_value_yet("compared with `!=`")

    __hash__ = object.__hash__

    def __iter__(self) -> Iterator[Any]:
        if typing.get_origin(self.annotation) is tuple:
            raise StaticOutputUseError(
                f"Step {self.invocation_id!r} has a single output {self.output_name!r} (a whole "
                f"tuple), so it cannot be unpacked into several. {TUPLE_RULE} Change the step to "
                "`return first, second` to get one output per element."
            )
        raise StaticOutputUseError(
            f"Output {self.output_name!r} of step {self.invocation_id!r} cannot be iterated while "
            "a static pipeline is being defined; use .map(...) in a dynamic pipeline."
        )

    def __repr__(self) -> str:
        return (
            f"StepArtifact(invocation_id={self.invocation_id!r}, output_name={self.output_name!r})"
        )


@dataclass
class _Draft:
    id: str
    step: StepDefinition
    inputs: dict[str, InputRef]
    parameters: dict[str, Any]
    after: list[str]
    map_group: str | None = None
    map_index: int | None = None
    data_upstream: list[str] = field(default_factory=list)


class IdAllocator:
    """ZenML's invocation ids: the step name, then `name_2`, `name_3`, ...; a taken `id=` is an
    error. Map groups get their own names the same way (`square`, `square_2`)."""

    def __init__(self, pipeline_name: str | None) -> None:
        self.pipeline_name = pipeline_name
        self.taken: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        self._map_groups: set[str] = set()
        # Branch count per dynamic map group: its branch ids are known without a set entry
        # each (a million-branch map would otherwise hold a million strings here).
        self.map_widths: dict[str, int] = {}

    def launched(self, invocation_id: str) -> bool:
        """Whether a step (or map branch) with this id was launched so far."""
        if invocation_id in self.taken:
            return True
        group, index = split_branch_id(invocation_id)
        return group is not None and index < self.map_widths.get(group, 0)

    def allocate(self, base: str, custom: bool) -> str:
        if custom:
            if base in self.taken:
                raise DuplicateInvocationIdError(
                    f"Duplicate step ID `{base}`: another step invocation in pipeline "
                    f"{self.pipeline_name!r} already uses it; choose a unique id=."
                )
            self.taken.add(base)
            return base
        chosen = self._free(base, self.taken)
        self.taken.add(chosen)
        return chosen

    def map_group(self, base: str) -> str:
        chosen = self._free(base, self._map_groups)
        self._map_groups.add(chosen)
        return chosen

    def _free(self, base: str, taken: set[str]) -> str:
        if base not in taken:
            return base
        start = self._next_suffix.get(base, 2)
        for index in itertools.count(start):
            if index > MAX_ID_SUFFIX:
                raise PipelineDefinitionError(f"Unable to find a free step ID for {base!r}.")
            candidate = f"{base}_{index}"
            if candidate not in taken:
                self._next_suffix[base] = index + 1
                return candidate
        raise AssertionError("unreachable")


def check_explicit_id(step_name: str, custom_id: object) -> None:
    """An explicit `id=` may not take the names that `.map(...)` gives its branches, so a step
    called by hand can never collide with (or pass for) a map branch, whichever comes first."""
    if isinstance(custom_id, str) and custom_id.startswith(MAP_BRANCH_PREFIX):
        raise ReservedInvocationIdError(
            f"Step {step_name!r}: id={custom_id!r} is reserved: ids starting with "
            f"{MAP_BRANCH_PREFIX!r} name the branches of .map(...) (`map:<step>:<index>`). "
            "Choose an id without that prefix."
        )


class Trace:
    """The invocations recorded while one pipeline function runs."""

    def __init__(self, pipeline_name: str | None) -> None:
        self.pipeline_name = pipeline_name
        self.drafts: dict[str, _Draft] = {}
        self.ids = IdAllocator(pipeline_name)
        self.max_fan_out: int | None = None
        # Configured values per invocation id (`steps:` of a run configuration).
        self.step_overrides: Mapping[str, StepOverrides] = {}
        # The pipeline's merged `settings` (every step's lowest settings layer).
        self.pipeline_settings: Mapping[str, Any] = {}

    # --- recording ------------------------------------------------------------------------------

    def allocate_id(self, base: str, custom: bool) -> str:
        return self.ids.allocate(base, custom)

    def add_invocation(
        self,
        step: StepDefinition,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        custom_id: str | None,
        after: Any,
        parameter_defaults: Mapping[str, Any] | None = None,
    ) -> Any:
        if custom_id is not None and not isinstance(custom_id, str):
            raise StepInterfaceError(
                f"Step {step.name!r}: id= must be a string, got {custom_id!r}."
            )
        invocation_id = self.allocate_id(custom_id or step.name, custom_id is not None)
        bound = bind_arguments(step, args, kwargs)
        step, configured = apply_step_overrides(
            step,
            invocation_id,
            bound,
            parameter_defaults or {},
            self.step_overrides,
            self.pipeline_settings,
        )
        inputs, parameters, upstream = self.classify_arguments(
            step, invocation_id, bound, configured
        )
        self.drafts[invocation_id] = _Draft(
            id=invocation_id,
            step=step,
            inputs=inputs,
            parameters=parameters,
            after=self._after_ids(after, invocation_id),
            data_upstream=upstream,
        )
        return self.handles_for(step, invocation_id)

    def handles_for(self, step: StepDefinition, invocation_id: str) -> Any:
        handles = [
            StepArtifact(self, invocation_id, output.name, output.annotation)
            for output in step.outputs
        ]
        return handles[0] if len(handles) == 1 else handles

    def classify_arguments(
        self,
        step: StepDefinition,
        invocation_id: str,
        bound: dict[str, Any],
        parameter_defaults: Mapping[str, Any],
    ) -> tuple[dict[str, InputRef], dict[str, Any], list[str]]:
        return classify_arguments(step, invocation_id, bound, parameter_defaults, self._single_ref)

    def _after_ids(self, after: Any, invocation_id: str) -> list[str]:
        def item_ids(item: Any) -> list[str] | None:
            if isinstance(item, str):
                return [item]
            if isinstance(item, StepArtifact):
                if item._trace is not self:
                    raise ForeignHandleError(
                        f"Step invocation {invocation_id!r}: after= received an output of step "
                        f"{item.invocation_id!r} from another pipeline."
                    )
                return [item.invocation_id]
            return None

        return after_ids(
            after,
            item_ids,
            where=f"Step invocation {invocation_id!r}",
            expected="step ids or step outputs",
        )

    def _single_ref(
        self, step: StepDefinition, invocation_id: str, name: str, value: Any
    ) -> OutputRef | ExternalArtifactRef | None:
        if isinstance(value, StepArtifact):
            if value._trace is not self:
                raise ForeignHandleError(
                    f"Step {step.name!r} (invocation {invocation_id!r}) input {name!r} received "
                    f"the output {value.output_name!r} of step {value.invocation_id!r} from "
                    "another pipeline; outputs can only be passed within the pipeline that "
                    "produced them."
                )
            return OutputRef(value.invocation_id, value.output_name)
        if isinstance(value, ArtifactVersionView):
            return ExternalArtifactRef(value.id.hex)
        if isinstance(value, ExternalArtifact):
            # Imported here: tracing a pipeline must not load the database layer.
            from fanflow.authoring.manual_artifacts import upload_external_artifact

            return ExternalArtifactRef(upload_external_artifact(value).id.hex)
        return None

    # --- compiling ---------------------------------------------------------------------------

    def compile(
        self,
        *,
        source: str,
        parameters: Mapping[str, Any],
        options: RunOptions,
        pipeline_enable_cache: bool | None,
    ) -> PipelineSpec:
        if not self.drafts:
            raise PipelineDefinitionError(
                f"Pipeline {self.pipeline_name!r} cannot be compiled because it has no steps: "
                "call at least one @step function inside the pipeline function."
            )
        available = set(self.drafts)
        invalid: dict[str, list[str]] = {}
        for draft in self.drafts.values():
            for target in draft.after:
                if target not in available:
                    invalid.setdefault(draft.id, []).append(target)
        if invalid:
            parts = []
            for inv_id, targets in invalid.items():
                for target in targets:
                    close = close_matches(target, available, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    parts.append(f"{target!r} in after= of step {inv_id!r}{hint}")
            raise InvalidAfterReferenceError(
                f"Invalid upstream steps: {', '.join(parts)}. Available steps in this pipeline: "
                f"{sorted(available)}."
            )
        edges = {
            draft.id: tuple(dict.fromkeys([*draft.data_upstream, *draft.after]))
            for draft in self.drafts.values()
        }
        cycle = find_cycle(edges)
        if cycle:
            raise PipelineCycleError(
                f"Pipeline {self.pipeline_name!r} has a dependency cycle: "
                f"{' -> '.join(cycle)}. Remove one of these after= references."
            )
        invocations = {}
        for draft in self.drafts.values():
            enable_cache = effective_enable_cache(
                draft.step.config.enable_cache, pipeline_enable_cache
            )
            invocations[draft.id] = Invocation(
                id=draft.id,
                step=draft.step,
                inputs=frozen_mapping(draft.inputs),
                parameters=frozen_mapping(draft.parameters),
                upstream=tuple(sorted(edges[draft.id])),
                after=tuple(draft.after),
                enable_cache=enable_cache,
                map_group=draft.map_group,
                map_index=draft.map_index,
            )
        return PipelineSpec(
            name=self.pipeline_name,
            source=source,
            invocations=frozen_mapping(invocations),
            parameters=frozen_mapping(parameters),
            options=options,
        )


_active_trace: ContextVar[Trace | None] = ContextVar("fanflow_active_trace", default=None)
_active_dynamic: ContextVar[Any] = ContextVar("fanflow_active_dynamic_run", default=None)


def active_dynamic_run() -> Any:
    """The dynamic run whose pipeline function is executing in this context, if any."""
    return _active_dynamic.get()


@contextmanager
def dynamic_context(run: Any) -> Iterator[Any]:
    token = _active_dynamic.set(run)
    try:
        yield run
    finally:
        _active_dynamic.reset(token)


def active_trace() -> Trace | None:
    return _active_trace.get()


@contextmanager
def tracing(pipeline_name: str | None) -> Iterator[Trace]:
    trace = Trace(pipeline_name)
    token = _active_trace.set(trace)
    try:
        yield trace
    finally:
        _active_trace.reset(token)
