"""Resources on this machine: what executors that run steps here (threads, processes, inline)
check before a run starts.

A step's `resources={"GPU": 1}` is a promise that it runs where that much is available. Here
that means `FANFLOW_RESOURCES` declares it; a cluster executor checks its workers instead.
Requests that come from ZenML's `settings={"resources": ResourceSettings(...)}` are checked
only when `FANFLOW_RESOURCES` is set: ZenML's local orchestrator ignores them, so a ZenML
program keeps running here unchanged (a one-time log line says they were not enforced).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from fanflow.config import Settings
from fanflow.exceptions import ResourceUnavailableError
from fanflow.spec import Invocation

logger = logging.getLogger("fanflow")
_announced: set[str] = set()


def offered_by(settings: Settings | None) -> dict[str, float]:
    """What this machine declares (`FANFLOW_RESOURCES`); nothing without settings."""
    return dict(settings.resources) if settings is not None else {}


def check_local_resources(invocations: Iterable[Invocation], offered: Mapping[str, float]) -> None:
    """Refuse a step that asks for a resource this machine does not declare in
    `FANFLOW_RESOURCES`, or more of it than declared, before anything runs."""
    for inv in invocations:
        wanted = inv.step.config.resources
        if wanted and inv.step.config.resources_from_settings and not offered:
            if inv.step.name not in _announced:
                _announced.add(inv.step.name)
                logger.info(
                    "Step %s: resource settings %s are not enforced on this machine "
                    "(FANFLOW_RESOURCES is not set); they apply on a Dask cluster.",
                    inv.step.name,
                    dict(wanted),
                )
            continue
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
