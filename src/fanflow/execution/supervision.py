"""Watching over a run: heartbeats, dead orchestrators, Ctrl-C.

- A heartbeat thread stamps the run every `FANFLOW_HEARTBEAT_INTERVAL` seconds (default 10), so a
  reader can tell a run whose orchestrator died (SIGKILL, power loss) from one that is working.
- `orchestrator_is_dead` decides from the recorded pid (same host: is the process there?) and the
  heartbeat's age (any host: older than three intervals, at least a minute).
- `graceful_interrupts` turns the first Ctrl-C into a request to stop (no new steps; running ones
  get a grace period) and lets the second one interrupt at once. It only acts in the main thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from fanflow.ids import utcnow

DEFAULT_HEARTBEAT_INTERVAL_S = 10.0
DEFAULT_STOP_GRACE_S = 30.0


def heartbeat_interval() -> float:
    raw = os.environ.get("FANFLOW_HEARTBEAT_INTERVAL")
    try:
        return max(0.05, float(raw)) if raw else DEFAULT_HEARTBEAT_INTERVAL_S
    except ValueError:
        return DEFAULT_HEARTBEAT_INTERVAL_S


def stop_grace_period() -> float:
    raw = os.environ.get("FANFLOW_STOP_GRACE_PERIOD")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_STOP_GRACE_S
    except ValueError:
        return DEFAULT_STOP_GRACE_S


class Heartbeat:
    """A daemon thread calling `beat()` every `interval` seconds until stopped."""

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fanflow-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            with contextlib.suppress(Exception):  # a missed beat is retried next time
                self._beat()

    def stop(self) -> None:
        self._stopped.set()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that nobody reaped yet is a zombie: it is not running anything
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def orchestrator_is_dead(
    pid: int | None,
    host: str | None,
    heartbeat: datetime | None,
    interval: float | None,
    now: datetime | None = None,
) -> bool:
    now = now or utcnow()
    if pid is not None and host == socket.gethostname() and not _process_alive(pid):
        return True
    if heartbeat is None:
        return False
    allowed = max(60.0, 3 * (interval or DEFAULT_HEARTBEAT_INTERVAL_S))
    return now - heartbeat > timedelta(seconds=allowed)


@contextlib.contextmanager
def graceful_interrupts(on_first: Callable[[], None]) -> Iterator[None]:
    """First SIGINT calls `on_first` (which must only do signal-safe things such as
    `SimpleQueue.put`); the second raises KeyboardInterrupt as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    interrupted = False

    def handler(signum: int, frame: object) -> None:
        nonlocal interrupted
        if interrupted:
            signal.signal(
                signal.SIGINT, previous if callable(previous) else signal.default_int_handler
            )
            raise KeyboardInterrupt
        interrupted = True
        on_first()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
