"""Executors: where step code runs. Each is just `submit(fn, *args) -> Future`.

The scheduler loop is the same for all of them; only the executor differs. Heavy backends
(processes, Dask) are imported only when chosen.

Invariants:
- `submit` never raises because the *function* failed; failures arrive through the future;
- the inline executor runs the function inside `submit` (the sequential/debug mode), so a
  debugger stops in the caller's thread and the order of execution is the order of submission.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from fanflow.exceptions import ResourceUnavailableError

if TYPE_CHECKING:
    from fanflow.config import Settings
    from fanflow.spec import Invocation


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
    """A pool of daemon threads: steps run side by side in this process (I/O-bound work, C
    extensions that release the GIL).

    Daemon threads, unlike `concurrent.futures.ThreadPoolExecutor`'s, never keep the interpreter
    alive: after a second Ctrl-C (or a timeout) the program can end while an abandoned step is
    still sleeping in its thread.
    """

    def __init__(self, max_workers: int) -> None:
        self._max_workers = max_workers
        self._work: queue.SimpleQueue[
            tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ]
        self._work = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to an executor that was shut down")
            self._work.put((future, fn, args))
            if self._idle == 0 and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._worker, daemon=True, name=f"fanflow-step-{len(self._threads)}"
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1 if self._idle else 0
        return future

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            threads = list(self._threads)
        if not wait:
            while True:  # drop work nobody started
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()


EXECUTORS: dict[str, str] = {
    "dask": "fanflow.execution.executors.dask:DaskExecutor",
}
"""Executors chosen by `orchestrator=` name beyond the built-in ones, as `"module:Class"`;
resolved only when chosen, so a backend's heavy imports cost nothing otherwise. A class takes
`(max_parallelism, settings)`."""


def check_local_resources(invocations: Iterable[Invocation], offered: dict[str, float]) -> None:
    """Threads and processes run on this machine only: refuse a step that asks for a resource
    (`@step(resources=...)`) the machine does not declare in `FANFLOW_RESOURCES`, or more of it
    than declared."""
    for inv in invocations:
        wanted = inv.step.config.resources
        for name, amount in wanted.items():
            if offered.get(name, 0.0) < amount:
                have = f"{offered[name]:g}" if name in offered else "none"
                raise ResourceUnavailableError(
                    f"Step `{inv.id}` asks for resources {dict(wanted)} but this machine "
                    f"declares {name}={have} (FANFLOW_RESOURCES={_format(offered) or 'unset'}). "
                    f"Declare it, e.g. FANFLOW_RESOURCES={name}={amount:g}, or run on a Dask "
                    'cluster whose workers offer it (orchestrator="dask").'
                )


def _format(resources: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in resources.items())


def register_executor(name: str, path: str) -> None:
    """Make `orchestrator=name` run on the executor class at `path` (`"module:Class"`)."""
    EXECUTORS[name] = path


def make_executor(mode: str, max_workers: int, settings: Settings | None = None) -> Executor:
    """`local`: a thread pool; `sequential`: inline, one at a time; `processes`: a pool of worker
    processes (CPU-bound Python steps run truly in parallel; timeouts kill the step); a
    registered name (`dask`): that executor class."""
    if mode == "sequential":
        return InlineExecutor()
    if mode == "local":
        return ThreadExecutor(max_workers)
    if mode == "processes":
        from fanflow.execution.process_pool import ProcessExecutor

        return ProcessExecutor(max_workers)
    if mode in EXECUTORS:
        import pkgutil

        from fanflow.config import load_settings

        cls = pkgutil.resolve_name(EXECUTORS[mode])
        return cls(max_workers, settings or load_settings())  # type: ignore[no-any-return]
    raise ValueError(
        f"Unknown orchestrator mode {mode!r}; expected 'local', 'sequential', 'processes' or "
        f"one of {sorted(EXECUTORS)}."
    )
