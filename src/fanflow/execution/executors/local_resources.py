"""Resources on this machine: what executors that run steps here (threads, processes, inline)
offer to steps that declare `resources=`.

A step's `resources={"GPU": 1}` is a promise that it runs where that much is available. Here
that means `FANFLOW_RESOURCES` declares it; the executor reports those totals as its
`resource_limits`, and the run's scheduler core counts them (`execution/core/resources.py`): it
refuses a step asking for an undeclared resource or more than the total, and holds a step whose
needs do not fit what is free. A cluster executor reports None and lets its workers place steps.
"""

from __future__ import annotations

from fanflow.config import Settings


def offered_by(settings: Settings | None) -> dict[str, float]:
    """What this machine declares (`FANFLOW_RESOURCES`); nothing without settings."""
    return dict(settings.resources) if settings is not None else {}
