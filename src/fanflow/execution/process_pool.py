"""Process execution: long-lived worker processes behind `submit(fn, *args) -> Future`.

Steps that hold the GIL (pure-Python CPU work) only run side by side in separate processes, and
only a process can be killed when a step overruns its timeout. `ProcessExecutor` keeps a small
pool of worker processes, each connected to the parent by its own duplex pipe, and hands each
one task at a time. Tasks and results travel as cloudpickle bytes, so user step functions defined
in `__main__`, inside other functions, lambdas and closures all work.

Invariants:
- at most `max_workers` worker processes exist at any time; a worker that is exiting or being
  killed still counts until it has been reaped, so a replacement never overlaps it;
- a worker runs at most one task; the parent records which (`_Worker.task`). A task's future is
  resolved exactly once, by whoever detaches the task from its worker or from the queue while
  holding the pool's lock (the monitor thread for results and deaths, `kill`, `shutdown`);
- queued tasks are handed out in submission order; a queued future that was cancelled before a
  worker took it never runs; `set_running_or_notify_cancel` is called when a worker takes it;
- one daemon thread per executor (the monitor) is the only reader of the worker pipes and the
  only one that reaps worker processes. It never holds the lock while resolving a future, so
  done-callbacks may call back into the executor;
- workers ignore SIGINT (the orchestrator decides what Ctrl-C means), exit when their pipe
  closes, and exit when the parent process dies even while a task is running;
- workers never re-run the user's main script. Under "spawn" and "forkserver", multiprocessing
  normally tells each child to re-import the parent's `__main__` (as `__mp_main__`), which runs
  a script's top-level code again when it has no `if __name__ == "__main__":` guard. Here the
  parent hides its main module while it starts a worker (`_main_module_hidden`): the child gets
  no main module to import, and functions and classes from `__main__` travel by value with
  cloudpickle instead.

- a worker starts with the parent's environment variables, working directory, `sys.path` and
  stdout/stderr descriptors *as they are when the worker starts* (not as they were when the
  forkserver started); it keeps them for its life, so later changes in the parent reach only
  workers started later. Worker output goes straight to those descriptors, not through the
  parent's `sys.stdout`;
- `kill` and `shutdown(wait=False)` never wait for a stuck task: SIGTERM, then SIGKILL after
  `KILL_GRACE_S` (sent by the monitor thread, so `kill` returns at once).

Default start method: "forkserver" on Linux (forking the orchestrator itself is unsafe: it has
threads; the forkserver makes starting a worker cheap), "spawn" elsewhere. "fork" may be asked
for, at the caller's risk.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import types
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, ClassVar

import cloudpickle

from fanflow.execution.executors.base import local_dispatch_window
from fanflow.execution.executors.local_resources import offered_by
from fanflow.execution.process_worker import (
    EXIT_MESSAGE,
    PICKLE_PROTOCOL,
    InheritFd,
    RemoteTaskError,
    RemoteTraceback,
    TaskKilledError,
    WorkerDiedError,
    worker_main,
)
from fanflow.spec import Invocation

__all__ = [
    "EXIT_GRACE_S",
    "KILL_GRACE_S",
    "ProcessExecutor",
    "RemoteTaskError",
    "TaskKilledError",
    "WorkerDiedError",
    "default_start_method",
]

logger = logging.getLogger("fanflow")

KILL_GRACE_S = 0.5
"""How long a worker gets between SIGTERM and SIGKILL."""

EXIT_GRACE_S = 5.0
"""How long an idle worker that was told to exit may take before it is terminated."""

_SEND_ATTEMPTS = 3  # a task whose worker vanishes before receiving it is handed out again


_MAIN_SWAP_LOCK = threading.Lock()
_MAIN_FILE_ATTRS = ("__file__", "__cached__", "__spec__", "__loader__")


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a worker starts, `sys.modules["__main__"]` is a copy of the main module's namespace
    without `__file__` and `__spec__`.

    multiprocessing reads those two to tell a spawned or forkserver child to import the main
    script again (`spawn.get_preparation_data`); without them the child imports nothing of the
    user's. The copy (not an empty module) keeps lookups by other threads of this process
    working during the few milliseconds of the swap.
    """
    main = sys.modules.get("__main__")
    if main is None or all(getattr(main, attr, None) is None for attr in ("__file__", "__spec__")):
        yield
        return
    stand_in = types.ModuleType("__main__")
    namespace = {k: v for k, v in vars(main).items() if k not in _MAIN_FILE_ATTRS}
    stand_in.__dict__.update(namespace)
    stand_in.__spec__ = None
    with _MAIN_SWAP_LOCK:
        sys.modules["__main__"] = stand_in
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def _parent_stdio() -> list[InheritFd | int]:
    handles: list[InheritFd | int] = []
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:  # closed: the worker keeps what it has
            handles.append(fd)
        else:
            handles.append(InheritFd(fd))
    return handles


def default_start_method() -> str:
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


# --- the parent: bookkeeping -----------------------------------------------------------------


class _Task:
    __slots__ = ("future", "payload", "send_attempts", "started", "worker")

    def __init__(self, future: Future[Any], payload: bytes) -> None:
        self.future = future
        self.payload = payload
        self.started = False  # set_running_or_notify_cancel was called
        self.worker: _Worker | None = None  # None while queued
        self.send_attempts = 0


class _Worker:
    __slots__ = (
        "conn",
        "escalate_at",
        "pid",
        "process",
        "readable",
        "reaped",
        "retiring",
        "signalled",
        "task",
    )

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn  # the parent's end
        self.pid: int = process.pid or -1
        self.task: _Task | None = None
        self.retiring = False  # gets no more tasks (told to exit, or being killed)
        self.readable = True  # False once the pipe reported EOF
        self.escalate_at: float | None = None  # when to send the next, harsher signal
        self.signalled = 0  # strongest signal sent: 0 none, 1 SIGTERM, 2 SIGKILL
        self.reaped = False


class _Outbox:
    """What a locked section decided and the caller does after releasing the lock: sending
    bytes may block, and resolving a future runs its callbacks."""

    __slots__ = ("cancel", "sends", "settle")

    def __init__(self) -> None:
        self.sends: list[tuple[_Worker, _Task]] = []
        self.settle: list[tuple[Future[Any], BaseException]] = []
        self.cancel: list[Future[Any]] = []


def _settle(future: Future[Any], error: BaseException | None = None, result: Any = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # resolved by its owner meanwhile; nothing left to tell
        pass


def _cancel(future: Future[Any]) -> None:
    """Cancel a future taken out of the queue. Notifying it as well matters: a merely cancelled
    future is never reported done by `concurrent.futures.wait` or `as_completed`."""
    if future.cancel():
        future.set_running_or_notify_cancel()


def _describe_exit(pid: int, code: int | None) -> str:
    text = f"worker process {pid} exited with code {code} while running the task"
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the out-of-memory killer sends it)" if -code == signal.SIGKILL else ""
        text += f"; it was killed by {name}{hint}"
    return text


class _Pool:
    """The state behind a `ProcessExecutor`. Separate from it so the monitor thread does not
    keep the executor alive: a forgotten executor is collected and its workers retire."""

    def __init__(self, max_workers: int, context: BaseContext) -> None:
        self._max_workers = max_workers
        self._ctx = context
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []  # not yet reaped
        self._idle: list[_Worker] = []
        self._queue: deque[_Task] = deque()
        self._tasks: dict[Future[Any], _Task] = {}  # queued or running
        self._shutdown = False
        self._thread: threading.Thread | None = None
        self._counter = itertools.count()
        self.start_listener: Callable[[Future[Any]], None] | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        # The pipe is closed only when nobody can write to it any more.
        weakref.finalize(self, _close_fds, self._wake_r, self._wake_w).atexit = False
        _live_pools.add(self)

    # --- called by the executor's users ------------------------------------------------------

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            payload = cloudpickle.dumps((fn, args, kwargs), protocol=PICKLE_PROTOCOL)
        except Exception as exc:
            name = getattr(fn, "__qualname__", repr(fn))
            error = TypeError(
                f"Cannot send {name} to a worker process: the function or its arguments cannot "
                f"be pickled ({type(exc).__name__}: {exc})."
            )
            error.__cause__ = exc
            with self._lock:
                self._check_open()
            future.set_running_or_notify_cancel()
            future.set_exception(error)
            return future
        task = _Task(future, payload)
        with self._lock:
            self._check_open()
            self._tasks[future] = task
            self._queue.append(task)
            outbox = self._dispatch_locked()
        self._deliver(outbox)
        return future

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot submit to an executor that was shut down")

    def kill(self, future: Future[Any], error: BaseException | None) -> bool:
        with self._lock:
            task = self._tasks.get(future)
            if task is None or future.done():
                return False
            del self._tasks[future]
            worker = task.worker
            if worker is None:  # queued
                with contextlib.suppress(ValueError):
                    self._queue.remove(task)
            else:
                worker.task = None
                task.worker = None
                self._terminate_locked(worker)
                self._wake()
        if worker is None and not task.started:
            _cancel(future)  # outside the lock: it runs the future's callbacks
            return True
        if error is None:
            pid = worker.pid if worker is not None else None
            error = TaskKilledError(f"the task was killed (worker process {pid} terminated)")
        _settle(future, error)
        return True

    def shutdown(self, wait: bool, cancel_futures: bool) -> None:
        outbox = _Outbox()
        with self._lock:
            self._shutdown = True
            if cancel_futures or not wait:
                self._drop_queue_locked(outbox, "the executor was shut down before it started")
            if not wait:
                for worker in self._workers:
                    task = worker.task
                    if task is not None:
                        worker.task = task.worker = None
                        self._tasks.pop(task.future, None)
                        outbox.settle.append(
                            (
                                task.future,
                                TaskKilledError(
                                    f"the executor was shut down without waiting; worker process "
                                    f"{worker.pid} running the task was terminated"
                                ),
                            )
                        )
                    self._terminate_locked(worker)
                self._idle.clear()
            thread = self._thread
            self._wake()
        self._deliver(outbox)
        if thread is None or thread is threading.current_thread():
            return
        if wait:
            thread.join()
            return
        thread.join(KILL_GRACE_S + 2.0)
        if thread.is_alive():  # the monitor is stuck (in a done-callback?): make sure they die
            with self._lock:
                for worker in self._workers:
                    self._signal_locked(worker, signal.SIGKILL)

    def close_soon(self) -> None:
        """The executor was garbage-collected: accept nothing more and let the workers exit
        once the work they have is done. Takes no lock: it may run inside a locked section."""
        self._shutdown = True
        self._wake()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers]

    # --- locked helpers ----------------------------------------------------------------------

    def _dispatch_locked(self, outbox: _Outbox | None = None) -> _Outbox:
        """Hand queued tasks to idle workers, starting workers up to the limit."""
        outbox = outbox or _Outbox()
        while self._queue:
            head = self._queue[0]
            if head.future.cancelled():  # cancelled by its owner while queued
                self._queue.popleft()
                self._tasks.pop(head.future, None)
                head.future.set_running_or_notify_cancel()  # tells `wait`/`as_completed`
                continue
            if self._idle:
                worker = self._idle.pop()
            elif len(self._workers) < self._max_workers:
                try:
                    worker = self._start_worker_locked()
                except Exception as exc:
                    self._queue.popleft()
                    self._tasks.pop(head.future, None)
                    error = RuntimeError(f"Could not start a worker process: {exc}")
                    error.__cause__ = exc
                    outbox.settle.append((head.future, error))
                    continue
            else:
                break
            task = self._queue.popleft()
            if not task.started:
                if not task.future.set_running_or_notify_cancel():
                    self._tasks.pop(task.future, None)
                    self._idle.append(worker)
                    continue
                task.started = True
            worker.task = task
            task.worker = worker
            outbox.sends.append((worker, task))
        return outbox

    def _start_worker_locked(self) -> _Worker:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=worker_main,
            args=(child_end, dict(os.environ), *_parent_stdio()),
            name=f"fanflow-worker-{next(self._counter)}",
            daemon=False,  # a daemon process may not start processes, and steps may want to
        )
        try:
            with _main_module_hidden():
                process.start()
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        worker = _Worker(process, parent_end)
        self._workers.append(worker)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._monitor, name="fanflow-process-pool", daemon=True
            )
            self._thread.start()
        self._wake()  # the monitor must watch the new pipe
        return worker

    def _drop_queue_locked(self, outbox: _Outbox, why: str) -> None:
        for task in self._queue:
            self._tasks.pop(task.future, None)
            if task.started:  # handed out once, then its worker vanished before receiving it
                outbox.settle.append((task.future, TaskKilledError(why)))
            else:
                outbox.cancel.append(task.future)
        self._queue.clear()

    def _terminate_locked(self, worker: _Worker) -> None:
        """SIGTERM now; the monitor sends SIGKILL if the worker is still there after the grace."""
        worker.retiring = True
        if worker in self._idle:
            self._idle.remove(worker)
        if worker.signalled < 1:
            self._signal_locked(worker, signal.SIGTERM)
            worker.escalate_at = time.monotonic() + KILL_GRACE_S

    def _signal_locked(self, worker: _Worker, sig: int) -> None:
        if worker.reaped:
            return
        # A forkserver child is reaped by the forkserver as soon as it exits, so its pid may be
        # reused: signal only a worker whose exit has not been reported yet.
        if wait([worker.process.sentinel], 0):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, sig)
        worker.signalled = max(worker.signalled, 2 if sig == signal.SIGKILL else 1)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # --- outside the lock --------------------------------------------------------------------

    def _deliver(self, outbox: _Outbox) -> None:
        for worker, task in outbox.sends:
            if self.start_listener is not None:  # before sending: the answer may come at once
                self.start_listener(task.future)
            self._send(worker, task)
        for future in outbox.cancel:
            _cancel(future)
        for future, error in outbox.settle:
            _settle(future, error)

    def _send(self, worker: _Worker, task: _Task) -> None:
        try:
            worker.conn.send_bytes(task.payload)
            return
        except (OSError, ValueError):  # the worker died before it could take the task
            pass
        with self._lock:
            if worker.task is not task:  # killed meanwhile
                return
            worker.task = task.worker = None
            self._terminate_locked(worker)  # broken pipe: whatever is left of it must go
            task.send_attempts += 1
            if task.send_attempts < _SEND_ATTEMPTS:
                self._queue.appendleft(task)
                outbox = self._dispatch_locked()
            else:
                self._tasks.pop(task.future, None)
                outbox = _Outbox()
                error = WorkerDiedError(
                    f"{_SEND_ATTEMPTS} worker processes in a row exited before they could "
                    "receive the task"
                )
                outbox.settle.append((task.future, error))
        self._deliver(outbox)

    # --- the monitor thread ------------------------------------------------------------------

    def _monitor(self) -> None:
        """Wait on every worker's pipe and process sentinel; resolve futures, reap workers,
        escalate signals, retire idle workers after shutdown."""
        try:
            while self._monitor_step():
                pass
        except BaseException as exc:  # a bug here must not leave futures hanging forever
            logger.exception("The process pool's monitor thread failed.")
            self._break(exc)

    def _monitor_step(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._shutdown and not self._queue:
                self._retire_idle_locked(now)
            if self._shutdown and not self._workers and not self._queue:
                return False
            conns: dict[Any, _Worker] = {w.conn: w for w in self._workers if w.readable}
            sentinels: dict[Any, _Worker] = {w.process.sentinel: w for w in self._workers}
            deadlines = [w.escalate_at for w in self._workers if w.escalate_at is not None]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        ready = wait([self._wake_r, *conns, *sentinels], timeout)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError, OSError):
                while os.read(self._wake_r, 4096):
                    pass
        for obj in ready:
            worker = conns.get(obj)
            if worker is not None:
                self._receive(worker)
        for obj in ready:
            worker = sentinels.get(obj)
            if worker is not None:
                self._reap(worker)
        self._escalate()
        return True

    def _receive(self, worker: _Worker) -> None:
        try:
            data = worker.conn.recv_bytes()
        except (EOFError, OSError):
            worker.readable = False  # gone; its sentinel tells how it ended
            return
        with self._lock:
            task = worker.task
            if task is None:  # the answer of a killed task: ignored
                return
            worker.task = task.worker = None
            self._tasks.pop(task.future, None)
            if not worker.retiring:
                self._idle.append(worker)
            outbox = self._dispatch_locked()
        self._deliver(outbox)  # the next task first: keep the worker busy
        _resolve(task.future, data)

    def _reap(self, worker: _Worker) -> None:
        with self._lock:  # no new task for it while its last answer is read
            worker.retiring = True
            if worker in self._idle:
                self._idle.remove(worker)
        while worker.readable:  # an answer sent just before the end still counts
            try:
                if not worker.conn.poll(0):
                    break
            except (EOFError, OSError):
                break
            self._receive(worker)
        worker.process.join(1.0)
        if worker.process.exitcode is None:  # sentinel ready but still running: be sure
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
            worker.process.join()
        code = worker.process.exitcode
        with self._lock:
            worker.reaped = True
            self._workers.remove(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            task = worker.task
            worker.task = None
            if task is not None:
                task.worker = None
                self._tasks.pop(task.future, None)
            outbox = self._dispatch_locked()  # a replacement for queued work
        worker.conn.close()
        with contextlib.suppress(Exception):
            worker.process.close()
        if task is not None:
            error = WorkerDiedError(_describe_exit(worker.pid, code))
            error.pid, error.exitcode = worker.pid, code
            outbox.settle.append((task.future, error))
        self._deliver(outbox)

    def _escalate(self) -> None:
        now = time.monotonic()
        with self._lock:
            for worker in self._workers:
                if worker.escalate_at is None or now < worker.escalate_at:
                    continue
                if worker.signalled < 1:
                    self._signal_locked(worker, signal.SIGTERM)
                    worker.escalate_at = now + KILL_GRACE_S
                else:
                    self._signal_locked(worker, signal.SIGKILL)
                    worker.escalate_at = None

    def _retire_idle_locked(self, now: float) -> None:
        for worker in self._idle:
            worker.retiring = True
            worker.escalate_at = now + EXIT_GRACE_S
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send_bytes(EXIT_MESSAGE)
        self._idle.clear()

    def _break(self, exc: BaseException) -> None:
        outbox = _Outbox()
        with self._lock:
            self._shutdown = True
            self._drop_queue_locked(outbox, "the process pool failed")
            for worker in self._workers:
                if worker.task is not None:
                    error = RuntimeError(f"The process pool failed: {type(exc).__name__}: {exc}")
                    outbox.settle.append((worker.task.future, error))
                    worker.task = None
                self._signal_locked(worker, signal.SIGKILL)
            self._tasks.clear()
            self._idle.clear()
        self._deliver(outbox)


def _resolve(future: Future[Any], data: bytes) -> None:
    try:
        ok, value, text = pickle.loads(data)
    except BaseException as exc:
        error = RuntimeError(
            "The task's answer from the worker process cannot be unpickled here: "
            f"{type(exc).__name__}: {exc}"
        )
        error.__cause__ = exc
        _settle(future, error)
        return
    if ok:
        _settle(future, result=value)
        return
    if not isinstance(value, BaseException):
        value = RuntimeError(f"The worker sent a malformed error: {value!r}")
    if value.__cause__ is None and text:
        value.__cause__ = RemoteTraceback(text)
    _settle(future, value)


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


_live_pools: weakref.WeakSet[_Pool] = weakref.WeakSet()


@atexit.register
def _terminate_live_pools() -> None:
    """At interpreter exit, kill what forgotten executors still run.

    Registered after multiprocessing's own exit handler (imported above), so it runs before it:
    that one joins non-daemon children, which would wait forever for an idle worker.
    """
    for pool in list(_live_pools):
        with contextlib.suppress(Exception):
            pool.shutdown(wait=False, cancel_futures=True)


# --- the public face -------------------------------------------------------------------------


class ProcessExecutor:
    """Runs each submitted function in one of at most `max_workers` long-lived worker processes.

    Workers start on demand (the first submissions) and are reused; the per-task cost is two
    pipe messages and a pickle each way. A task that overruns can be `kill`ed: unlike a thread,
    its process really stops. Implements the executor seam (`executors/base.py`); a start is
    reported when a task is handed to an idle worker, which begins it at once.
    """

    name: ClassVar[str] = "processes"
    ships_functions_by_value: ClassVar[bool] = True
    can_kill: ClassVar[bool] = True
    is_remote: ClassVar[bool] = False

    def __init__(
        self, max_workers: int, settings: Any = None, *, start_method: str | None = None
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self._start_method = start_method or default_start_method()
        context = multiprocessing.get_context(self._start_method)
        self._pool = _Pool(max_workers, context)
        self.max_workers = max_workers
        self.max_parallelism = max_workers
        self.dispatch_window = local_dispatch_window(max_workers)
        self.resource_limits: dict[str, float] | None = offered_by(settings)
        # Garbage-collected without shutdown: the workers exit once idle (atexit kills them).
        self._finalizer = weakref.finalize(self, self._pool.close_soon)
        self._finalizer.atexit = False

    @property
    def start_method(self) -> str:
        return self._start_method

    @property
    def worker_pids(self) -> list[int]:
        """Pids of the worker processes that exist now (including ones being retired)."""
        return self._pool.worker_pids()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `fn(*args, **kwargs)` in a worker; the future resolves with its result or error.

        Raises only when the executor was shut down. A function or arguments that cannot be
        pickled give a future failed with `TypeError`.
        """
        return self._pool.submit(fn, args, kwargs)

    def watch_starts(self, listener: Callable[[Future[Any]], None]) -> None:
        self._pool.start_listener = listener

    def check_shippable(self, invocations: Sequence[Invocation]) -> None:
        """Nothing to check: a body that cannot be pickled fails through its future, naming
        the step; declared resources are counted against `FANFLOW_RESOURCES` by the run's
        core (`resource_limits`)."""

    def cancel(self, future: Future[Any]) -> bool:
        """Withdraw a queued task (True); a task a worker already has is not touched."""
        return future.cancel()

    def kill(self, future: Future[Any], error: BaseException | None = None) -> bool:
        """Stop the task behind `future` now.

        Running: its worker gets SIGTERM (SIGKILL after `KILL_GRACE_S`), the future fails with
        `error` (default `TaskKilledError`), and a replacement worker starts when work needs it.
        Queued: it is cancelled. Returns False when the future is already done (or unknown).
        Does not wait for the process to be gone.
        """
        return self._pool.kill(future, error)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Accept no more work; idempotent.

        `wait=True`: queued (unless `cancel_futures`) and running tasks finish, then the
        workers exit and are joined. `wait=False`: queued tasks are cancelled, running ones fail
        with `TaskKilledError` and their workers are terminated; returns within about
        `KILL_GRACE_S` even when a task ignores SIGTERM, with the workers gone. (Unlike
        `concurrent.futures`, and like `ThreadExecutor`, `wait=False` drops queued work.)
        Called from a done-callback, which runs in the monitor thread, it cannot wait.
        """
        self._pool.shutdown(wait, cancel_futures)

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True)
