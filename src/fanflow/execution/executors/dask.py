"""Dask execution: steps run on the workers of a Dask cluster (`orchestrator="dask"`).

`FANFLOW_DASK_ADDRESS=tcp://host:8786` connects to an existing cluster (`dask scheduler` and
`dask worker`, dask-kubernetes, dask-jobqueue, ...); without it a `distributed.LocalCluster`
(one single-threaded worker process per core, bound to 127.0.0.1, no dashboard) is started for
the run and closed after it.

What travels where:
- a task is `cloudpickle.dumps((execute_step_portable, StepTask))`, made here, so functions
  defined in `__main__`, closures and lambdas work, and a step that cannot be shipped fails with
  an error naming it before anything is sent (`check_shippable` checks whole runs up front);
- workers load their inputs from the artifact store and write their outputs there themselves;
  only the small `StepResult` (artifact ids, URIs, hashes, timings, error) comes back. Artifact
  data never passes through the Dask scheduler or this process;
- workers never write metadata: the orchestrator records every result (one writer per run).

Grouping tiny branches: Dask costs roughly a millisecond per task, more than a no-op step. The
dispatcher thread sends the steps handed to it in groups (one Dask task runs several steps one
after the other and returns one result per step), sized from the measured duration of that
step's earlier runs so that a group takes about `TARGET_GROUP_S`, never more than
`MAX_GROUP_SIZE` steps, and never so large that a worker thread would stay idle. Every step in a
group is still executed, retried, cached and recorded on its own.

Back-pressure: the orchestrator hands at most `dispatch_window` steps to this executor at a time,
so a 100,000-branch map never puts 100,000 futures on the scheduler. Constructed with
`max_parallelism=0` (the registry's default for `dask`), the cluster's worker threads bound the
run and are reported as `max_parallelism`.

Start reports (`watch_starts`): a worker publishes a small event on this executor's topic as it
begins each step of a group; the client's event loop turns it into the listener's call. A step
whose result arrives before its start event is reported just before its future settles, so
every step that ran is reported exactly once.

Logs: each step's output is captured on the worker and stored with the step, as with threads.
The worker's `sys.stdout`/`sys.stderr` are replaced (once per worker process) by streams that
send each line as a Dask event on a topic of this executor; the orchestrator subscribes to it and
prints the lines as they arrive (prefixed with the step's name).

Faults: a worker that dies while running a task is noticed by the scheduler, which runs the task
again on another worker (Dask's `distributed.scheduler.allowed-failures`, 3 by default); after
that the step fails with `WorkerDiedError` naming it. If the scheduler goes away the client's
futures are cancelled and the steps still running fail with `DaskClusterError`: the run fails
and can be resumed. `shutdown(wait=False)` (Ctrl-C, SIGTERM, a failed run) cancels everything
still queued on the cluster.

Resources: a step's `resources={"GPU": 1}` become Dask resource restrictions; a step asking for a
resource that no worker offers fails at once with a clear error instead of waiting forever.

This module imports `distributed` only when an executor is created.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import pickle
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any, ClassVar

import cloudpickle

from fanflow.exceptions import FanflowError, ResourceUnavailableError
from fanflow.execution.executors.base import StartListener
from fanflow.execution.executors.dask_worker import (
    _probe_on_worker,
    _publish_token,
    _read_token,
    run_group,
)
from fanflow.execution.process_worker import TaskKilledError, WorkerDiedError
from fanflow.ids import new_id

if TYPE_CHECKING:
    from fanflow.config import Settings
    from fanflow.spec import Invocation

__all__ = [
    "DaskClusterError",
    "DaskExecutor",
    "StepShippingError",
    "WorkerDiedError",
    "local_cluster",
]

logger = logging.getLogger("fanflow")

TARGET_GROUP_S = 0.05
"""How long one Dask task running a group of tiny steps should take."""

MAX_GROUP_SIZE = 256
CONNECT_TIMEOUT_S = 10.0
"""How long to try reaching the scheduler at run start (`FANFLOW_DASK_CONNECT_TIMEOUT`)."""
LOCAL_WINDOW = 1024
"""Steps handed to the executor at once when the run sets no `max_parallelism`."""

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


def _connect_timeout() -> float:
    raw = os.environ.get("FANFLOW_DASK_CONNECT_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else CONNECT_TIMEOUT_S
    except ValueError:
        raise ValueError(
            f"FANFLOW_DASK_CONNECT_TIMEOUT must be a number of seconds, got {raw!r}"
        ) from None


class DaskClusterError(FanflowError, RuntimeError):
    """The Dask cluster cannot be used: the scheduler is unreachable or went away, or its
    workers cannot read and write the artifact store."""


class StepShippingError(FanflowError, TypeError):
    """A step's function or parameters cannot be pickled to send them to the Dask workers."""


class _Item:
    """One step handed to the executor: its future, its pickled task, how to group it."""

    __slots__ = ("future", "group", "label", "payload", "resources", "started", "step_key")

    def __init__(
        self,
        future: Future[Any],
        payload: bytes,
        label: str,
        group: str,
        resources: tuple[tuple[str, float], ...],
        step_key: str | None,
    ) -> None:
        self.future = future
        self.payload = payload
        self.step_key = step_key  # the step definition, pickled once, travels beside the task
        self.label = label  # the step's invocation id, for errors
        self.group = group  # items of one group may share a Dask task: the same step
        self.resources = resources
        self.started = False  # its start was reported to the listener


def _settle(future: Future[Any], error: BaseException | None = None, result: Any = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled meanwhile
        pass


def _describe(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, str, Mapping[str, Any]]:
    """(label, group, resources) of a submitted call: a step task's invocation id, step name and
    declared resources; for anything else the function's name."""
    task = args[0] if args else None
    invocation_id = getattr(task, "invocation_id", None)
    step = getattr(task, "step", None)
    if invocation_id is not None and step is not None:
        return invocation_id, f"step:{step.name}", step.config.resources
    name = getattr(fn, "__qualname__", repr(fn))
    return name, f"fn:{name}", {}


class DaskExecutor:
    """Runs submitted functions on a Dask cluster; see the module docstring."""

    name: ClassVar[str] = "dask"
    ships_functions_by_value: ClassVar[bool] = True
    can_kill: ClassVar[bool] = False  # Dask cannot stop a running task; queued ones are cancelled
    is_remote: ClassVar[bool] = True

    def __init__(self, max_parallelism: int, settings: Settings) -> None:
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise DaskClusterError(
                'orchestrator="dask" needs Dask\'s distributed scheduler: '
                'pip install "fanflow[dask]"'
            ) from exc
        self._distributed = distributed
        self._address = settings.dask_address
        self._cluster: Any = None
        self._client = self._connect(settings)
        self._listener: StartListener | None = None
        self._by_key: dict[str, list[_Item]] = {}  # Dask key -> the steps its task runs
        self._lock = threading.Condition()
        try:
            self._topic = f"fanflow-log-{os.getpid()}-{id(self):x}-{time.time_ns()}"
            self._client.subscribe_topic(self._topic, self._on_event)
            self._nthreads = max(1, sum(self._client.nthreads().values()))
            if self._address:
                _probe_store(
                    self._client,
                    settings.artifact_root,
                    settings.artifact_storage_options,
                    self._address,
                )
        except BaseException:
            self._close_cluster()
            raise
        self._max_running = max_parallelism if max_parallelism > 0 else None
        self.max_parallelism = max_parallelism if max_parallelism > 0 else self._nthreads
        self.dispatch_window = 4 * max_parallelism if max_parallelism > 0 else LOCAL_WINDOW
        self.resource_limits: dict[str, float] | None = None  # workers' resources place steps
        self._pending: deque[_Item] = deque()
        self._batches: dict[Any, list[_Item]] = {}  # Dask future -> the steps it runs
        self._durations: dict[str, float] = {}  # group -> smoothed seconds per step
        self._checked_resources: dict[tuple[tuple[str, float], ...], str | None] = {}
        self._shipped: set[int] = set()  # ids of step definitions known to pickle
        self._step_blobs: dict[int, tuple[Any, str, bytes]] = {}  # id -> (step, key, pickle)
        self._blob_by_key: dict[str, bytes] = {}
        self._closed = False
        self._submitted = 0
        self._dispatch_done = False
        self._keys = itertools.count()
        self._completed = distributed.as_completed(
            with_results=True, raise_errors=False, loop=self._client.loop
        )
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="fanflow-dask-dispatch", daemon=True
        )
        self._collector = threading.Thread(
            target=self._collect_loop, name="fanflow-dask-collect", daemon=True
        )
        self._dispatcher.start()
        self._collector.start()

    # --- connecting ---------------------------------------------------------------------------

    def _connect(self, settings: Settings) -> Any:
        distributed = self._distributed
        if self._address:
            timeout = _connect_timeout()
            try:
                return distributed.Client(self._address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise DaskClusterError(
                    f"Cannot reach the Dask scheduler at {self._address} (FANFLOW_DASK_ADDRESS) "
                    f"within {timeout:g} s: {type(exc).__name__}: {exc}. Start one "
                    "with `dask scheduler` and `dask worker <address>`, or unset "
                    "FANFLOW_DASK_ADDRESS to run on a local cluster."
                ) from exc
        self._cluster = local_cluster(resources=dict(settings.resources))
        try:
            return distributed.Client(self._cluster, set_as_default=False)
        except BaseException:
            self._cluster.close()
            raise

    @property
    def tasks_submitted(self) -> int:
        """How many Dask tasks this executor has submitted (a group of steps is one)."""
        return self._submitted

    @property
    def client(self) -> Any:
        """The `distributed.Client` this executor submits through."""
        return self._client

    # --- checks before anything runs ----------------------------------------------------------

    def check_shippable(self, invocations: Iterable[Invocation]) -> None:
        """Raise `StepShippingError` naming the first step whose function (with what it closes
        over) or parameters cannot be pickled for the workers. Each step definition is checked
        once per executor; parameters are checked per invocation."""
        for inv in invocations:
            step = inv.step
            if id(step) not in self._shipped:
                try:
                    self._step_blob(step)  # pickled once; the tasks then refer to it
                except Exception as exc:
                    raise StepShippingError(
                        f"Step `{inv.id}` cannot be sent to the Dask workers: its function "
                        f"{step.source} (or something it refers to, or one of its hooks) cannot "
                        f"be pickled: {type(exc).__name__}: {exc}. Move what cannot be pickled "
                        "(locks, open files, connections) into the step's body."
                    ) from exc
                self._shipped.add(id(step))
            for name, value in inv.parameters.items():
                try:
                    cloudpickle.dumps(value, protocol=_PICKLE_PROTOCOL)
                except Exception as exc:
                    raise StepShippingError(
                        f"Step `{inv.id}` cannot be sent to the Dask workers: its parameter "
                        f"{name!r} (a {type(value).__qualname__}) cannot be pickled: "
                        f"{type(exc).__name__}: {exc}."
                    ) from exc

    # --- the executor protocol ----------------------------------------------------------------

    def watch_starts(self, listener: StartListener) -> None:
        self._listener = listener

    def _on_event(self, event: tuple[float, Any]) -> None:
        """A worker's event on this executor's topic (the client's event loop thread): a step
        started (`{"b": key, "i": position}`) or a line a step printed."""
        _, message = event
        if isinstance(message, dict) and "b" in message:
            with self._lock:
                batch = self._by_key.get(message["b"])
            if batch is not None and 0 <= message.get("i", -1) < len(batch):
                self._report_start(batch[message["i"]])
            return
        _echo(event)

    def _report_start(self, item: _Item) -> None:
        """Tell the listener once that `item`'s body began (any thread)."""
        with self._lock:
            if item.started:
                return
            item.started = True
        listener = self._listener
        if listener is not None:
            with contextlib.suppress(Exception):  # a listener's bug must not break the client
                listener(item.future)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Queue `fn(*args)` for the cluster. A function or arguments that cannot be pickled
        give a future failed with `StepShippingError`."""
        future: Future[Any] = Future()
        label, group, resources = _describe(fn, args)
        step = getattr(args[0], "step", None) if args else None
        try:
            step_key = self._step_blob(step) if step is not None else None
            buffer = io.BytesIO()
            _TaskPickler(buffer, step, step_key).dump((fn, args))
            payload = buffer.getvalue()
        except Exception as exc:
            error = StepShippingError(
                f"Cannot send `{label}` to the Dask workers: the function or its arguments "
                f"cannot be pickled ({type(exc).__name__}: {exc})."
            )
            error.__cause__ = exc
            future.set_running_or_notify_cancel()
            future.set_exception(error)
            return future
        item = _Item(future, payload, label, group, tuple(sorted(resources.items())), step_key)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to an executor that was shut down")
            self._pending.append(item)
            self._lock.notify_all()
        return future

    def _step_blob(self, step: Any) -> str:
        """Pickle a step definition once per executor; tasks refer to it by key, so a map of
        10,000 branches pickles (and the worker unpickles) its function once, not 10,000 times."""
        entry = self._step_blobs.get(id(step))
        if entry is None or entry[0] is not step:
            _by_value_if_unimportable(getattr(step, "func", None))
            key = f"{new_id()}-{getattr(step, 'name', '?')}"
            entry = (step, key, cloudpickle.dumps(step, protocol=_PICKLE_PROTOCOL))
            self._step_blobs[id(step)] = entry
            self._blob_by_key[key] = entry[2]
        return entry[1]

    def cancel(self, future: Future[Any]) -> bool:
        """Cancel a step not yet sent to the cluster."""
        return future.cancel()

    def kill(self, future: Future[Any], error: BaseException | None = None) -> bool:
        """Dask cannot stop a running task: only a step still waiting here is cancelled."""
        with self._lock:
            for item in self._pending:
                if item.future is future:
                    self._pending.remove(item)
                    break
            else:
                return False
        if future.cancel():
            return True
        _settle(future, error or TaskKilledError("the step was cancelled before it was sent"))
        return True

    def shutdown(self, wait: bool = True) -> None:
        """Accept no more work. `wait=True` lets queued and running steps finish first;
        `wait=False` cancels them (on the cluster too). Closes the client, and the local
        cluster if this executor started one."""
        with self._lock:
            if self._closed and not self._dispatcher.is_alive() and not self._collector.is_alive():
                return
            self._closed = True
            dropped: list[_Item] = []
            if not wait:
                dropped = list(self._pending)
                self._pending.clear()
            self._lock.notify_all()
        for item in dropped:
            if not item.future.cancel():
                _settle(item.future, TaskKilledError("the run stopped before the step was sent"))
        if wait:
            self._dispatcher.join()
            self._collector.join()
        else:
            with self._lock:
                running = dict(self._batches)
            if running:
                with contextlib.suppress(Exception):
                    self._client.cancel(list(running), force=True)
            for items in running.values():
                for item in items:
                    _settle(
                        item.future,
                        TaskKilledError(
                            f"`{item.label}` was cancelled on the Dask cluster: the run stopped"
                        ),
                    )
        self._close_cluster()

    def _close_cluster(self) -> None:
        with contextlib.suppress(Exception):
            self._client.unsubscribe_topic(self._topic)
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
            self._cluster = None

    # --- dispatching groups -------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        try:
            while True:
                items = self._take_pending()
                if items is None:
                    return
                for batch in self._groups(items):
                    self._send(batch)
        except BaseException as exc:  # a bug here must not leave futures hanging
            logger.exception("The Dask dispatcher failed.")
            self._fail_all(exc)
        finally:
            with self._lock:
                self._dispatch_done = True
                self._lock.notify_all()

    def _take_pending(self) -> list[_Item] | None:
        """Wait for work; then let a burst of submissions arrive (up to ~20 ms) so it can be
        grouped; respect the running bound when the run set `max_parallelism`."""
        with self._lock:
            while True:
                if self._pending and (
                    self._max_running is None or len(self._batches) < self._max_running
                ):
                    break
                if self._closed and not self._pending:
                    return None
                self._lock.wait()
        deadline = time.monotonic() + 0.02
        seen = -1
        while time.monotonic() < deadline:
            with self._lock:
                count = len(self._pending)
            if count == seen:
                break
            seen = count
            time.sleep(0.001)
        with self._lock:
            if self._max_running is not None:
                room = self._max_running - len(self._batches)
                taken = [self._pending.popleft() for _ in range(min(room, len(self._pending)))]
            else:
                taken = list(self._pending)
                self._pending.clear()
        return taken

    def _groups(self, items: list[_Item]) -> list[list[_Item]]:
        by_group: dict[tuple[str, tuple[tuple[str, float], ...]], list[_Item]] = {}
        for item in items:
            if item.future.set_running_or_notify_cancel():
                by_group.setdefault((item.group, item.resources), []).append(item)
        batches: list[list[_Item]] = []
        for (group, _), members in by_group.items():
            size = 1 if self._max_running is not None else self._group_size(group, len(members))
            batches.extend(members[i : i + size] for i in range(0, len(members), size))
        return batches

    def _group_size(self, group: str, waiting: int) -> int:
        """As many steps as take about `TARGET_GROUP_S` by their measured duration (4 while
        nothing is measured yet), but small enough that every worker thread has work."""
        duration = self._durations.get(group)
        if duration is None:
            wanted = 1 if waiting <= 4 * self._nthreads else 4
        else:
            wanted = int(TARGET_GROUP_S / max(duration, 1e-6))
        with self._lock:
            idle_slots = 2 * self._nthreads - len(self._batches)
        if idle_slots > 0:
            wanted = min(wanted, max(1, waiting // idle_slots))
        return max(1, min(wanted, MAX_GROUP_SIZE))

    def _send(self, batch: list[_Item]) -> None:
        resources = dict(batch[0].resources)
        if resources:
            problem = self._resource_problem(batch[0].resources)
            if problem is not None:
                for item in batch:
                    _settle(
                        item.future,
                        ResourceUnavailableError(
                            f"Step `{item.label}` asks for resources {resources} but {problem}"
                        ),
                    )
                return
        key = f"fanflow-{batch[0].group.split(':', 1)[1]}-{next(self._keys)}-{id(self):x}"
        try:
            steps = {i.step_key: self._blob_by_key[i.step_key] for i in batch if i.step_key}
            with self._lock:
                self._by_key[key] = batch  # before submitting: its first start may come at once
            future = self._client.submit(
                run_group,
                self._topic,
                [item.payload for item in batch],
                steps,
                key,
                key=key,
                pure=False,
                resources=resources or None,
            )
        except Exception as exc:
            with self._lock:
                self._by_key.pop(key, None)
            error = DaskClusterError(f"Could not submit to the Dask cluster: {exc}")
            for item in batch:
                _settle(item.future, error)
            return
        with self._lock:
            self._submitted += 1
            self._batches[future] = batch
            self._completed.add(future)
            self._lock.notify_all()

    def _resource_problem(self, wanted: tuple[tuple[str, float], ...]) -> str | None:
        if wanted not in self._checked_resources:
            workers = self._client.scheduler_info().get("workers", {})
            offered = [info.get("resources") or {} for info in workers.values()]
            fits = any(all(have.get(k, 0) >= v for k, v in wanted) for have in offered)
            self._checked_resources[wanted] = (
                None
                if fits
                else (
                    f"no worker of the Dask cluster offers them (workers offer "
                    f"{[dict(o) for o in offered] or 'no resources'}). Start workers with "
                    '`dask worker <scheduler> --resources "GPU=1"`, or set FANFLOW_RESOURCES '
                    "(e.g. GPU=1) for the local cluster's workers."
                )
            )
        return self._checked_resources[wanted]

    # --- collecting results -------------------------------------------------------------------

    def _collect_loop(self) -> None:
        try:
            while True:
                with self._lock:
                    while not self._batches and not self._dispatch_done:
                        self._lock.wait()
                    if not self._batches:
                        return
                try:
                    done = self._completed.next_batch(block=True)
                except StopIteration:
                    continue
                for future, outcome in done:
                    self._finish(future, outcome)
        except BaseException as exc:
            logger.exception("The Dask result collector failed.")
            self._fail_all(exc)

    def _finish(self, future: Any, outcome: Any) -> None:
        with self._lock:
            batch = self._batches.pop(future, None)
            self._by_key.pop(future.key, None)
            self._lock.notify_all()
        if batch is None:
            return
        status = future.status
        future.release()
        if status == "finished":
            for item, (ok, value, seconds) in zip(batch, outcome, strict=True):
                self._report_start(item)  # its start event may still be on its way
                self._learn(item.group, seconds)
                if ok:
                    _settle(item.future, result=value)
                else:
                    _settle(item.future, _with_remote_traceback(value))
            return
        error = self._batch_error(status, outcome)
        for item in batch:
            _settle(item.future, _for_step(error, item.label))

    def _learn(self, group: str, seconds: float) -> None:
        old = self._durations.get(group)
        self._durations[group] = seconds if old is None else 0.8 * old + 0.2 * seconds

    def _batch_error(self, status: str, outcome: Any) -> BaseException:
        if status == "error":
            exc = outcome[1] if isinstance(outcome, tuple) and len(outcome) > 1 else outcome
            if type(exc).__name__ == "KilledWorker":
                died = WorkerDiedError(
                    f"the Dask worker(s) running it died (the scheduler gave up after "
                    f"{exc}); a crash, `os._exit`, or the out-of-memory killer"
                )
                died.__cause__ = exc
                return died
            if isinstance(exc, BaseException):
                return exc
            return RuntimeError(f"the Dask task failed: {exc!r}")
        if self._closed:
            return TaskKilledError("cancelled on the Dask cluster: the run stopped")
        lost = DaskClusterError(
            f"the Dask cluster lost the task ({status}): the scheduler "
            f"{self._address or 'of the local cluster'} is gone or restarted. The run can be "
            "resumed."
        )
        if isinstance(outcome, BaseException):
            lost.__cause__ = outcome
        return lost

    def _fail_all(self, exc: BaseException) -> None:
        with self._lock:
            self._closed = True
            items = list(self._pending) + [i for b in self._batches.values() for i in b]
            self._pending.clear()
            self._batches.clear()
            self._lock.notify_all()
        error = DaskClusterError(f"The Dask executor failed: {type(exc).__name__}: {exc}")
        for item in items:
            _settle(item.future, error)


def _for_step(error: BaseException, label: str) -> BaseException:
    """The batch-level error, worded for one step (the runner records it against the step)."""
    if isinstance(error, (WorkerDiedError, DaskClusterError, TaskKilledError)):
        worded = type(error)(f"Step `{label}`: {error}")
        worded.__cause__ = error.__cause__
        return worded
    return error


def _with_remote_traceback(value: Any) -> BaseException:
    from fanflow.execution.process_worker import RemoteTraceback

    exc, text = value
    if not isinstance(exc, BaseException):
        exc = RuntimeError(f"The worker sent a malformed error: {exc!r}")
    if exc.__cause__ is None and text:
        exc.__cause__ = RemoteTraceback(text)
    return exc  # type: ignore[no-any-return]


def _echo(event: tuple[float, Any]) -> None:
    """Print a line a step printed on a worker (runs on the client's event loop thread)."""
    _, message = event
    try:
        stream = sys.stderr if message.get("s") == "err" else sys.stdout
        stream.write(message.get("t", ""))
        stream.flush()
    except Exception:  # a closed console must not break the client
        pass


# --- the local cluster ----------------------------------------------------------------------

def local_cluster(
    n_workers: int | None = None, resources: Mapping[str, float] | None = None
) -> Any:
    """The `distributed.LocalCluster` a run without `FANFLOW_DASK_ADDRESS` starts: one
    single-threaded worker process per core (`n_workers`), on 127.0.0.1, no dashboard, the
    workers' `resources`, and workers that never re-run the user's script (`_nanny_class`).
    The caller closes it."""
    import distributed

    return distributed.LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # no dashboard; the scheduler's small HTTP server (health checks) on loopback too
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        resources=dict(resources) if resources else None,
        worker_class=_nanny_class(),
    )


# --- local cluster workers never re-run the user's script ------------------------------------

_NANNY_CLASS: Any = None
_hidden_depth = 0
_saved_main: Any = None


def _nanny_class() -> Any:
    """A `distributed.Nanny` that hides the main module while it starts a worker process.

    Spawned workers otherwise import the parent's `__main__` again (multiprocessing's spawn),
    re-running a pipeline script that has no `if __name__ == "__main__":` guard. Without
    `__file__`/`__spec__` on `__main__` the child imports nothing of the user's; step functions
    from `__main__` travel by value with cloudpickle anyway. Covers restarts of a worker that
    died, too. Nannies of one cluster share its event loop thread, so a depth counter (not a
    lock, which could not be held across `await`) keeps the main module hidden while any of
    them is starting."""
    global _NANNY_CLASS
    if _NANNY_CLASS is None:
        import types

        from distributed import Nanny

        class FanflowNanny(Nanny):  # type: ignore[misc]
            async def instantiate(self) -> Any:
                global _hidden_depth, _saved_main
                main = sys.modules.get("__main__")
                if (
                    _hidden_depth == 0
                    and main is not None
                    and (getattr(main, "__file__", None) or getattr(main, "__spec__", None))
                ):
                    stand_in = types.ModuleType("__main__")
                    stand_in.__dict__.update(
                        {k: v for k, v in vars(main).items() if k not in _MAIN_FILE_ATTRS}
                    )
                    stand_in.__spec__ = None
                    _saved_main = main
                    sys.modules["__main__"] = stand_in
                _hidden_depth += 1
                try:
                    return await super().instantiate()
                finally:
                    _hidden_depth -= 1
                    if _hidden_depth == 0 and _saved_main is not None:
                        sys.modules["__main__"] = _saved_main
                        _saved_main = None

        _NANNY_CLASS = FanflowNanny
    return _NANNY_CLASS


_MAIN_FILE_ATTRS = ("__file__", "__cached__", "__spec__", "__loader__")


# --- pickling tasks -------------------------------------------------------------------------


def _by_value_if_unimportable(func: Any) -> None:
    """A function from a module that workers cannot import by name (a script loaded from its
    path under a made-up name, as `run.resume()` does for a `__main__` script) must travel by
    value, like functions from `__main__` do."""
    name = getattr(func, "__module__", None)
    module = sys.modules.get(name) if isinstance(name, str) else None
    if module is None or not isinstance(name, str) or name == "__main__":
        return
    spec_name = getattr(getattr(module, "__spec__", None), "name", None)
    if name.startswith("__") or spec_name != name:
        with contextlib.suppress(Exception):
            cloudpickle.register_pickle_by_value(module)


class _TaskPickler(cloudpickle.Pickler):  # type: ignore[misc]
    """Pickles a task with its step definition replaced by a key (see `_step_blob`)."""

    def __init__(self, file: Any, step: Any, step_key: str | None) -> None:
        super().__init__(file, protocol=_PICKLE_PROTOCOL)
        self._step = step
        self._step_key = step_key

    def persistent_id(self, obj: Any) -> str | None:
        if obj is self._step and self._step is not None:
            return self._step_key
        return None


def _probe_store(
    client: Any, root: str, storage_options: dict[str, Any], address: str
) -> None:
    """Refuse at run start a store the workers cannot share (a local folder on this machine
    with workers elsewhere): every worker must read an artifact published here, and publish
    one this process can read. The workers are asked with one `Client.run` broadcast, not
    tasks: a task per worker costs scheduling and a result fetch each (~20 ms against ~2)."""
    from fanflow.artifacts.store import artifact_store_for

    store = artifact_store_for(root, storage_options)
    token = new_id()
    marker = store.uri_for("probes", token, "orchestrator")
    _publish_token(store, marker, token)
    problems: list[str] = []
    try:
        workers = list(client.scheduler_info().get("workers", {}))
        replies = {w: store.uri_for("probes", token, f"worker-{i}") for i, w in enumerate(workers)}
        answers: dict[str, Any] = {}
        if not workers:
            problems.append("the cluster has no workers")
        else:
            answers = client.run(
                _probe_on_worker,
                root,
                storage_options,
                marker,
                token,
                replies,
                workers=workers,
                on_error="return",
            )
        for worker in workers:
            if worker not in answers:
                problems.append(f"{worker}: did not answer (it left the cluster?)")
                continue
            answer = answers[worker]
            if isinstance(answer, BaseException):
                answer = f"{type(answer).__name__}: {answer}"
            elif answer is None and _read_token(store, replies[worker]) != token:
                answer = f"published {replies[worker]}, which this process cannot read"
            if answer is not None:
                problems.append(f"{worker}: {answer}")
    finally:
        with contextlib.suppress(Exception):
            remove = getattr(store, "rmtree", None)
            if remove is not None:
                remove(os.path.dirname(marker))
    if problems:
        raise DaskClusterError(
            f"The workers of the Dask cluster at {address} cannot use the artifact store "
            f"{root}: {'; '.join(problems)}. A local folder works only when every worker shares "
            "this machine's file system (as a local cluster does); set FANFLOW_ARTIFACT_ROOT to "
            "a store every worker can reach."
        )
