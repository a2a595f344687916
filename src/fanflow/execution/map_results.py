"""`MapResults`: what a fan-in step receives from a map that tolerates failed branches.

A map whose step has `allow_failures=True` or `min_success_ratio=r` keeps going when some
branches fail (after their retries). A step that takes the map's outputs as one `list[T]` input
then receives a `MapResults`: a plain `list` of the successful branches' values, in branch index
order, that also tells which branch indices failed.

    @step
    def report(results: list[int]) -> str:
        return f"{len(results)} ok, failed: {results.failed_indices}"

Invariant: `list(results) == results.values`, and `len(results) + len(failed_indices)` is the
number of branches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class MapResults(list):  # type: ignore[type-arg]
    """The successful branches' values (a list), plus `failed_indices` of the others."""

    __slots__ = ("failed_indices",)

    def __init__(self, values: Iterable[Any] = (), failed_indices: Iterable[int] = ()) -> None:
        super().__init__(values)
        self.failed_indices: tuple[int, ...] = tuple(failed_indices)

    @property
    def values(self) -> list[Any]:
        """The successful branches' values as a plain list."""
        return list(self)

    @property
    def total(self) -> int:
        """How many branches the map had."""
        return len(self) + len(self.failed_indices)

    def __reduce__(self) -> tuple[Any, ...]:
        return (MapResults, (list(self), self.failed_indices))

    def __repr__(self) -> str:
        return f"MapResults({list(self)!r}, failed_indices={self.failed_indices!r})"
