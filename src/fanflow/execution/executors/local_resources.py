"""Resources on this machine: what executors that run steps here (threads, processes, inline)
check before a run starts.

A step's `resources={"GPU": 1}` is a promise that it runs where that much is available. Here
that means `FANFLOW_RESOURCES` declares it; a cluster executor checks its workers instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fanflow.config import Settings
from fanflow.exceptions import ResourceUnavailableError
from fanflow.spec import Invocation


def offered_by(settings: Settings | None) -> dict[str, float]:
    """What this machine declares (`FANFLOW_RESOURCES`); nothing without settings."""
    return dict(settings.resources) if settings is not None else {}


def check_local_resources(invocations: Iterable[Invocation], offered: Mapping[str, float]) -> None:
    """Refuse a step that asks for a resource this machine does not declare in
    `FANFLOW_RESOURCES`, or more of it than declared, before anything runs."""
    for inv in invocations:
        wanted = inv.step.config.resources
        for name, amount in wanted.items():
            if offered.get(name, 0.0) < amount:
                have = f"{offered[name]:g}" if name in offered else "none"
                declared = ",".join(f"{k}={v:g}" for k, v in offered.items()) or "unset"
                raise ResourceUnavailableError(
                    f"Step `{inv.id}` asks for resources {dict(wanted)} but this machine "
                    f"declares {name}={have} (FANFLOW_RESOURCES={declared}). "
                    f"Declare it, e.g. FANFLOW_RESOURCES={name}={amount:g}, or run on a Dask "
                    'cluster whose workers offer it (orchestrator="dask").'
                )
