"""Declared resources as counting limits: the local half of `@step(resources={"GPU": 1})`.

On a Dask cluster the scheduler places a step on a worker that offers its resources. Steps run
on this machine (threads, processes, inline) have no such scheduler, so the run's scheduler
core counts instead: `FANFLOW_RESOURCES=GPU=2` is the machine's total, a step holds its
declared amounts from dispatch until it ends, and a ready step whose needs do not fit the free
amounts waits (held aside, still READY) while steps that fit go ahead.

Pure: no clock, no threads. A request that could never fit (a resource the machine does not
declare, or more than its total) is refused when the step joins the run, before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from fanflow.exceptions import ResourceUnavailableError

Needs = tuple[tuple[str, float], ...]
"""A step's declared resources as sorted (name, amount) pairs."""

_EPS = 1e-9


def declared_text(limits: Mapping[str, float]) -> str:
    """`FANFLOW_RESOURCES` as the user would have written it ("unset" when empty)."""
    return ",".join(f"{name}={amount:g}" for name, amount in limits.items()) or "unset"


class ResourcePool:
    """Free amounts of each declared resource on this machine."""

    __slots__ = ("free", "limits")

    def __init__(self, limits: Mapping[str, float]) -> None:
        self.limits = dict(limits)
        self.free = dict(limits)

    def problem(self, node: str, step: str, needs: Needs) -> ResourceUnavailableError | None:
        """Why `needs` can never fit on this machine, naming the step and `FANFLOW_RESOURCES`;
        None when it fits the totals."""
        for name, amount in needs:
            total = self.limits.get(name)
            if total is not None and amount <= total + _EPS:
                continue
            wanted = {k: v for k, v in needs}
            declared = declared_text(self.limits)
            who = f"Step `{node}`" if node == step else f"Step `{node}` (of `{step}`)"
            if total is None:
                return ResourceUnavailableError(
                    f"{who} asks for resources {wanted} but this machine declares "
                    f"{name}=none (FANFLOW_RESOURCES={declared}). Declare it, e.g. "
                    f"FANFLOW_RESOURCES={name}={amount:g}, or run on a Dask cluster whose "
                    'workers offer it (orchestrator="dask").'
                )
            return ResourceUnavailableError(
                f"{who} asks for {name}={amount:g} but this machine declares only "
                f"{name}={total:g} in all (FANFLOW_RESOURCES={declared}), so it could never "
                f"start. Raise FANFLOW_RESOURCES or lower the step's resources=."
            )
        return None

    def fits(self, needs: Needs, free: Mapping[str, float] | None = None) -> bool:
        pool = self.free if free is None else free
        return all(pool.get(name, 0.0) + _EPS >= amount for name, amount in needs)

    def take(self, needs: Needs) -> None:
        for name, amount in needs:
            self.free[name] -= amount

    def give(self, needs: Needs) -> None:
        for name, amount in needs:
            self.free[name] = min(self.limits[name], self.free[name] + amount)

    def exhausted(self, free: Mapping[str, float], names: list[str]) -> bool:
        """Nothing is left in `free` of the resources `names` (those just released: a held
        step that did not fit before can only fit now thanks to them)."""
        return all(free[name] <= _EPS for name in names)
