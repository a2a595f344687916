"""Binding a step call's arguments to the step's inputs.

Shared by every way a step is called: tracing a static pipeline, a dynamic run, a single-step
call and `.map(...)`. Each caller supplies how it recognises artifact references (a traced
handle, a future, an artifact version); everything else here is the same for all of them.

Invariants:
- a literal becomes a parameter only if it fits the input's annotation and can be recorded as
  JSON; defaults of unspecified inputs are recorded too;
- a list passed to a `list[T]` input holds only artifact references (a fan-in) or only plain
  values, never a mix;
- `after=` takes one item or a list/tuple/set of them; ids come out once each, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from fanflow.artifacts.json_codec import NotRecordable, to_plain_json
from fanflow.exceptions import StepInterfaceError, StepParameterTypeError
from fanflow.spec import ExternalArtifactRef, InputRef, ListRef, OutputRef, StepDefinition
from fanflow.typecheck import describe, is_list_annotation, mismatch, tuple_item_annotations


class Unmapped:
    """`unmapped(x)`: pass `x` whole to every branch of a `.map(...)` instead of splitting it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"unmapped({self.value!r})"


def unmapped(value: Any) -> Unmapped:
    return Unmapped(value)


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
        tuple_args = tuple_item_annotations(annotation)
        if tuple_args is not None:
            if len(tuple_args) != len(refs):
                raise StepInterfaceError(
                    f"Step {step.name!r} (invocation {invocation_id!r}) input {name!r} is "
                    f"annotated as {describe(annotation)} ({len(tuple_args)} elements) but "
                    f"received {len(refs)} step outputs."
                )
        elif not is_list_annotation(annotation) and describe(annotation) != "Any":
            raise StepInterfaceError(
                f"Step {step.name!r} (invocation {invocation_id!r}) input {name!r} received "
                f"a list of {len(refs)} step outputs but is annotated as "
                f"{describe(annotation)}; annotate it as list[T] to fan in."
            )
        return ListRef(tuple(ref for ref in refs if ref is not None))
    return None


def close_matches(word: str, candidates: Any, n: int) -> list[str]:
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
            close = close_matches(key, names, n=1)
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


AfterItem = Callable[[Any], "Sequence[str] | None"]


def after_ids(
    after: Any,
    item_ids: AfterItem,
    *,
    where: str,
    expected: str,
    groups: tuple[type, ...] = (),
) -> list[str]:
    """The invocation ids an `after=` argument names, each once, in order.

    `item_ids` turns one item into its ids (None when the item is not accepted); `groups`
    are extra collection types whose members are items (e.g. a dynamic run's map results).
    """
    if after is None:
        return []
    is_group = isinstance(after, (list, tuple, set, *groups))
    items: Iterable[Any] = cast("Iterable[Any]", after) if is_group else [after]
    ids: list[str] = []
    for item in items:
        found = item_ids(item)
        if found is None:
            raise StepInterfaceError(f"{where}: after= takes {expected}, got {item!r}.")
        ids.extend(found)
    return list(dict.fromkeys(ids))
