"""Watching over a run: heartbeats, dead orchestrators, Ctrl-C.

- A heartbeat thread stamps the run every `FANFLOW_HEARTBEAT_INTERVAL` seconds (default 10), so a
  reader can tell a run whose orchestrator died (SIGKILL, power loss) from one that is working.
- Whether a run's orchestrator died is decided from the record by `fanflow.metadata.liveness`.
- `graceful_interrupts` turns the first Ctrl-C (or SIGTERM) into a request to stop (no new steps;
  running ones get a grace period) and lets the second one interrupt at once. It only acts in the
  main thread.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from fanflow.config import load_settings


def heartbeat_interval() -> float:
    """`FANFLOW_HEARTBEAT_INTERVAL` (see `fanflow.config`)."""
    return load_settings().heartbeat_interval


def stop_grace_period() -> float:
    """`FANFLOW_STOP_GRACE_PERIOD` (see `fanflow.config`)."""
    return load_settings().stop_grace_period


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


@contextlib.contextmanager
def graceful_interrupts(on_first: Callable[[], None]) -> Iterator[None]:
    """The first SIGINT or SIGTERM calls `on_first` (which must only do signal-safe things such
    as `SimpleQueue.put`): container runtimes and CI stop jobs with SIGTERM, and a stop must
    leave a resumable run either way. The second one raises KeyboardInterrupt (quit at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    interrupted = False

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def handler(signum: int, frame: object) -> None:
        nonlocal interrupted
        if interrupted:
            restore()
            raise KeyboardInterrupt
        interrupted = True
        on_first()

    for signum in signals:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        restore()
