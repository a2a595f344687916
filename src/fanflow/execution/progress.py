"""Live progress of a run on stderr: a redrawn block on a terminal, a summary line elsewhere.

An observer of the orchestrator's events (`run_started`, `steps_added`, `step_started`,
`step_cached`, `step_finished`, `turn_finished`, `run_stopping`, `run_finished`). Each event only
updates counters (a few dictionary operations), so progress costs the same for every step
whatever is shown; drawing happens elsewhere:

- on a terminal (stderr is a TTY) a rich `Live` block, redrawn twice a second by rich's own
  thread: one row per running step group, where a group is a plain step or a whole `.map` group
  with its total / done / running / failed / cached counts, rate and ETA; finished groups
  collapse into one line; the first failure's message is shown once;
- elsewhere (a pipe, a file, CI) one summary line every `FANFLOW_PROGRESS_INTERVAL` seconds
  (default 5) at most, plus the first failure and the final line, so a 10,000-branch map prints
  a handful of lines, not 10,000;
- `FANFLOW_PROGRESS=0` turns this off: the console observer's per-step lines are printed instead.

Stdout is never written: a program's stdout stays exactly what its steps print. On a terminal,
lines that steps print while the block is shown are printed above it (rich redirects the
streams only while both stdout and stderr are terminals).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from fanflow.execution.observers import ConsoleObserver, human_duration

logger = logging.getLogger("fanflow")

PROGRESS_ENV = "FANFLOW_PROGRESS"
INTERVAL_ENV = "FANFLOW_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 5.0
REFRESH_PER_SECOND = 2
MAX_ROWS = 12


def progress_enabled() -> bool:
    value = os.environ.get(PROGRESS_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def progress_interval() -> float:
    raw = os.environ.get(INTERVAL_ENV)
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{INTERVAL_ENV} must not be negative, got {raw!r}")
    return value


def default_observers() -> list[Any]:
    """What a run reports to when the caller chose nothing: live progress unless turned off."""
    if not progress_enabled():
        return [ConsoleObserver()]
    stream = sys.stderr
    isatty = getattr(stream, "isatty", None)
    terminal = bool(isatty and isatty())
    return [ProgressObserver(terminal=terminal)]


def group_of(invocation_id: str) -> str:
    """`map:process:7` -> `map:process`; a plain step is its own group."""
    if invocation_id.startswith("map:"):
        return invocation_id.rpartition(":")[0]
    return invocation_id


@dataclass(slots=True)
class GroupProgress:
    key: str
    is_map: bool
    total: int = 0
    started: int = 0
    completed: int = 0
    cached: int = 0
    failed: int = 0
    first_seen: float = 0.0
    last_finished: float = 0.0
    width: int | None = None  # a dynamic map's declared branch count (added in chunks)

    @property
    def done(self) -> int:
        return self.completed + self.cached + self.failed

    @property
    def running(self) -> int:
        return max(0, self.started - self.completed - self.failed)

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done >= self.total

    def rate(self, now: float) -> float | None:
        """Finished branches per second since the group's first event."""
        elapsed = now - self.first_seen
        if self.done < 2 or elapsed <= 0:
            return None
        return self.done / elapsed

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        if rate is None or self.total <= self.done:
            return None
        return (self.total - self.done) / rate


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _short(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressObserver:
    """Counts a run's steps by group and shows them live (see the module docstring)."""

    # The observer whose live block is on the terminal: one per process, like rich's own rule.
    _showing: ProgressObserver | None = None

    def __init__(
        self,
        *,
        terminal: bool,
        console: Any = None,
        interval: float | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.terminal = terminal
        self.interval = progress_interval() if interval is None else interval
        self.groups: dict[str, GroupProgress] = {}
        self.run_name = ""
        self.pipeline_name: str | None = None
        self.first_failure: str | None = None
        self.stopping: str | None = None
        self._failure_shown = False
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._console = console
        self._live: Any = None

    # --- events (the orchestrator's thread; counters only) --------------------------------

    def _group(self, invocation_id: str) -> GroupProgress:
        # `group_of`, inlined: this runs for every event of every step
        key = invocation_id.rpartition(":")[0] if invocation_id[:4] == "map:" else invocation_id
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = GroupProgress(key, key.startswith("map:"))
            group.first_seen = self._clock()
        return group

    def run_started(self, run_name: str, pipeline_name: str | None, step_count: int | None) -> None:
        self.run_name = run_name
        self.pipeline_name = pipeline_name
        self._started = self._last_line = self._clock()
        logger.info(
            "Initiating a new run for the pipeline: `%s` (run `%s`%s).",
            pipeline_name or "unlisted",
            run_name,
            f", {step_count} steps" if step_count is not None else "",
        )
        if self.terminal:
            self._start_live()

    def map_declared(self, group: str, width: int) -> None:
        """A dynamic map of `width` branches: its total is known before all are added (a
        wide map's branches arrive a chunk at a time)."""
        progress = self._group(f"map:{group}:0")
        # Declared again with fewer branches when the map call raised part way.
        progress.total = width if progress.width is not None else max(progress.total, width)
        progress.width = width

    def steps_added(self, invocation_ids: list[str]) -> None:
        for invocation_id in invocation_ids:
            group = self._group(invocation_id)
            if group.width is None:
                group.total += 1

    def step_started(self, invocation_id: str) -> None:
        group = self._group(invocation_id)
        group.started += 1
        group.total = max(group.total, group.started)

    def step_cached(self, invocation_id: str) -> None:
        group = self._group(invocation_id)
        group.cached += 1
        group.total = max(group.total, group.done)
        group.last_finished = self._clock()

    def step_finished(
        self, invocation_id: str, duration_s: float, error: BaseException | None
    ) -> None:
        group = self._group(invocation_id)
        if error is None:
            group.completed += 1
        else:
            group.failed += 1
            if self.first_failure is None:
                text = " ".join(f"{type(error).__name__}: {error}".split())
                self.first_failure = f"Step `{invocation_id}` failed: {text}"
        group.total = max(group.total, group.done)
        group.last_finished = self._clock()

    def run_stopping(self, reason: str, deadline: float | None) -> None:
        grace = (
            ""
            if deadline is None
            else f" (running steps get {max(0.0, deadline - time.monotonic()):.0f} s to finish)"
        )
        self.stopping = (
            f"{reason}: stopping the run; no new steps start{grace}. "
            "Press Ctrl-C again to quit at once."
        )
        if not self.terminal:
            logger.warning("%s", self.stopping)

    def turn_finished(self) -> None:
        if self.terminal:
            return  # rich's refresh thread draws the block
        if self.first_failure is not None and not self._failure_shown:
            self._failure_shown = True
            logger.error("%s", self.first_failure)
        now = self._clock()
        if now - self._last_line >= self.interval:
            self._last_line = now
            logger.info("%s", self.summary_line(now))

    def run_finished(self, run_name: str, status: str, duration_s: float) -> None:
        if self._live is not None:
            self._stop_live()
        elif self.first_failure is not None and not self._failure_shown:
            self._failure_shown = True
            logger.error("%s", self.first_failure)
        log = logger.info if status in ("completed", "cached") else logger.error
        log(
            "Pipeline run `%s` has finished in `%s` with status `%s`. %s",
            run_name,
            human_duration(duration_s),
            status,
            self.totals_text(),
        )

    # --- text -------------------------------------------------------------------------------

    def totals_text(self) -> str:
        groups = list(self.groups.values())
        total = sum(g.total for g in groups)
        parts = [
            f"{n:,} {label}"
            for label, n in (
                ("completed", sum(g.completed for g in groups)),
                ("cached", sum(g.cached for g in groups)),
                ("failed", sum(g.failed for g in groups)),
                ("running", sum(g.running for g in groups)),
            )
            if n
        ]
        return f"{total:,} steps: {', '.join(parts) or 'none finished'}."

    def summary_line(self, now: float | None = None) -> str:
        """One line for logs: elapsed time, overall counts and each unfinished map group."""
        now = self._clock() if now is None else now
        groups = list(self.groups.values())
        done = sum(g.done for g in groups)
        total = sum(g.total for g in groups)
        running = sum(g.running for g in groups)
        failed = sum(g.failed for g in groups)
        cached = sum(g.cached for g in groups)
        line = (
            f"[{_short(now - self._started)}] {done:,}/{total:,} steps done "
            f"({running:,} running, {failed:,} failed, {cached:,} cached)"
        )
        active = [g for g in groups if g.is_map and not g.finished]
        for group in active[:3]:
            line += f"; {self.group_text(group, now)}"
        return line + "."

    def group_text(self, group: GroupProgress, now: float) -> str:
        text = f"{group.key} {group.done:,}/{group.total:,}"
        rate, eta = group.rate(now), group.eta(now)
        if rate is not None:
            text += f" {rate:,.0f}/s" if rate >= 10 else f" {rate:.1f}/s"
        if eta is not None:
            text += f" ETA {_short(eta)}"
        return text

    # --- the live block (terminal) ----------------------------------------------------------

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.errors import LiveError
        from rich.live import Live

        if ProgressObserver._showing is not None:  # a run started inside another run's step
            self.terminal = False
            return
        console = self._console or Console(file=sys.stderr)
        both_terminals = bool(getattr(sys.stdout, "isatty", lambda: False)())
        live = Live(
            console=console,
            get_renderable=self.render,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
            redirect_stdout=both_terminals,
            redirect_stderr=both_terminals,
        )
        try:
            live.start()
        except LiveError:  # another live display is active (a run started inside a step)
            self.terminal = False
            return
        self._live = live
        ProgressObserver._showing = self

    def _stop_live(self) -> None:
        live, self._live = self._live, None
        try:
            live.refresh()
        finally:
            live.stop()
            ProgressObserver._showing = None

    def render(self) -> Any:
        """The block: one row per unfinished group, finished ones collapsed into one line.

        Built as plain padded text rather than a rich Table: a frame costs a few milliseconds
        less, and it is drawn several times a second for the whole run."""
        from rich.console import Group
        from rich.text import Text

        now = self._clock()
        groups = list(self.groups.values())
        finished = [g for g in groups if g.finished]
        active = [g for g in groups if not g.finished]
        rows: list[tuple[str, str, list[str]]] = []  # (marker style, marker, cells)
        if finished:
            failed = sum(g.failed for g in finished)
            cached = sum(g.cached for g in finished)
            cells = [
                _count(len(finished), "finished group"),
                _count(sum(g.done for g in finished), "step"),
                f"{cached:,} cached" if cached else "",
                f"{failed:,} failed" if failed else "",
            ]
            rows.append(("red" if failed else "green", "\u2713", cells))
        for group in active[:MAX_ROWS]:
            rows.append(("yellow", "\u25b6" if group.is_map else "\u2022", self._cells(group, now)))
        if len(active) > MAX_ROWS:
            hidden = active[MAX_ROWS:]
            cells = [
                f"{len(hidden)} more group(s)",
                f"{sum(g.running for g in hidden):,} running",
            ]
            rows.append(("dim", "\u2026", cells))
        widths: list[int] = []
        for _, _, cells in rows:
            for i, cell in enumerate(cells):
                if i >= len(widths):
                    widths.append(0)
                widths[i] = max(widths[i], len(cell))
        body = Text()
        body.append("fanflow ", style="bold")
        body.append(self.run_name, style="cyan")
        body.append(f"  {_short(now - self._started)}  ")
        body.append(self.totals_text(), style="dim")
        for style, marker, cells in rows:
            body.append("\n")
            body.append(marker, style=style)
            body.append(
                "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()
            )
        parts: list[Any] = [body]
        if self.first_failure is not None:
            parts.append(
                Text(f"\u2717 {self.first_failure}", style="red", overflow="ellipsis", no_wrap=True)
            )
        if self.stopping is not None:
            parts.append(Text(self.stopping, style="yellow"))
        return Group(*parts)

    def _cells(self, group: GroupProgress, now: float) -> list[str]:
        if not group.is_map:
            state = "running" if group.running else "waiting"
            elapsed = _short(now - group.first_seen) if group.running else ""
            return [group.key, state, elapsed]
        rate, eta = group.rate(now), group.eta(now)
        rate_text = "" if rate is None else (f"{rate:,.0f}/s" if rate >= 10 else f"{rate:.1f}/s")
        return [
            f"{group.key} \u00d7{group.total:,}",
            f"{group.done:,}/{group.total:,} done",
            f"{group.running:,} running",
            f"{group.failed:,} failed",
            f"{group.cached:,} cached",
            " ".join(p for p in (rate_text, f"ETA {_short(eta)}" if eta else "") if p),
        ]
