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
    if not logger.handlers:
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(getattr(logging, verbosity, logging.INFO))


class ConsoleObserver:
    """One line per run start/end and per step start/end, on stderr."""

    def run_started(self, run_name: str, pipeline_name: str | None, step_count: int) -> None:
        logger.info(
            "Initiating a new run for the pipeline: `%s` (run `%s`, %d steps).",
            pipeline_name or "unlisted",
            run_name,
            step_count,
        )

    def step_started(self, invocation_id: str) -> None:
        logger.info("Step `%s` has started.", invocation_id)

    def step_cached(self, invocation_id: str) -> None:
        logger.info("Using cached version of step `%s`.", invocation_id)

    def step_finished(
        self, invocation_id: str, duration_s: float, error: BaseException | None
    ) -> None:
        if error is None:
            logger.info(
                "Step `%s` has finished in `%s`.", invocation_id, human_duration(duration_s)
            )
        else:
            logger.error(
                "Step `%s` failed after `%s`: %s: %s",
                invocation_id,
                human_duration(duration_s),
                type(error).__name__,
                error,
            )

    def run_finished(self, run_name: str, status: str, duration_s: float) -> None:
        line = "Pipeline run `%s` has finished in `%s` with status `%s`."
        log = logger.info if status in ("completed", "cached") else logger.error
        log(line, run_name, human_duration(duration_s), status)


class ObserverGroup:
    """Fans events out to observers, isolating their failures."""

    def __init__(self, observers: list[Any]) -> None:
        self._observers = observers

    def emit(self, event: str, *args: Any) -> None:
        for observer in self._observers:
            handler = getattr(observer, event, None)
            if handler is None:
                continue
            try:
                handler(*args)
            except Exception:
                logger.exception("Run observer %r failed on %s; ignoring it.", observer, event)
