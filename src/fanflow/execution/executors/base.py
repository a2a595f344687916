"""The executor seam: where step code runs, and what the orchestrator may ask of it.

An executor is an object with declared capabilities; the orchestrator reads them and never
probes for methods or branches on executor names. Executors are found by name in the registry
(`fanflow.execution.executors.EXECUTORS`).

Contract (checked by `tests/execution/test_executor_conformance.py` for every registered name):

- constructed as `cls(max_parallelism, settings)`: at most `max_parallelism` bodies run at once;
- `submit(fn, task)` returns a `concurrent.futures.Future` at once (the inline executor excepted,
  which may run `fn(task)` before returning). A failure *of `fn`* is delivered through the future,
  never raised by `submit`. Tasks are picklable plain data; an executor that ships them
  elsewhere pickles them (`ships_functions_by_value`: also the function, by value, with
  cloudpickle, so steps defined in `__main__` or in closures work);
- `cancel(future)`: withdraw a task whose body has not started; True when it will never start;
- `kill(future, error)`: stop a running task's body where the executor can (`can_kill`): its
  future then fails with `error` (or a `TaskKilledError`). Where it cannot (threads), it returns
  False, and the executor stops counting that task against `max_parallelism` (a thread pool
  starts a bounded replacement thread), so a run whose abandoned bodies never return still has
  its slots;
- `shutdown(wait)`: no new work; with `wait=False`, queued work is dropped and nothing is
  waited for;
- **start reports** — `watch_starts(listener)`: the executor calls `listener(future)` once per
  task, from any thread, when the task's body begins (a worker thread or process took it), or
  as near to that as it can tell. The listener is cheap and thread-safe (it puts an event on the
  orchestrator's queue and stamps the time there, so deadlines use one clock even when workers
  are remote). Timeouts count from this report, and the console's "has started" line is printed
  then. A remote executor (Dask) reports when its worker starts the task, e.g. by wrapping `fn`
  so that the worker publishes a small message (a `distributed` `Pub`/`Queue`, or a task-state
  plugin) that a client-side thread turns into `listener(future)`; an executor that cannot tell
  at all reports at submission, which makes timeouts include queueing time.

Capability attributes (class attributes):

- `name`: the registry name;
- `ships_functions_by_value`: tasks and step functions are pickled to another interpreter (so
  they must be picklable; their output goes through that interpreter's stdout);
- `can_kill`: `kill` really stops a body (processes), so timeouts and stops free the worker;
- `is_remote`: workers may run on other hosts: they see none of this machine's paths, only
  what travels in the task (the artifact store's location, never the metadata database).

Sizing (instance attributes, known once the executor exists):

- `max_parallelism`: how many bodies it runs at once. Constructed with `max_parallelism=0`
  (what the registry's `default_parallelism` gives for a cluster executor), the executor sizes
  itself (a Dask cluster: its worker threads) and reports the size here;
- `resource_limits`: the totals of declared resources (`FANFLOW_RESOURCES`) when bodies run
  on this machine: the run's scheduler core then counts `@step(resources=...)` against them
  (a step waits until its amounts are free; one asking for more than the total, or for a
  resource not declared, fails the run before anything runs). None for an executor that places
  steps by resources itself (Dask: worker resources);
- `dispatch_window`: how many tasks the orchestrator may hand over before earlier ones finish
  (more than `max_parallelism`, so each turn of its loop carries more tiny steps; an executor
  that groups tasks on its side, like Dask, asks for more).

Before anything of a batch of invocations runs, the orchestrator calls
`check_shippable(invocations)`: the executor raises a clear error naming the step when it cannot
run one (a function that cannot be pickled for remote workers, `resources=` no worker offers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar, Protocol

from fanflow.config import Settings
from fanflow.spec import Invocation

StartListener = Callable[[Future[Any]], None]


class Executor(Protocol):
    name: ClassVar[str]
    ships_functions_by_value: ClassVar[bool]
    can_kill: ClassVar[bool]
    is_remote: ClassVar[bool]
    max_parallelism: int
    dispatch_window: int
    resource_limits: dict[str, float] | None

    def __init__(self, max_parallelism: int, settings: Settings) -> None: ...

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Future[Any]: ...

    def cancel(self, future: Future[Any]) -> bool: ...

    def kill(self, future: Future[Any], error: BaseException | None = None) -> bool: ...

    def shutdown(self, wait: bool = True) -> None: ...

    def watch_starts(self, listener: StartListener) -> None: ...

    def check_shippable(self, invocations: Sequence[Invocation]) -> None: ...


LOCAL_TASKS_PER_SLOT = 16
"""Tasks handed over per slot of a local pool. Each turn of the orchestrator's loop records the
finishes that came in since the last one in one transaction; with more tasks queued in the pool,
workers stay busy through a longer turn and the next turn has more finishes to batch. On a wide
map of tiny steps, 16 per slot costs 17-20% less CPU per branch than 4; 64 gains nothing more.
A handed-over task is recorded `running` (its real start time is written when it finishes), so
the window is also how many steps a query may see `running` at once."""


def local_dispatch_window(max_parallelism: int) -> int:
    """The window of an executor running bodies here: `LOCAL_TASKS_PER_SLOT` tasks per slot
    (one when bodies run one at a time, so the order of submission stays the order of
    execution)."""
    return max_parallelism * LOCAL_TASKS_PER_SLOT if max_parallelism > 1 else 1
