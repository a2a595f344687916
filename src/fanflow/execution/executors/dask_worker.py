"""The worker side of `DaskExecutor`: what runs inside a Dask worker process.

Imported on the workers by reference (fanflow is installed there), never by the orchestrator
unless it runs on Dask, and it imports nothing of Dask's at module level.

- `run_group` runs a group of pickled step tasks one after the other, each one's failure its
  own, and returns one small reply per task (the step's `StepResult`: artifact ids, URIs,
  hashes, timings, error); the steps read and write the artifact store themselves;
- the worker's `sys.stdout`/`sys.stderr` are replaced once per process by streams that send
  each line written while a group runs as a Dask event on the run's topic (the orchestrator
  prints them); other writes pass through to the worker's own streams;
- `_probe_task` checks that a worker can read and publish artifacts in the run's store;
  `_probe_on_worker` runs it through `Client.run` (one broadcast, no tasks to schedule).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pickle
import sys
import threading
import time
import traceback
from typing import Any

import cloudpickle

from fanflow.execution.process_worker import RemoteTaskError

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


class _TaskUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, steps: dict[str, bytes]) -> None:
        super().__init__(file)
        self._steps = steps

    def persistent_load(self, key: Any) -> Any:
        step = _STEP_CACHE.get(key)
        if step is None:
            step = pickle.loads(self._steps[key])
            if len(_STEP_CACHE) >= 256:
                _STEP_CACHE.pop(next(iter(_STEP_CACHE)))
            _STEP_CACHE[key] = step
        return step


_STEP_CACHE: dict[str, Any] = {}  # on a worker: step definitions by key, most recent last


def run_group(
    topic: str, payloads: list[bytes], steps: dict[str, bytes], batch_key: str = ""
) -> list[tuple[bool, Any, float]]:
    """Runs on a Dask worker: each pickled `(fn, args)` in turn, output forwarded on `topic`,
    and a start report (`{"b": batch_key, "i": position}`) on `topic` as each one begins.

    Returns `(ok, result or (error, traceback text), seconds)` per payload; an error that cannot
    be pickled is replaced by `RemoteTaskError` with its type, message and traceback.
    """
    _install_forwarding()
    _forward.topic = topic
    replies: list[tuple[bool, Any, float]] = []
    try:
        for position, payload in enumerate(payloads):
            if batch_key:
                _report_start(topic, batch_key, position)
            started = time.perf_counter()
            try:
                fn, args = _TaskUnpickler(io.BytesIO(payload), steps).load()
                result = fn(*args)
            except BaseException as exc:
                replies.append((False, _portable(exc), time.perf_counter() - started))
            else:
                replies.append((True, result, time.perf_counter() - started))
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        _forward.topic = None
    return replies


def _report_start(topic: str, batch_key: str, position: int) -> None:
    with contextlib.suppress(Exception):  # the result still reports the start if this is lost
        from distributed import get_worker

        get_worker().log_event(topic, {"b": batch_key, "i": position})


def _portable(exc: BaseException) -> tuple[BaseException, str]:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        pickle.loads(cloudpickle.dumps(exc, protocol=_PICKLE_PROTOCOL))
        return exc, text
    except BaseException:
        kind = type(exc)
        name = (
            kind.__qualname__
            if kind.__module__ == "builtins"
            else f"{kind.__module__}.{kind.__qualname__}"
        )
        return RemoteTaskError(name, str(exc), text), text


_forward = threading.local()
_install_lock = threading.Lock()


class _ForwardingStream:
    """Stands in for a worker's stdout or stderr: inside `run_group` (the thread's `topic` is
    set) complete lines go to the orchestrator as Dask events; elsewhere writes pass through."""

    def __init__(self, original: Any, kind: str) -> None:
        self._original = original
        self._kind = kind
        self._partial = threading.local()

    def write(self, text: str) -> int:
        topic = getattr(_forward, "topic", None)
        if topic is None:
            return int(self._original.write(text) or 0)
        buffered = getattr(self._partial, "text", "") + text
        head, sep, tail = buffered.rpartition("\n")
        self._partial.text = tail
        if sep:
            self._send(topic, head + sep)
        return len(text)

    def flush(self) -> None:
        topic = getattr(_forward, "topic", None)
        text = getattr(self._partial, "text", "")
        if topic is not None and text:
            self._partial.text = ""
            self._send(topic, text)
        with contextlib.suppress(Exception):
            self._original.flush()

    def _send(self, topic: str, text: str) -> None:
        try:
            from distributed import get_worker

            get_worker().log_event(topic, {"s": self._kind, "t": text})
        except Exception:
            self._original.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _install_forwarding() -> None:
    with _install_lock:
        for name, kind in (("stdout", "out"), ("stderr", "err")):
            current = getattr(sys, name)
            if current is None or _is_forwarding(current):
                continue
            setattr(sys, name, _ForwardingStream(current, kind))


def _is_forwarding(stream: Any) -> bool:
    seen = 0
    while stream is not None and seen < 8:  # through logcapture's proxies
        if isinstance(stream, _ForwardingStream):
            return True
        stream = vars(stream).get("_original") if hasattr(stream, "__dict__") else None
        seen += 1
    return False


def _publish_token(store: Any, uri: str, token: str) -> None:
    """Publish a tiny artifact holding `token` through the store's ordinary protocol."""
    staging = store.staging()
    try:
        with open(os.path.join(staging, "token"), "w", encoding="utf-8") as handle:
            handle.write(token)
        store.publish(staging, uri)
    except BaseException:
        store.discard(staging)
        raise


def _read_token(store: Any, uri: str) -> str | None:
    if not store.exists(uri):
        return None
    with store.local_copy(uri) as path, open(os.path.join(path, "token"), encoding="utf-8") as f:
        return f.read()


def _probe_task(
    root: str, storage_options: dict[str, Any], marker: str, token: str, reply: str
) -> str | None:
    """On a worker: can it read the artifact the orchestrator published, and publish one?"""
    from fanflow.artifacts.store import artifact_store_for

    try:
        store = artifact_store_for(root, storage_options)
        seen = _read_token(store, marker)
        if seen != token:
            return f"cannot read {marker}" if seen is None else f"reads other data at {marker}"
        _publish_token(store, reply, token)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


PROBE_TIMEOUT_S = 60.0


async def _probe_on_worker(
    root: str,
    storage_options: dict[str, Any],
    marker: str,
    token: str,
    replies: dict[str, str],
    dask_worker: Any = None,
) -> str | None:
    """`_probe_task` for `Client.run`: this worker publishes at its own address's reply URI.
    The store is used on a thread, so a slow store does not hold up the worker's event loop."""
    address = getattr(dask_worker, "address", None)
    reply = replies.get(address) if isinstance(address, str) else None
    if reply is None:
        return f"was not asked to probe (it joined after the probe began: {address})"
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_probe_task, root, storage_options, marker, token, reply),
            PROBE_TIMEOUT_S,
        )
    except asyncio.TimeoutError:  # not the builtin before Python 3.11
        return f"did not finish reading and publishing within {PROBE_TIMEOUT_S:g} s"
