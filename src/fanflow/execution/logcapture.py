"""Per-step capture of stdout, stderr and `logging` output, with a live, prefixed console echo.

This module installs the routing (stream proxies, the log-record factory, the capture context);
what a capture keeps and how it echoes lines is `fanflow.execution.logbuffer`.

Steps run side by side in threads of one process, and `sys.stdout`/`sys.stderr` are process
globals, so a step's output cannot be captured by swapping the streams per step. Instead
:func:`install` swaps them once for proxies that look up the *current context*: inside a
``with capture(label) as log:`` block, the proxies send each write both to ``log`` and, prefixed
with ``[label] `` at the start of every line, to the stream they replaced. Outside any capture a
write goes to that stream unchanged. `logging` records are captured by a log-record factory
(see "Logging" below), because the record is created in the emitting thread, in its context.

Invariants:

- A capture sees exactly the writes and records made in its own context: the thread (or
  `contextvars.Context`) that entered the block. Captures in different threads never see each
  other's output. The context variable is reset when the block exits, also on an exception.
- Threads started *by* a step with `threading.Thread` or a `ThreadPoolExecutor` begin with an
  empty context (before Python 3.14's ``thread_inherit_context``), so their output is not
  captured: it passes through to the console unprefixed. A step opts in by running the work in a
  copy of its context: ``pool.submit(contextvars.copy_context().run, fn, ...)`` or
  ``pool.submit(propagate_context(fn), ...)``. asyncio tasks copy the context by themselves.
- The console echo is line-buffered per capture and per stream, and every complete line is
  written to the original stream in one ``write`` call, so lines of concurrent steps never mix.
  A partial line (``print("a", end="")``) waits for its end of line, for ``flush()`` (so
  ``print(..., flush=True)`` and progress bars show at once), for a ``\\r`` (progress bars), or
  for the end of the capture, which also terminates it with a newline on the console. Nothing
  waits longer than that: there is no buffering of whole steps.
- stdout is echoed to the original stdout and stderr to the original stderr.
  With ``FANFLOW_STEP_LOG_PREFIX`` unset or ``auto``, a capture prefixes its lines from the
  first write it makes while another capture is active, and keeps doing so: a step running alone
  prints exactly what it prints, as a ZenML program expects, while the lines of steps running
  side by side say whose they are.
  ``FANFLOW_STEP_LOG_PREFIX=1`` always prefixes, ``0`` never does (the output is captured either
  way).
- Settings come from `fanflow.config` (a value that does not parse is an error naming it).
- Memory is bounded: past `max_bytes` (``MAX_STEP_LOG_BYTES``, or ``FANFLOW_MAX_STEP_LOG_BYTES``)
  a log keeps its first part and its last ``min(TAIL_BYTES, max_bytes // 2)`` bytes with one
  ``[... N bytes omitted ...]`` marker between them. The console still gets everything.
- Installing never wraps a proxy in a proxy, and replacing ``sys.stdout`` later (pytest's
  capsys, ``redirect_stdout``) breaks nothing: an old proxy still writes to the stream it
  replaced, and the next `capture` wraps the new stream. While a proxy echoes, any proxy reached
  from inside that echo passes the text through, so chains of proxies never capture or prefix
  twice.

Logging: a log-record factory (not a root handler, which would make ``logging.basicConfig`` a
no-op, silence ``logging.lastResort`` and defeat the "is logging configured?" check in
`fanflow.execution.observers`) appends each record created in an active capture, formatted as
``RECORD_FORMAT``, to the capture's log. It prints nothing; the configured handlers print as
before. Records of the engine's own ``fanflow`` logger (and its children) are not captured.
Handler output written to the proxied streams from inside the `logging` module is not captured
again (the record already was), so a record is never captured twice; on the console, a step's
record gets the step's prefix like its prints do, and engine lines never get one.

Not captured: writes to ``sys.stdout.buffer`` or to file descriptors 1 and 2 directly
(subprocesses, C extensions), and streams that were ``None`` at install time.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from types import FrameType, TracebackType
from typing import Any, ParamSpec, TextIO, TypeVar

from fanflow.config import step_log_settings
from fanflow.execution.logbuffer import (
    MAX_STEP_LOG_BYTES,
    RECORD_FORMAT,
    STDERR,
    STDOUT,
    TAIL_BYTES,
    LogBuffer,
    is_echoing,
)

__all__ = [
    "ENGINE_LOGGER",
    "MAX_BYTES_ENV",
    "MAX_STEP_LOG_BYTES",
    "PREFIX_ENV",
    "RECORD_FORMAT",
    "TAIL_BYTES",
    "LogBuffer",
    "active_log",
    "capture",
    "install",
    "propagate_context",
    "uninstall",
]

MAX_BYTES_ENV = "FANFLOW_MAX_STEP_LOG_BYTES"
PREFIX_ENV = "FANFLOW_STEP_LOG_PREFIX"
ENGINE_LOGGER = "fanflow"

# How many frames above a write are searched for the `logging` module (handler output).
_LOGGING_SCAN_DEPTH = 10

_LOGGING_GLOBALS = vars(logging)

_P = ParamSpec("_P")
_R = TypeVar("_R")


_current: contextvars.ContextVar[LogBuffer | None] = contextvars.ContextVar(
    "fanflow_log_capture", default=None
)


def active_log() -> LogBuffer | None:
    """The log being captured in the current context, if any."""
    log = _current.get()
    return None if log is None or log.closed else log


_NOT_LOGGING = 0
_ENGINE_RECORD = 1
_STEP_RECORD = 2


def _called_from_logging() -> int:
    """Whether a `logging` handler is writing, and whose record: the engine's (passed through
    unprefixed) or a step's (its record was captured as a record; the console line gets the
    step's prefix like a print does)."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(_LOGGING_SCAN_DEPTH):
        if frame is None:
            return _NOT_LOGGING
        if frame.f_globals is _LOGGING_GLOBALS:
            record = frame.f_locals.get("record")
            name = str(getattr(record, "name", ENGINE_LOGGER))
            if name == ENGINE_LOGGER or name.startswith(ENGINE_LOGGER + "."):
                return _ENGINE_RECORD
            return _STEP_RECORD
        frame = frame.f_back
    return _NOT_LOGGING


class _StreamProxy:
    """Stands in for `sys.stdout`/`sys.stderr`; routes writes by the current context.

    Everything it does not implement falls through to the stream it wraps, so code that asks
    for ``fileno()``, ``encoding``, ``isatty()`` or ``reconfigure(...)`` sees the real stream.
    """

    def __init__(self, original: Any, index: int, replaced: Any) -> None:
        self._original = original  # where the echo goes
        self._index = index  # STDOUT or STDERR
        self._replaced = replaced  # what `uninstall` puts back

    def write(self, text: str) -> int:
        log = _current.get()
        if log is None or log.closed or not isinstance(text, str) or is_echoing():
            return self._original.write(text)  # type: ignore[no-any-return]
        source = _called_from_logging()
        if source == _ENGINE_RECORD:
            return self._original.write(text)  # type: ignore[no-any-return]
        keep = source == _NOT_LOGGING  # a step's record was captured already: echo only
        if text and not log.write(
            self._index, self._original, text, _active_captures > 1, keep=keep
        ):
            return self._original.write(text)  # type: ignore[no-any-return]
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        log = _current.get()
        if log is not None and not is_echoing():
            log.flush(self._index)
        self._original.flush()

    def isatty(self) -> bool:
        return bool(self._original.isatty())

    def fileno(self) -> int:
        return int(self._original.fileno())

    def writable(self) -> bool:
        writable = getattr(self._original, "writable", None)
        return True if writable is None else bool(writable())

    @property
    def encoding(self) -> str:
        return getattr(self._original, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self._original, "errors", "strict")

    @property
    def buffer(self) -> Any:
        """The original binary buffer: bytes written there are not captured."""
        return self._original.buffer

    def __getattr__(self, name: str) -> Any:
        original = self.__dict__.get("_original")
        if original is None:
            raise AttributeError(name)
        return getattr(original, name)

    def __repr__(self) -> str:
        return f"<fanflow log proxy for {self._original!r}>"


class _RecordFactory:
    """Wraps the previous log-record factory; hands records made in a capture to its log."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.enabled = True

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if self.enabled:
            log = _current.get()
            if log is not None and not log.closed:
                name = record.name
                if name and name != ENGINE_LOGGER and not name.startswith(ENGINE_LOGGER + "."):
                    # Capturing must never break the logging call.
                    with contextlib.suppress(Exception):
                        log.add_record(record)
        return record


_install_lock = threading.Lock()
_factory: _RecordFactory | None = None


def _is_ready() -> bool:
    out, err = sys.stdout, sys.stderr
    return (
        _factory is not None
        and (out is None or type(out) is _StreamProxy)
        and (err is None or type(err) is _StreamProxy)
    )


def _wrap(name: str, index: int, original: Any | None) -> None:
    current = getattr(sys, name)
    if original is None:
        if current is None or type(current) is _StreamProxy:
            return  # never wrap a proxy; nothing to echo to without a stream
        original = current
    replaced = current._replaced if type(current) is _StreamProxy else current
    setattr(sys, name, _StreamProxy(original, index, replaced))


def install(*, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Put the proxies in place (unless they already are) and the log-record factory (once).

    Idempotent and thread-safe. Called by `capture`, so it is needed only to set things up
    early. If ``sys.stdout`` was replaced since the last call, the new stream gets wrapped.
    `stdout`/`stderr` (for tests) make the proxies echo to those streams instead.
    """
    global _factory
    if stdout is None and stderr is None and _is_ready():
        return
    with _install_lock:
        _wrap("stdout", STDOUT, stdout)
        _wrap("stderr", STDERR, stderr)
        if _factory is None:
            _factory = _RecordFactory(logging.getLogRecordFactory())
            logging.setLogRecordFactory(_factory)


def uninstall() -> None:
    """Put back the streams the proxies replaced and stop capturing records (for tests).

    A stream replaced since `install` is left alone. A record factory installed on top of ours
    keeps calling ours, which then only delegates.
    """
    global _factory
    with _install_lock:
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if type(current) is _StreamProxy:
                setattr(sys, name, current._replaced)
        if _factory is not None:
            _factory.enabled = False
            if logging.getLogRecordFactory() is _factory:
                logging.setLogRecordFactory(_factory.previous)
            _factory = None


_active_captures = 0
_active_lock = threading.Lock()


class _CaptureBlock:
    """The context manager `capture` returns; a class rather than a generator because entering
    and leaving it is on every step's path and must cost a few microseconds."""

    __slots__ = ("_label", "_log", "_max_bytes", "_prefix", "_token")

    def __init__(self, label: str, max_bytes: int | None, prefix: str | None = None) -> None:
        self._label = label
        self._max_bytes = max_bytes
        self._prefix = prefix
        self._log: LogBuffer | None = None
        self._token: contextvars.Token[LogBuffer | None] | None = None

    def __enter__(self) -> LogBuffer:
        if self._token is not None:
            raise RuntimeError("This capture block is already active; call capture() again.")
        if not _is_ready():
            install()
        settings = step_log_settings()
        max_bytes = self._max_bytes if self._max_bytes is not None else settings.max_bytes
        global _active_captures
        mode = settings.prefix
        if self._prefix is not None and not settings.prefix_chosen:
            mode = self._prefix  # the caller's default, unless the user chose explicitly
        log = LogBuffer(self._label, max_bytes=max_bytes, prefix_mode=mode)
        self._log = log
        self._token = _current.set(log)
        with _active_lock:
            _active_captures += 1
        return log

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _active_captures
        token, self._token = self._token, None
        assert token is not None and self._log is not None
        with _active_lock:
            _active_captures -= 1
        try:
            self._log.close()
        finally:
            _current.reset(token)


def capture(
    label: str, *, max_bytes: int | None = None, prefix: str | None = None
) -> AbstractContextManager[LogBuffer]:
    """Capture this context's stdout, stderr and log records into a `LogBuffer`.

    ``with capture("train_3") as log: ...`` then ``log.text()``. Captures nest: the innermost
    one gets the output while it is active. `max_bytes` defaults to ``FANFLOW_MAX_STEP_LOG_BYTES``
    or `MAX_STEP_LOG_BYTES`. Work handed to other threads is captured only when it runs in a
    copy of this context (see `propagate_context`); output arriving after the block ended passes
    through to the console unprefixed.
    """
    return _CaptureBlock(label, max_bytes, prefix)


def propagate_context(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """`fn` bound to a snapshot of the current context (its capture and step), for threads.

    Each call runs in its own copy of the snapshot, so the wrapper can be submitted to a thread
    pool many times at once (one `Context` cannot be entered by two threads).
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return context.copy().run(fn, *args, **kwargs)

    return run
