"""The sequential executor: each body runs in the caller's thread, one at a time.

It is the debugging mode: a breakpoint in a step stops in the orchestrator's thread, and steps
run in submission order. A task with a `timeout` runs in a helper thread instead, so the
orchestrator can give up on it at its deadline (the helper is abandoned, as in the thread pool).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar

from fanflow.config import Settings
from fanflow.execution.executors.base import StartListener
from fanflow.execution.executors.local_resources import offered_by
from fanflow.spec import Invocation


def run_into(future: Future[Any], fn: Callable[[Any], Any], task: Any) -> None:
    """Run `fn(task)` and settle `future` with its result or exception (never raises)."""
    try:
        result = fn(task)
    except BaseException as exc:  # delivered through the future, like a pool would
        future.set_exception(exc)
    else:
        future.set_result(result)


class SequentialExecutor:
    name: ClassVar[str] = "sequential"
    ships_functions_by_value: ClassVar[bool] = False
    can_kill: ClassVar[bool] = False
    is_remote: ClassVar[bool] = False

    def __init__(self, max_parallelism: int = 1, settings: Settings | None = None) -> None:
        self._listener: StartListener | None = None
        self.max_parallelism = 1
        self.dispatch_window = 1
        self.resource_limits: dict[str, float] | None = offered_by(settings)

    def check_shippable(self, invocations: Sequence[Invocation]) -> None:
        return None  # bodies run in this process; resources are counted by the run's core

    def watch_starts(self, listener: StartListener) -> None:
        self._listener = listener

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        if getattr(task, "timeout", None) is None:
            if self._listener is not None:
                self._listener(future)
            run_into(future, fn, task)
            return future

        def helper() -> None:
            if self._listener is not None:
                self._listener(future)
            run_into(future, fn, task)

        threading.Thread(target=helper, daemon=True, name="fanflow-step-timed").start()
        return future

    def cancel(self, future: Future[Any]) -> bool:
        return future.cancel()

    def kill(self, future: Future[Any], error: BaseException | None = None) -> bool:
        return False

    def shutdown(self, wait: bool = True) -> None:
        return None
