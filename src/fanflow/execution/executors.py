"""Executors: where step code runs. Each is just `submit(fn, *args) -> Future`.

The scheduler loop is the same for all of them; only the executor differs. Heavy backends
(processes, Dask) are imported only when chosen.

Invariants:
- `submit` never raises because the *function* failed; failures arrive through the future;
- the inline executor runs the function inside `submit` (the sequential/debug mode), so a
  debugger stops in the caller's thread and the order of execution is the order of submission.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol


class Executor(Protocol):
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]: ...

    def shutdown(self, wait: bool = True) -> None: ...


class InlineExecutor:
    """Runs each function immediately in the calling thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args)
        except BaseException as exc:  # delivered through the future, like a pool would
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True) -> None:
        return None


class ThreadExecutor:
    """A thread pool: steps run side by side in this process (I/O-bound work, C extensions)."""

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fanflow-step")

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self._pool.submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


def make_executor(mode: str, max_workers: int) -> Executor:
    if mode == "sequential":
        return InlineExecutor()
    if mode == "local":
        return ThreadExecutor(max_workers)
    raise ValueError(f"Unknown orchestrator mode {mode!r}; expected 'local' or 'sequential'.")
