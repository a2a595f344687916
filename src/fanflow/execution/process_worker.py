"""The worker-process side of `ProcessExecutor`: what runs inside each worker.

A worker takes the parent's environment and output descriptors, ignores SIGINT, watches its
parent, and then answers one task at a time on its pipe: cloudpickled `(fn, args, kwargs)` in,
cloudpickled result or error out. An error that cannot travel back comes back as
`RemoteTaskError` with its type name, message and traceback.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from multiprocessing import reduction
from multiprocessing.connection import Connection, wait
from typing import Any

import cloudpickle

from fanflow.exceptions import FanflowError

EXIT_MESSAGE = b""  # message to an idle worker: exit now
PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


class WorkerDiedError(FanflowError, RuntimeError):
    """The worker process running a task exited before answering (a segfault, `os._exit`, the
    out-of-memory killer). `pid` and `exitcode` say which process and how it ended."""

    pid: int | None = None
    exitcode: int | None = None


class TaskKilledError(FanflowError, RuntimeError):
    """The task's worker process was terminated on purpose: `kill` without an error of its own,
    or `shutdown(wait=False)` while the task was running."""


class RemoteTaskError(FanflowError, RuntimeError):
    """Stands in for an exception raised in a worker that could not be sent back (it, or
    something it holds, cannot be pickled or unpickled). Carries what a reader needs."""

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        super().__init__(type_name, message, traceback_text)
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return (
            f"{self.type_name}: {self.message}\n(the exception could not be sent back from the "
            f"worker process; its traceback there:)\n{self.traceback_text}"
        )


class RemoteTraceback(Exception):
    """Attached as `__cause__` of an exception from a worker, so the worker's traceback (lost
    in pickling) is printed with it, as `concurrent.futures.ProcessPoolExecutor` does."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


# --- the worker process ---------------------------------------------------------------------


def worker_main(
    conn: Connection, environ: dict[str, str], stdout: InheritFd | int, stderr: InheritFd | int
) -> None:
    """Body of a worker process: answer tasks until told to exit or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _take_parent_environment(environ, stdout, stderr)
    _exit_with_parent()
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent closed its end (or died)
        if payload == EXIT_MESSAGE:
            return
        reply = _run_task(payload)
        try:
            conn.send_bytes(reply)
        except OSError:
            return


class InheritFd:
    """One of the parent's file descriptors, duplicated into a worker as it starts.

    A forkserver child inherits the descriptors of the forkserver, which is started once per
    process and keeps the stdout/stderr the parent had *then*; a later redirection in the parent
    (pytest's fd capture, a daemonized orchestrator) would not reach it. Pickled only while a
    worker is being started, it becomes a duplicate of the parent's descriptor *now*.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return (inherited_fd, (reduction.DupFd(self.fd),))


def inherited_fd(handle: Any) -> int:
    return int(handle.detach())


def _take_parent_environment(
    environ: dict[str, str], stdout: InheritFd | int, stderr: InheritFd | int
) -> None:
    """Same environment variables and stdout/stderr as the parent when the worker started
    (under forkserver they would otherwise be those of the forkserver's start)."""
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    for fd, target in ((stdout, 1), (stderr, 2)):
        if isinstance(fd, int) and fd != target:  # fork passes `InheritFd`s as they are
            _flush_stdio()
            os.dup2(fd, target)
            os.close(fd)


def _exit_with_parent() -> None:
    """A daemon thread that ends this worker when the parent dies, even in the middle of a long
    task: nobody would read its result, and an orphan would hold CPU and memory."""
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:
        return

    def watch() -> None:
        wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="fanflow-parent-watch", daemon=True).start()


def _run_task(payload: bytes) -> bytes:
    try:
        fn, args, kwargs = pickle.loads(payload)
        result = fn(*args, **kwargs)
    except BaseException as exc:  # the caller decides; the worker survives SystemExit too
        return _error_reply(exc)
    finally:
        _flush_stdio()
    try:
        return cloudpickle.dumps((True, result, None), protocol=PICKLE_PROTOCOL)
    except BaseException as exc:
        try:
            raise TypeError(
                f"The task's result (a {type(result).__qualname__}) cannot be pickled to send it "
                f"back from the worker process: {type(exc).__name__}: {_safe_str(exc)}"
            ) from exc
        except TypeError as wrapped:
            return _error_reply(wrapped)


def _error_reply(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        data = cloudpickle.dumps((False, exc, text), protocol=PICKLE_PROTOCOL)
        # Some exceptions pickle but cannot be rebuilt (an `__init__` with other arguments than
        # `args`); find out here, where the stand-in can still carry the original's details.
        pickle.loads(data)
        return data
    except BaseException:
        kind = type(exc)
        name = (
            kind.__qualname__
            if kind.__module__ == "builtins"
            else f"{kind.__module__}.{kind.__qualname__}"
        )
        stand_in = RemoteTaskError(name, _safe_str(exc), text)
        return cloudpickle.dumps((False, stand_in, text), protocol=PICKLE_PROTOCOL)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<str() of the {type(exc).__name__} failed>"


def _flush_stdio() -> None:
    """Output of a task reaches the inherited descriptors before its result does."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


# --- the parent: hiding __main__ while starting workers --------------------------------------
