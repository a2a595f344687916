"""The executor registry: `orchestrator=` names to executor classes, imported only when chosen.

Adding an executor is one class implementing `base.Executor`, one `register_executor(...)` line
(or an entry in `EXECUTORS`) and the conformance suite, which runs every registered name.
"""

from __future__ import annotations

import os
import pkgutil
from collections.abc import Callable

from fanflow.execution.executors.base import Executor, StartListener

__all__ = [
    "EXECUTORS",
    "Executor",
    "StartListener",
    "check_executor_name",
    "default_parallelism",
    "executor_class",
    "register_executor",
]

EXECUTORS: dict[str, str] = {
    "sequential": "fanflow.execution.executors.sequential:SequentialExecutor",
    "local": "fanflow.execution.executors.threads:ThreadExecutor",
    "threads": "fanflow.execution.executors.threads:ThreadExecutor",
    "processes": "fanflow.execution.executors.processes:ProcessExecutor",
}
"""`orchestrator=` name -> `"module:Class"`, resolved with `pkgutil.resolve_name` on use."""


def _thread_default() -> int:
    """Threads run I/O-bound steps side by side, so allow more than one per core, at least 8."""
    return min(32, max(8, 4 * (os.cpu_count() or 1)))


_DEFAULT_PARALLELISM: dict[str, Callable[[], int]] = {
    "sequential": lambda: 1,
    # CPU-bound steps are why one picks processes: one per core.
    "processes": lambda: os.cpu_count() or 1,
}


def register_executor(
    name: str, target: str, *, default_parallelism: Callable[[], int] | None = None
) -> None:
    """Make `orchestrator=name` run on the executor class at `target` ("module:Class").

    `default_parallelism` sizes runs that set no `max_parallelism` (threads' default otherwise).
    """
    if ":" not in target:
        raise ValueError(f"executor target must be 'module:Class', got {target!r}")
    EXECUTORS[name] = target
    if default_parallelism is not None:
        _DEFAULT_PARALLELISM[name] = default_parallelism


register_executor(
    "dask", "fanflow.execution.executors.dask:DaskExecutor", default_parallelism=lambda: 0
)  # 0: as many as the cluster's worker threads (the executor sizes itself)


def check_executor_name(name: str) -> str:
    """`name` if it is registered (nothing is imported); a clear error naming the known ones."""
    if name not in EXECUTORS:
        raise ValueError(
            f"Unknown orchestrator {name!r}; expected one of {', '.join(sorted(EXECUTORS))}."
        )
    return name


def executor_class(name: str) -> type[Executor]:
    """The class registered as `name` (its module is imported now); a clear error otherwise."""
    cls: type[Executor] = pkgutil.resolve_name(EXECUTORS[check_executor_name(name)])
    return cls


def default_parallelism(name: str) -> int:
    """How many bodies run at once on `name` when neither the run nor the settings say."""
    return _DEFAULT_PARALLELISM.get(name, _thread_default)()
