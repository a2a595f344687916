"""Expanding `step.map(...)` / `step.product(...)` arguments into one argument set per branch.

Every sequence given to a map call is mapped over unless wrapped in `unmapped(...)`; inputs left
out keep their defaults. A mapped input is a sequence (list, tuple, array, a map's results, or —
in dynamic pipelines — a step output holding a list); a literal that is not a sequence (a
scalar, string, bytes, dict) is passed whole to every branch, as ZenML does, exactly as if
wrapped in `unmapped(...)`. A call with no sequence at all is refused, suggesting a list; a step
output that does not hold a sequence is refused too (its value is not a literal). `map` pairs
the i-th items of all mapped inputs (all must have the same length); `product` takes every
combination, in `itertools.product` order. Both check the width against `max_fan_out` before
any branch exists.

Invariants: expansion is O(total width) and never loads an artifact; the caller turns sequence
*artifacts* into per-item references before calling `expand` (so their length is known).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from fanflow.authoring.binding import Unmapped, bind_arguments
from fanflow.exceptions import FanOutLimitError, MapInputError
from fanflow.spec import StepDefinition, map_branch_id

DEFAULT_MAX_FAN_OUT = 1_000_000


def _is_sequence(value: Any) -> bool:
    if isinstance(value, (str, bytes, bytearray, dict, Mapping)):
        return False
    return hasattr(value, "__len__") and hasattr(value, "__getitem__")


def split_map_arguments(
    step: StepDefinition,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    as_sequence: Callable[[str, Any], Sequence[Any] | None] | None = None,
) -> tuple[dict[str, Sequence[Any]], dict[str, Any]]:
    """Separate mapped inputs (as sequences) from unmapped ones (values passed whole)."""
    bound = bind_arguments(step, args, kwargs)
    mapped: dict[str, Sequence[Any]] = {}
    fixed: dict[str, Any] = {}
    broadcast: list[str] = []
    for name, value in bound.items():
        if isinstance(value, Unmapped):
            fixed[name] = value.value
            continue
        sequence = as_sequence(name, value) if as_sequence is not None else None
        if sequence is None:
            if not _is_sequence(value):
                # ZenML passes a literal that is not a sequence to every branch, as unmapped.
                fixed[name] = value
                broadcast.append(name)
                continue
            sequence = value
        mapped[name] = sequence
    if not mapped:
        if broadcast:
            described = ", ".join(
                f"{name!r} (of type {type(bound[name]).__qualname__})" for name in broadcast
            )
            raise MapInputError(
                f"Cannot map step {step.name!r}: no input is a sequence to map over; {described} "
                "is not a sequence. Map over a list (or a step output holding one); other "
                "inputs are passed whole to every branch, as with unmapped(...)."
            )
        raise MapInputError(
            f"Step {step.name!r}: .map()/.product() got nothing to map over; every input is "
            "unmapped(...). Pass at least one sequence, or call the step directly."
        )
    return mapped, fixed


def expand(
    step: StepDefinition,
    mapped: dict[str, Sequence[Any]],
    fixed: dict[str, Any],
    *,
    product: bool,
    max_fan_out: int,
) -> tuple[int, Iterator[dict[str, Any]]]:
    """The keyword arguments of each branch, in branch-index order. The lengths and the width
    are checked now; each branch's arguments are built only when the caller reaches it, so a
    million-branch map never holds a million argument dicts at once. Returns the map's width
    (the number of branches) and the branches' arguments."""
    names = list(mapped)
    lengths = {name: len(mapped[name]) for name in names}
    if product:
        width = 1
        for length in lengths.values():
            width *= length
    else:
        if len(set(lengths.values())) > 1:
            described = ", ".join(f"{name}={length}" for name, length in lengths.items())
            raise MapInputError(
                f"All mapped inputs of step {step.name!r} must have the same length, got "
                f"{described}. Use .product(...) for every combination, or unmapped(...) to pass "
                "an input whole."
            )
        width = next(iter(lengths.values()))
    if width > max_fan_out:
        raise FanOutLimitError(
            f"Mapping step {step.name!r} would create {width} branches, more than max_fan_out="
            f"{max_fan_out}. Raise the limit with @pipeline(max_fan_out=...) if this is intended."
        )
    if product:
        index_sets: Any = itertools.product(*(range(lengths[name]) for name in names))
    else:
        index_sets = ((index,) * len(names) for index in range(width))
    return width, _branches(names, mapped, fixed, index_sets)


def _branches(
    names: list[str],
    mapped: dict[str, Sequence[Any]],
    fixed: dict[str, Any],
    index_sets: Iterator[tuple[int, ...]],
) -> Iterator[dict[str, Any]]:
    for indices in index_sets:
        branch = dict(fixed)
        for name, index in zip(names, indices, strict=True):
            branch[name] = mapped[name][index]
        yield branch


class MapResult(list):  # type: ignore[type-arg]
    """The outputs of a static `.map(...)`: one entry per branch; `.unpack()` splits outputs."""

    def unpack(self) -> tuple[list[Any], ...]:
        if not self:
            return ()
        if not isinstance(self[0], (list, tuple)):
            return (list(self),)
        return tuple(list(column) for column in zip(*self, strict=True))


def trace_map(
    trace: Any,
    step: StepDefinition,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    after: Any,
    product: bool,
    parameter_defaults: Mapping[str, Any],
) -> MapResult:
    """`.map` while a static pipeline is traced: the width must be known now."""
    from fanflow.authoring.tracing import StepArtifact

    def static_sequence(name: str, value: Any) -> Sequence[Any] | None:
        if isinstance(value, StepArtifact):
            raise MapInputError(
                f"Cannot map step {step.name!r} over input {name!r}: it is the output of step "
                f"{value.invocation_id!r}, whose length is only known when the pipeline runs. "
                "Use @pipeline(dynamic=True) to map over step outputs."
            )
        return None

    mapped, fixed = split_map_arguments(step, args, kwargs, as_sequence=static_sequence)
    max_fan_out = trace.max_fan_out or DEFAULT_MAX_FAN_OUT
    _, branches = expand(step, mapped, fixed, product=product, max_fan_out=max_fan_out)
    group = trace.ids.map_group(step.name)
    results = MapResult()
    for index, branch_kwargs in enumerate(branches):
        invocation_id = map_branch_id(group, index)
        handles = trace.add_invocation(
            step,
            (),
            branch_kwargs,
            custom_id=invocation_id,
            after=after,
            parameter_defaults=parameter_defaults,
        )
        draft = trace.drafts[invocation_id]
        draft.map_group = group
        draft.map_index = index
        results.append(handles)
    return results
