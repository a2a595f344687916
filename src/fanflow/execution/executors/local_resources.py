"""Resources on this machine: what executors that run steps here (threads, processes, inline)
offer to steps that declare `resources=`.

A step's `resources={"GPU": 1}` is a promise that it runs where that much is available. Here
that means `FANFLOW_RESOURCES` declares it; the executor reports those totals as its
`resource_limits`, and the run's scheduler core counts them (`execution/core/resources.py`): it
refuses a step asking for an undeclared resource or more than the total, and holds a step whose
needs do not fit what is free. A cluster executor reports None and lets its workers place steps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fanflow.config import Settings

logger = logging.getLogger("fanflow")
_announced: set[str] = set()


def offered_by(settings: Settings | None) -> dict[str, float]:
    """What this machine declares (`FANFLOW_RESOURCES`); nothing without settings."""
    return dict(settings.resources) if settings is not None else {}


def counted_needs(
    step_name: str,
    resources: Mapping[str, float],
    from_settings: bool,
    limits: Mapping[str, float] | None,
) -> tuple[tuple[str, float], ...]:
    """The amounts the scheduler core counts for a step on this machine.

    Requests that come from ZenML's `settings={"resources": ResourceSettings(...)}` count only
    when `FANFLOW_RESOURCES` declares something: ZenML's local orchestrator ignores them, so a
    ZenML program keeps running here unchanged (a one-time log line says they were not
    enforced). `resources=` given to fanflow directly always counts.
    """
    if not resources:
        return ()
    if from_settings and limits is not None and not limits:
        if step_name not in _announced:
            _announced.add(step_name)
            logger.info(
                "Step %s: resource settings %s are not enforced on this machine "
                "(FANFLOW_RESOURCES is not set); they apply on a Dask cluster.",
                step_name,
                dict(resources),
            )
        return ()
    return tuple(sorted(resources.items()))
