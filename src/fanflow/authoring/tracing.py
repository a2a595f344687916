"""Tracing a pipeline function into a `PipelineSpec`.

While a pipeline function runs under `tracing(...)`, every step call adds an invocation and
returns `StepArtifact` handles instead of running anything. `Trace.compile` then checks the whole
graph and freezes it. All definition errors surface here, before a run is recorded, each naming
the invocation (and input) at fault.

Invariants:
- invocation ids follow ZenML: the step name, then `name_2`, `name_3`, ...; an explicit `id=`
  that is taken is an error at the call;
- a handle is only valid in the trace that made it;
- literal arguments become parameters only if they fit the input's annotation and can be recorded
  as JSON; defaults of unspecified inputs are recorded too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fanflow.artifacts.json_codec import NotRecordable, to_plain_json
from fanflow.client.views import ArtifactVersionView
from fanflow.exceptions import (
    DuplicateInvocationIdError,
    ForeignHandleError,
    InvalidAfterReferenceError,
    PipelineCycleError,
    PipelineDefinitionError,
    StepInterfaceError,
    StepParameterTypeError,
)
from fanflow.graph import find_cycle
from fanflow.spec import (
    ExternalArtifactRef,
    InputRef,
    Invocation,
    ListRef,
    OutputRef,
    PipelineSpec,
    RunOptions,
    StepDefinition,
    effective_enable_cache,
    frozen_mapping,
)
from fanflow.typecheck import describe, is_list_annotation, mismatch

MAX_ID_SUFFIX = 10_000


class Unmapped:
    """`unmapped(x)`: pass `x` whole to every branch of a `.map(...)` instead of splitting it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"unmapped({self.value!r})"


def unmapped(value: Any) -> Unmapped:
    return Unmapped(value)


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

    def __bool__(self) -> bool:
        raise TypeError(
            f"Output {self.output_name!r} of step {self.invocation_id!r} cannot be used in an "
            "`if` while a static pipeline is being defined; use @pipeline(dynamic=True)."
        )

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
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


def map_branch_id(group: str, index: int) -> str:
    """ZenML's name for the index-th branch of a map: `map:<group>:<index>`."""
    return f"map:{group}:{index}"


class Trace:
    """The invocations recorded while one pipeline function runs."""

    def __init__(self, pipeline_name: str | None) -> None:
        self.pipeline_name = pipeline_name
        self.drafts: dict[str, _Draft] = {}
        self.ids = IdAllocator(pipeline_name)
        self.max_fan_out: int | None = None

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
        inputs, parameters, upstream = self.classify_arguments(
            step, invocation_id, bound, parameter_defaults or {}
        )
        self.drafts[invocation_id] = _Draft(
            id=invocation_id,
            step=step,
            inputs=inputs,
            parameters=parameters,
            after=after_ids(after, self, invocation_id),
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
                    close = _close_matches(target, available, n=1)
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


def _refs(ref: InputRef) -> tuple[OutputRef | ExternalArtifactRef, ...]:
    return ref.items if isinstance(ref, ListRef) else (ref,)


SingleRef = Callable[[StepDefinition, str, str, Any], "OutputRef | ExternalArtifactRef | None"]


def classify_arguments(
    step: StepDefinition,
    invocation_id: str,
    bound: Mapping[str, Any],
    parameter_defaults: Mapping[str, Any],
    single_ref: SingleRef,
) -> tuple[dict[str, InputRef], dict[str, Any], list[str]]:
    """Split a call's arguments into artifact inputs, checked parameters and upstream ids."""
    inputs: dict[str, InputRef] = {}
    parameters: dict[str, Any] = {}
    upstream: list[str] = []
    for signature in step.inputs:
        name = signature.name
        if name in bound:
            value = bound[name]
        elif name in parameter_defaults:
            value = parameter_defaults[name]
        elif not signature.required:
            value = signature.default
        else:
            continue
        if isinstance(value, Unmapped):
            raise StepInterfaceError(
                f"Step {step.name!r} input {name!r}: unmapped(...) only means something in "
                ".map(...) or .product(...); pass the value directly here."
            )
        ref = artifact_ref(step, invocation_id, name, value, signature.annotation, single_ref)
        if ref is not None:
            inputs[name] = ref
            upstream.extend(
                item.invocation_id for item in _refs(ref) if isinstance(item, OutputRef)
            )
            continue
        check_parameter(step, name, value, signature.annotation)
        parameters[name] = value
    missing = [
        s.name
        for s in step.inputs
        if s.required and s.name not in inputs and s.name not in parameters
    ]
    if missing:
        raise StepInterfaceError(
            f"Missing entrypoint input(s) {missing} for step {step.name!r} (invocation "
            f"{invocation_id!r}): pass them as arguments when calling the step."
        )
    return inputs, parameters, list(dict.fromkeys(upstream))


def artifact_ref(
    step: StepDefinition,
    invocation_id: str,
    name: str,
    value: Any,
    annotation: Any,
    single_ref: SingleRef,
) -> InputRef | None:
    """The artifact reference a value stands for, a fan-in list of them, or None (a literal)."""
    single = single_ref(step, invocation_id, name, value)
    if single is not None:
        return single
    if isinstance(value, (list, tuple)) and value:
        refs = [single_ref(step, invocation_id, name, item) for item in value]
        if all(ref is None for ref in refs):
            return None
        if any(ref is None for ref in refs):
            raise StepInterfaceError(
                f"Step {step.name!r} (invocation {invocation_id!r}) input {name!r}: a list "
                "passed to a step must hold only step outputs or only plain values, not a "
                "mix of both."
            )
        if not is_list_annotation(annotation) and describe(annotation) != "Any":
            raise StepInterfaceError(
                f"Step {step.name!r} (invocation {invocation_id!r}) input {name!r} received "
                f"a list of {len(refs)} step outputs but is annotated as "
                f"{describe(annotation)}; annotate it as list[T] to fan in."
            )
        return ListRef(tuple(ref for ref in refs if ref is not None))
    return None


def _close_matches(word: str, candidates: Any, n: int) -> list[str]:
    """Spelling suggestions for error messages (difflib is imported only when one is needed)."""
    import difflib

    return difflib.get_close_matches(word, list(candidates), n=n)


def bind_arguments(
    step: StepDefinition, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    names = [signature.name for signature in step.inputs]
    if len(args) > len(names):
        raise StepInterfaceError(
            f"Wrong arguments when calling step {step.name!r}: it takes {len(names)} input(s) "
            f"({', '.join(names)}) but {len(args)} positional arguments were given."
        )
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            close = _close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise StepInterfaceError(
                f"Wrong arguments when calling step {step.name!r}: it has no input {key!r} "
                f"(its inputs are {names}).{hint}"
            )
        if key in bound:
            raise StepInterfaceError(
                f"Wrong arguments when calling step {step.name!r}: input {key!r} was given both "
                "positionally and by keyword."
            )
        bound[key] = value
    return bound


def check_parameter(step: StepDefinition, name: str, value: Any, annotation: Any) -> None:
    problem = mismatch(value, annotation)
    if problem is not None:
        raise StepParameterTypeError(
            f"Step {step.name!r} input {name!r} expects {describe(annotation)}, but the value "
            f"{_short_repr(value)} does not fit ({problem})."
        )
    if not is_recordable(value):
        raise StepInterfaceError(
            f"Step {step.name!r} input {name!r}: the value {_short_repr(value)} of type "
            f"{type(value).__qualname__} cannot be recorded as a JSON parameter. Produce it in a "
            "step (so it becomes an artifact) or save it with save_artifact() and pass the "
            "artifact version."
        )


def is_recordable(value: Any) -> bool:
    """True when `value` converts to JSON without falling back to its `repr`."""
    try:
        to_plain_json(value, strict=True)
    except NotRecordable:
        return False
    return True


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def after_ids(after: Any, trace: Trace, invocation_id: str) -> list[str]:
    if after is None:
        return []
    items = after if isinstance(after, (list, tuple, set)) else [after]
    ids: list[str] = []
    for item in items:
        if isinstance(item, str):
            ids.append(item)
        elif isinstance(item, StepArtifact):
            if item._trace is not trace:
                raise ForeignHandleError(
                    f"Step invocation {invocation_id!r}: after= received an output of step "
                    f"{item.invocation_id!r} from another pipeline."
                )
            ids.append(item.invocation_id)
        else:
            raise StepInterfaceError(
                f"Step invocation {invocation_id!r}: after= takes step ids or step outputs, got "
                f"{item!r}."
            )
    return list(dict.fromkeys(ids))


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
