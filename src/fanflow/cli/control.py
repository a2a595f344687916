"""`fanflow runs resume` and `fanflow runs stop`: steering runs from a shell.

Stopping sends SIGINT to the run's orchestrator, which treats it exactly as a Ctrl-C: it starts
no new step, gives running steps their grace period (`FANFLOW_STOP_GRACE_PERIOD`) and records the
run as `stopped`. The signal is sent only after checking that the recorded process is on this
machine, is alive, and was started before the run (so a recycled pid is never signalled).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

import click

from fanflow.cli.lookup import find_run
from fanflow.cli.output import note

if TYPE_CHECKING:
    from fanflow.cli.session import Session

STOP_POLL_S = 0.2


def resume(session: Session, ident: str) -> None:
    from fanflow.exceptions import ResumeError, RunFailedError

    run = find_run(session, ident)
    # Pipelines named by module are imported as `python -m` would: from the current directory.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        resumed = run.resume()
    except ResumeError as exc:
        raise click.ClickException(str(exc)) from None
    except RunFailedError as exc:
        raise click.ClickException(
            f"The resumed run {exc.run_name} failed again: {' '.join(str(exc).split())}"
        ) from None
    note(f"Resumed {run.name} as {resumed.name}: {resumed.status}.")


def _process_start_epoch(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime"))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return boot + int(fields[19]) / ticks  # field 22 of stat: start time in clock ticks


def check_is_orchestrator(pid: int | None, host: str | None, run_started: float, name: str) -> int:
    """The pid to signal, or a ClickException saying why this run cannot be stopped from here."""
    if pid is None or host is None:
        raise click.ClickException(f"Run {name!r} has no recorded orchestrator process.")
    if host != socket.gethostname():
        raise click.ClickException(
            f"Run {name!r} is orchestrated on host {host!r}, not on this machine "
            f"({socket.gethostname()!r}); stop it there."
        )
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise click.ClickException(
            f"The orchestrator of run {name!r} (pid {pid}) is not running."
        ) from None
    except PermissionError:
        raise click.ClickException(
            f"Not allowed to signal pid {pid}, the orchestrator of run {name!r} (another user)."
        ) from None
    started = _process_start_epoch(pid)
    if started is not None and started > run_started + 1.0:
        raise click.ClickException(
            f"Process {pid} started after run {name!r} did: it is not the run's orchestrator "
            "(the run's process has ended and its pid was reused)."
        )
    return pid


def stop(session: Session, ident: str, wait: bool, timeout: float) -> None:
    from datetime import timezone

    run = find_run(session, ident)
    if str(run.status) != "running":
        raise click.ClickException(f"Run {run.name!r} is not running (it is {run.status}).")
    record_start = run.start_time or run.created
    run_started = record_start.replace(tzinfo=timezone.utc).timestamp()
    pid = check_is_orchestrator(run.orchestrator_pid, run.orchestrator_host, run_started, run.name)
    os.kill(pid, signal.SIGINT)
    note(f"Asked run {run.name} (pid {pid}) to stop; running steps get their grace period.")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = run.refresh()
        if str(current.status) != "running":
            note(f"Run {run.name} is {current.status}.")
            return
        time.sleep(STOP_POLL_S)
    raise click.ClickException(
        f"Run {run.name!r} was asked to stop but is still running after {timeout:.0f} s."
    )
