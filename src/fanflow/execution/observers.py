"""Lifecycle observers: things that watch a run without changing it.

The orchestrator announces `run_started`, `step_started`, `step_cached`, `step_finished` and
`run_finished` to every observer. An observer that raises is logged and ignored: watching a run
must never break it. The console observer is the default one.

Console output goes to stderr through the `fanflow` logger (a handler is attached on the first
run, never at import), so a program's own stdout stays exactly what its steps print.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Protocol

logger = logging.getLogger("fanflow")


class RunObserver(Protocol):
    def run_started(self, run_name: str, pipeline_name: str | None, step_count: int) -> None: ...

    def step_started(self, invocation_id: str) -> None: ...

    def step_cached(self, invocation_id: str) -> None: ...

    def step_finished(
        self, invocation_id: str, duration_s: float, error: BaseException | None
    ) -> None: ...

    def run_finished(self, run_name: str, status: str, duration_s: float) -> None: ...


def human_duration(seconds: float) -> str:
    """`0.123s` under a minute, else `2m3s` / `1h2m3s` (ZenML's style)."""
    if seconds < 60:
        return f"{seconds:.3f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    text = "".join(f"{value}{unit}" for value, unit in parts if value)
    return text or "0s"


_console_ready = False


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (test runners and notebooks swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def ensure_console_logging(verbosity: str = "INFO") -> None:
    """Attach a stderr handler to the `fanflow` logger unless the user configured one."""
    global _console_ready
    if _console_ready:
        return
    _console_ready = True
    if not logger.handlers and not logging.getLogger().handlers:
        logger.addHandler(_CurrentStderrHandler())
    if logger.level == logging.NOTSET:
        logger.setLevel(getattr(logging, verbosity, logging.INFO))


class ConsoleObserver:
    """Run and step progress on stderr, written once per turn of the orchestrator's loop.

    The first `STEP_LINES` step events get a line each (as ZenML prints them); after that, a
    progress line at most every `PROGRESS_EVERY_S` seconds keeps a 100,000-branch map readable
    and cheap. Failures always get their own line.
    """

    STEP_LINES = 50
    PROGRESS_EVERY_S = 2.0

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._step_lines = 0
        self._finished = 0
        self._failed = 0
        self._cached = 0
        self._last_progress = time.monotonic()
        self._step_total: int | None = None

    def _step_line(self, text: str) -> None:
        if self._step_lines < self.STEP_LINES:
            self._lines.append(text)
        self._step_lines += 1

    def run_started(self, run_name: str, pipeline_name: str | None, step_count: int | None) -> None:
        self._step_total = step_count
        steps = f", {step_count} steps" if step_count is not None else ""
        logger.info(
            "Initiating a new run for the pipeline: `%s` (run `%s`%s).",
            pipeline_name or "unlisted",
            run_name,
            steps,
        )

    def step_started(self, invocation_id: str) -> None:
        self._step_line(f"Step `{invocation_id}` has started.")

    def step_cached(self, invocation_id: str) -> None:
        self._finished += 1
        self._cached += 1
        self._step_line(f"Using cached version of step `{invocation_id}`.")

    def step_finished(
        self, invocation_id: str, duration_s: float, error: BaseException | None
    ) -> None:
        self._finished += 1
        if error is None:
            self._step_line(
                f"Step `{invocation_id}` has finished in `{human_duration(duration_s)}`."
            )
            return
        self._failed += 1
        self._lines.append(
            f"Step `{invocation_id}` failed after `{human_duration(duration_s)}`: "
            f"{type(error).__name__}: {error}"
        )

    def run_stopping(self, reason: str, deadline: float | None) -> None:
        grace = (
            ""
            if deadline is None
            else f" (running steps get {max(0.0, deadline - time.monotonic()):.0f} s to finish)"
        )
        self._lines.append(
            f"{reason}: stopping the run; no new steps start{grace}. "
            "Press Ctrl-C again to quit at once."
        )

    def turn_finished(self) -> None:
        if self._step_lines > self.STEP_LINES and time.monotonic() - self._last_progress >= (
            self.PROGRESS_EVERY_S
        ):
            self._lines.append(self._progress())
        if self._lines:
            logger.info("%s", "\n".join(self._lines))
            self._lines = []
            self._last_progress = time.monotonic()

    def _progress(self) -> str:
        total = f"/{self._step_total}" if self._step_total else ""
        return (
            f"... {self._finished}{total} steps finished ({self._cached} cached, "
            f"{self._failed} failed)."
        )

    def run_finished(self, run_name: str, status: str, duration_s: float) -> None:
        self.turn_finished()
        summary = ""
        if self._step_lines > self.STEP_LINES:
            summary = f" {self._progress()[4:]}"
        line = "Pipeline run `%s` has finished in `%s` with status `%s`.%s"
        log = logger.info if status in ("completed", "cached") else logger.error
        log(line, run_name, human_duration(duration_s), status, summary)


class ObserverGroup:
    """Fans events out to observers, isolating their failures. Each event's handlers are
    looked up once: emitting an event nobody handles costs one dictionary lookup."""

    def __init__(self, observers: list[Any]) -> None:
        self._observers = observers
        self._handlers: dict[str, list[tuple[Any, Any]]] = {}

    def emit(self, event: str, *args: Any) -> None:
        handlers = self._handlers.get(event)
        if handlers is None:
            found = ((o, getattr(o, event, None)) for o in self._observers)
            handlers = self._handlers[event] = [(o, h) for o, h in found if h is not None]
        for observer, handler in handlers:
            try:
                handler(*args)
            except Exception:
                logger.exception("Run observer %r failed on %s; ignoring it.", observer, event)
