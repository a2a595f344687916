"""The thread executor (`local`, `threads`): step bodies run side by side in daemon threads.

Good for I/O-bound steps and C extensions that release the GIL. Daemon threads, unlike
`concurrent.futures.ThreadPoolExecutor`'s, never keep the interpreter alive: after a second
Ctrl-C (or a timeout) the program can end while an abandoned body still sleeps in its thread.

A thread cannot be killed. `kill(future)` on a running body therefore returns False and
*abandons* its thread: the thread no longer counts against `max_parallelism`, so a replacement
thread may start and the run keeps its slots. At most `max_parallelism` abandoned threads exist
at once (so at most twice `max_parallelism` threads in all); beyond that no replacement starts
until an abandoned body returns (its thread then exits).

Invariants: each task's future is settled exactly once; a cancelled future never runs; threads
are started lazily, only when no idle thread is there to take the work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar

from fanflow.config import Settings
from fanflow.execution.executors.base import StartListener, local_dispatch_window
from fanflow.execution.executors.local_resources import offered_by
from fanflow.execution.executors.sequential import run_into
from fanflow.spec import Invocation

_WorkItem = tuple[Future[Any], Callable[[Any], Any], Any]


class ThreadExecutor:
    name: ClassVar[str] = "local"
    ships_functions_by_value: ClassVar[bool] = False
    can_kill: ClassVar[bool] = False
    is_remote: ClassVar[bool] = False

    def __init__(self, max_parallelism: int, settings: Settings | None = None) -> None:
        self._max_workers = max(1, max_parallelism)
        self.max_parallelism = self._max_workers
        self.dispatch_window = local_dispatch_window(self._max_workers)
        self.resource_limits: dict[str, float] | None = offered_by(settings)
        self._work: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._threads = 0  # live threads that count against the limit
        self._idle = 0
        self._all: list[threading.Thread] = []
        self._running: dict[Future[Any], threading.Thread] = {}
        self._abandoned: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self._shutdown = False
        self._listener: StartListener | None = None
        self._names = 0

    def watch_starts(self, listener: StartListener) -> None:
        self._listener = listener

    def check_shippable(self, invocations: Sequence[Invocation]) -> None:
        return None  # bodies run in this process; resources are counted by the run's core

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to an executor that was shut down")
            self._work.put((future, fn, task))
            if self._idle == 0 and self._threads < self._max_workers:
                self._start_thread_locked()
            elif self._idle:
                self._idle -= 1
        return future

    def _start_thread_locked(self) -> None:
        thread = threading.Thread(
            target=self._worker, daemon=True, name=f"fanflow-step-{self._names}"
        )
        self._names += 1
        self._threads += 1
        self._all.append(thread)
        thread.start()

    def _worker(self) -> None:
        me = threading.current_thread()
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, task = item
            ran = future.set_running_or_notify_cancel()
            if ran:
                self._running[future] = me  # one dict store: atomic, no lock on the hot path
                if self._listener is not None:
                    self._listener(future)
                run_into(future, fn, task)
            with self._lock:  # once per task: the orchestrator's `submit` takes it too
                if ran:
                    self._running.pop(future, None)
                    if future in self._abandoned:  # replaced meanwhile: this thread retires
                        self._abandoned.discard(future)
                        return
                self._idle += 1
            # An idle thread holds nothing of the task it ran (its inputs, its result).
            item = future = task = None  # type: ignore[assignment]

    def cancel(self, future: Future[Any]) -> bool:
        return future.cancel()

    def kill(self, future: Future[Any], error: BaseException | None = None) -> bool:
        """Threads cannot be killed: abandon the body's thread and let a replacement start."""
        with self._lock:
            if future not in self._running or future in self._abandoned or future.done():
                return False
            if len(self._abandoned) >= self._max_workers:
                return False  # bounded: the slot comes back when the body returns
            self._abandoned.add(future)
            self._threads -= 1
            if not self._shutdown and self._idle == 0 and not self._work.empty():
                self._start_thread_locked()
        return False

    @property
    def abandoned_count(self) -> int:
        with self._lock:
            return len(self._abandoned)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            threads = self._threads
            abandoned = {self._running.get(future) for future in self._abandoned}
            joinable = [thread for thread in self._all if thread not in abandoned]
        if not wait:
            while True:  # drop work nobody started
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in range(threads):
            self._work.put(None)
        if wait:
            for thread in joinable:
                thread.join()
