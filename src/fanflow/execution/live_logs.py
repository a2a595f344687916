"""A running step's output where `fanflow logs --follow` can read it while the step runs.

A step's log is stored once, when the step ends. Meanwhile its output is mirrored next to where
the log will be: on a local store, appended to `<log>.live` as it is written (`LiveFile`); on
an object store (S3 and the like, where steps often run on Dask workers), which cannot append,
as numbered parts under `<log>.live/`, each holding the output since the previous one
(`RemoteLiveCopy`). One daemon thread per process uploads the new output of every running step
at most every `LIVE_FLUSH_S` seconds, and only of steps that have been printing for at least
that long, so steps shorter than that never touch the store for their live copy.

Invariants: writes from the step never wait for the network (they append to a list); once
`close()` returns nothing more is uploaded, so `discard()` after it leaves no part behind;
failing to upload stops the live copy and never fails the step.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from fanflow.artifacts.store import ArtifactStore, LocalArtifactStore
from fanflow.execution.logbuffer import LiveFile, LiveSink

LIVE_FLUSH_S = 1.0
"""How often the output of a running step goes to an object store."""
LIVE_SUFFIX = ".live"


class RemoteLiveCopy:
    """A running step's output as numbered parts in an object store (see the module doc)."""

    __slots__ = (
        "_closed",
        "_lock",
        "_log_uri",
        "_parts",
        "_pending",
        "_since",
        "_store",
        "_upload_lock",
        "broken",
    )

    def __init__(self, store: Any, log_uri: Callable[[], str]) -> None:
        self._store = store
        self._log_uri: Callable[[], str] | str = log_uri
        self._lock = threading.Lock()  # guards `_pending` (held briefly by the step's writes)
        self._upload_lock = threading.Lock()  # one upload at a time; `close` waits for it
        self._pending: list[str] = []
        self._parts = 0
        self._since: float | None = None
        self._closed = False
        self.broken = False

    def write(self, text: str) -> None:
        with self._lock:
            if self._closed or self.broken:
                return
            self._pending.append(text)
            if self._since is None:
                self._since = time.monotonic()
                _FLUSHER.add(self)

    def flush(self, now: float) -> None:
        """Upload what was written since the last part (from the flusher thread)."""
        with self._upload_lock:
            with self._lock:
                if self._closed or not self._pending:
                    return
                if self._since is None or now - self._since < LIVE_FLUSH_S:
                    return  # a short step: its stored log will do
                text = "".join(self._pending)
                self._pending.clear()
                self._since = now  # the next part comes at least LIVE_FLUSH_S later
            try:
                if callable(self._log_uri):
                    self._log_uri = self._log_uri()
                self._store.write_live_part(self._log_uri, self._parts, text)
                self._parts += 1
            except Exception:  # a live copy is a convenience: never fail the step for it
                self.broken = True

    def close(self) -> None:
        with self._upload_lock, self._lock:
            self._closed = True
            self._pending.clear()
        _FLUSHER.remove(self)

    def discard(self) -> None:
        if self._parts and isinstance(self._log_uri, str):
            try:
                self._store.remove_live_parts(self._log_uri)
            except Exception:  # leftovers under `<log>.live/` are harmless
                return


class _Flusher:
    """The process's one thread that uploads running steps' output every `LIVE_FLUSH_S`."""

    def __init__(self) -> None:
        self._copies: set[RemoteLiveCopy] = set()
        self._lock = threading.Lock()
        self._pid = 0

    def add(self, copy: RemoteLiveCopy) -> None:
        with self._lock:
            self._copies.add(copy)
            if self._pid != os.getpid():  # first use in this process (or since a fork)
                self._pid = os.getpid()
                threading.Thread(target=self._run, daemon=True, name="fanflow-live-logs").start()

    def remove(self, copy: RemoteLiveCopy) -> None:
        with self._lock:
            self._copies.discard(copy)

    def _run(self) -> None:
        while True:
            time.sleep(LIVE_FLUSH_S / 4)
            with self._lock:
                copies = list(self._copies)
            now = time.monotonic()
            for copy in copies:
                copy.flush(now)


_FLUSHER = _Flusher()


def live_copy_for(store: ArtifactStore, log_uri: Callable[[], str]) -> LiveSink | None:
    """The mirror of a running step's output for `store` (None: the store cannot hold one)."""
    if isinstance(store, LocalArtifactStore):
        return LiveFile(lambda: log_uri() + LIVE_SUFFIX)
    if hasattr(store, "write_live_part"):
        return RemoteLiveCopy(store, log_uri)
    return None
