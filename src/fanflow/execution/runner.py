"""The orchestrator: runs a pipeline's invocations and is the single writer of its records.

One loop. Each turn it takes what has happened (finished tasks, invocations added by a dynamic
pipeline function, requests to split an artifact for `.map`), updates the scheduler state,
takes ready invocations up to the parallelism bound (and each step's own concurrency bound),
looks them up in the cache, writes everything in one transaction and only then hands the new
work to the executor and wakes whoever waits for finished invocations. No waves, no polling,
no rescans.

Static pipelines add all invocations up front and run the loop in the caller's thread. Dynamic
pipelines run the loop in a background thread while the pipeline function, in the caller's
thread, adds invocations through `post(...)` and waits on handles.

Invariants:
- a step is recorded (`running` or `cached`) before its function starts, and its result
  (status, outputs) is committed before any dependent is dispatched, so a step that reads the
  Client sees its upstreams' outputs;
- workers never write metadata; everything they produce comes back in a `StepResult`;
- whatever happens (a step fails, the orchestrator raises, Ctrl-C), the run ends with a final
  status and every finished step's record intact.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from fanflow.artifacts.items import SplitResult
from fanflow.artifacts.store import ArtifactStore, artifact_store_for
from fanflow.config import Settings, default_max_parallelism
from fanflow.enums import ExecutionStatus
from fanflow.exceptions import EntityExistsError, StepExecutionException, StepTimeoutError
from fanflow.execution import cache, leftovers, recording
from fanflow.execution.executors import Executor, make_executor
from fanflow.execution.hooks import ObserverGroup, ensure_console_logging
from fanflow.execution.known import (
    ArtifactInput,
    InvocationHandle,
    KnownArtifact,
    Resolutions,
    SplitRequest,
)
from fanflow.execution.progress import default_observers
from fanflow.execution.run_setup import (
    FAILURE_POLICIES,
    RunDescription,
    RunOutcome,
    format_run_name,
    planned_spec,
    run_config,
    run_name_template,
)
from fanflow.execution.state import NodeStatus, SchedulerState
from fanflow.execution.supervision import (
    Heartbeat,
    graceful_interrupts,
    heartbeat_interval,
    stop_grace_period,
)
from fanflow.execution.worker import (
    SplitTask,
    StepResult,
    StepTask,
    execute_step,
    execute_step_portable,
    split_artifact,
)
from fanflow.ids import new_id, utcnow
from fanflow.metadata.records import InputLink, NewArtifactVersion, StepFinish, StepStart
from fanflow.metadata.store import MetadataStore
from fanflow.spec import ExternalArtifactRef, Invocation, ListRef, OutputRef


class _Close:
    """Posted by the pipeline thread when the dynamic pipeline function has returned."""


class Orchestrator:
    """Runs one pipeline run to the end and records everything it does."""

    def __init__(
        self,
        description: RunDescription,
        settings: Settings,
        *,
        unlisted: bool = False,
        observers: Sequence[Any] | None = None,
        reuse: dict[str, tuple[str, dict[str, Any]]] | None = None,
        original_run_id: str | None = None,
    ) -> None:
        if description.failure_policy not in FAILURE_POLICIES:
            raise ValueError(
                f"execution_mode must be one of {FAILURE_POLICIES}, got "
                f"{description.failure_policy!r}"
            )
        self.description = description
        self.settings = settings
        self.unlisted = unlisted
        self.store = MetadataStore(settings.metadata_url)
        self.artifact_store: ArtifactStore = artifact_store_for(
            settings.artifact_root, settings.artifact_storage_options
        )
        options = description.options
        self.mode = options.orchestrator or settings.orchestrator
        self.max_parallelism = (
            options.max_parallelism or settings.max_parallelism or default_max_parallelism()
        )
        if self.mode == "sequential":
            self.max_parallelism = 1
        # Work handed to the pool beyond its threads waits in the pool's queue; a deeper window
        # makes each turn of the loop (one transaction) carry more steps when steps are tiny.
        self.window = self.max_parallelism * (1 if self.mode == "sequential" else 4)
        self.heartbeat_interval = heartbeat_interval()
        self._step_function = execute_step_portable if self.mode == "processes" else execute_step
        ensure_console_logging(settings.logging_verbosity)
        self.observers = ObserverGroup(
            list(observers) if observers is not None else default_observers()
        )
        self.state = SchedulerState(depth_first=description.dynamic)
        self.invocations: dict[str, Invocation] = {}
        self.outputs: dict[str, dict[str, KnownArtifact]] = {}
        self.external: dict[str, KnownArtifact] = {}
        self.handles: dict[str, InvocationHandle] = {}
        self.resolutions = Resolutions()
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.running: dict[Future[Any], StepTask | SplitTask] = {}
        self.split_requests: dict[Future[Any], SplitRequest] = {}
        self.running_by_step: dict[str, int] = {}
        self.parked: dict[str, deque[str]] = {}
        self.cached: set[str] = set()
        self.failures: list[tuple[str, BaseException | None, str | None]] = []
        self.stopping = False
        self.closed = not description.dynamic
        self.loop_error: BaseException | None = None
        self.run_id = new_id()
        self.run_name = ""
        self.run_start = utcnow()
        self._executor: Executor | None = None
        self._started = 0.0
        self._pending_versions: list[NewArtifactVersion] = []
        self._pending_starts: list[StepStart] = []
        self._pending_finishes: list[StepFinish] = []
        self._resolved: list[Any] = []
        # resuming: completed step runs of the earlier run, by cache key
        self.reuse = reuse or {}
        self.original_run_id = original_run_id
        self.deadlines: dict[Future[Any], float] = {}
        self.stop_deadline: float | None = None
        self.interrupted = False
        self.abandoned = False
        self._heartbeat: Heartbeat | None = None

    # --- run lifecycle -----------------------------------------------------------------------

    def open(self, step_count: int | None = None) -> None:
        """Record the run as started."""
        self._create_run_record()
        self._started = time.perf_counter()
        self.observers.emit("run_started", self.run_name, self.description.name, step_count)
        self._executor = make_executor(self.mode, self.max_parallelism)
        leftovers.start_of_run(self.artifact_store, self.store, self.run_id)
        self._heartbeat = Heartbeat(
            lambda: self.store.heartbeat(self.run_id), self.heartbeat_interval
        ).start()

    def close(self, error: BaseException | None = None) -> RunOutcome:
        """Wait for nothing more; record the run's final status."""
        leftovers.end_of_run(self.artifact_store, self.run_id)
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self._executor is not None:
            # Steps given up on (timeouts, fail_fast) may still occupy threads: do not wait.
            self._executor.shutdown(wait=not self.abandoned)
        error_text: str | None
        if self.interrupted or isinstance(error, KeyboardInterrupt):
            status = ExecutionStatus.STOPPED
            error_text = "stopped by Ctrl-C" if error is None else f"{type(error).__name__}"
        elif error is not None:
            status = ExecutionStatus.FAILED
            error_text = f"{type(error).__name__}: {error}"
        else:
            status = self._final_status()
            error_text = (
                "; ".join(f"{inv_id}: {text}" for inv_id, _, text in self.failures)
                if self.failures
                else None
            )
        self.store.finish_run(self.run_id, status.value, error_text)
        self.observers.emit(
            "run_finished", self.run_name, status.value, time.perf_counter() - self._started
        )
        return RunOutcome(
            self.run_id,
            self.run_name,
            status.value,
            list(self.failures),
            self.state.nodes_with(NodeStatus.SKIPPED),
        )

    def run_static(self, invocations: Sequence[Invocation]) -> RunOutcome:
        """Run a fully known set of invocations in the calling thread."""
        self.open(len(invocations))
        try:
            self._add(list(invocations))
            self._flush()
            with graceful_interrupts(self.interrupt):
                self._loop()
        except BaseException as exc:
            self._abandon()
            self.close(exc)
            raise
        return self.close()

    def start_dynamic(self) -> threading.Thread:
        """Open the run and start the loop in a background thread."""
        self.open()
        thread = threading.Thread(
            target=self._dynamic_loop, name="fanflow-orchestrator", daemon=True
        )
        thread.start()
        return thread

    def _dynamic_loop(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported to the pipeline thread
            self.loop_error = exc
            with contextlib.suppress(BaseException):
                self._abandon()
        finally:
            for handle in self.handles.values():
                if not handle.done:
                    handle.error = handle.error or self.loop_error
                    handle.status = handle.status or "skipped"
                    handle.done = True
            self.resolutions.notify()

    def post(self, message: Any) -> None:
        """Hand a message to the loop (thread-safe): a list of invocations, a split, or close."""
        self.events.put(message)

    def close_dynamic(self) -> None:
        self.events.put(_Close())

    def interrupt(self) -> None:
        """First Ctrl-C: stop starting steps; running ones get a grace period. Signal-safe."""
        self.events.put(("interrupt",))

    def _create_run_record(self) -> None:
        description = self.description
        pipeline_name = description.name or "unlisted"
        template = run_name_template(description)
        substitutions = dict(description.options.substitutions)
        pipeline_id = None if self.unlisted else self.store.get_or_create_pipeline(pipeline_name)
        config = run_config(
            description, template, self.mode, self.max_parallelism, self.heartbeat_interval
        )
        for attempt in range(3):
            self.run_start = utcnow()
            self.run_name = format_run_name(template, pipeline_name, self.run_start, substitutions)
            try:
                self.store.create_run(
                    run_id=self.run_id,
                    name=self.run_name,
                    pipeline_id=pipeline_id,
                    config=config,
                    spec=planned_spec(description),
                    start_time=self.run_start,
                    pid=os.getpid(),
                    host=socket.gethostname(),
                    original_run_id=self.original_run_id,
                )
                return
            except EntityExistsError:
                if "{time}" not in template or attempt == 2:
                    raise

    def _final_status(self) -> ExecutionStatus:
        # A run whose every step was a cache hit is `completed` (its steps are `cached`), as
        # in ZenML.
        if self.failures:
            return ExecutionStatus.FAILED
        return ExecutionStatus.COMPLETED

    def _abandon(self) -> None:
        """The loop itself was interrupted (second Ctrl-C) or broke: record what finished,
        record running steps as stopped, start nothing and wait for nothing."""
        self.stopping = True
        with contextlib.suppress(Exception):  # best effort: the run is already ending
            self._process(self._drain())
            for future in list(self.running):
                if isinstance(self.running[future], StepTask):
                    self._give_up(future, None, "stopped")
            self._record_skipped(self.state.skip_unstarted() + self._drop_parked())
            self._flush()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    # --- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._dispatch_ready()
            self._flush()
            if not self.running and not self.state.ready_count and self.closed:
                return
            if self.running or not self.closed:
                self._process(self._drain(block=True))
            self._enforce_deadlines()

    def _drain(self, block: bool = False) -> list[Any]:
        items: list[Any] = []
        if block:
            wake = self._next_deadline()
            try:
                items.append(
                    self.events.get(
                        timeout=None if wake is None else max(0.0, wake - time.monotonic())
                    )
                )
            except queue.Empty:
                return items
        while True:
            try:
                items.append(self.events.get_nowait())
            except queue.Empty:
                return items

    def _process(self, items: list[Any]) -> None:
        finished = [item for item in items if isinstance(item, Future)]
        if finished:
            self._record_finished(finished)
        for item in items:
            if isinstance(item, _Close):
                self.closed = True
            elif item == ("stop",):
                self._stop()
            elif item == ("interrupt",):
                self.interrupted = True
                self._stop(grace=stop_grace_period())
                self.observers.emit("run_stopping", "Ctrl-C", self.stop_deadline)
            elif isinstance(item, SplitRequest):
                self._start_split(item)
            elif isinstance(item, tuple) and item and item[0] == "add":
                _, invocations, handles, externals = item
                self.handles.update(handles)
                self.external.update(externals)
                self._add(invocations)

    def _add(self, invocations: list[Invocation]) -> None:
        for inv in invocations:
            self.invocations[inv.id] = inv
        self.observers.emit("steps_added", [inv.id for inv in invocations])
        self._prefetch_external(invocations)
        skipped = self.state.add((inv.id, inv.upstream) for inv in invocations)
        if self.stopping:
            skipped.extend(self.state.skip_unstarted())
        self._record_skipped(skipped)

    def _flush(self) -> None:
        """Write what this turn produced in one transaction, then release it to the world."""
        if self._pending_finishes or self._pending_versions or self._pending_starts:
            self.store.record(
                finishes=self._pending_finishes,
                artifact_versions=self._pending_versions,
                starts=self._pending_starts,
            )
            self._pending_finishes, self._pending_versions, self._pending_starts = [], [], []
        if self._resolved:
            for action in self._resolved:
                action()
            self._resolved = []
            self.resolutions.notify()
        self.observers.emit("turn_finished")

    # --- dispatching -------------------------------------------------------------------------

    def _dispatch_ready(self) -> None:
        """Start ready work up to the run's bound and each step's own `max_concurrency`."""
        while True:
            capacity = self.window - len(self.running)
            if capacity <= 0:
                return
            batch = self._unparked(capacity)
            if len(batch) < capacity and self.state.ready_count:
                batch.extend(self._within_step_limits(self.state.take(capacity - len(batch))))
            if not batch:
                return
            self._dispatch(batch)

    def _step_has_room(self, step_name: str, limit: int | None) -> bool:
        return limit is None or self.running_by_step.get(step_name, 0) < limit

    def _within_step_limits(self, batch: list[str]) -> list[str]:
        allowed = []
        for inv_id in batch:
            step = self.invocations[inv_id].step
            if not self._step_has_room(step.name, step.config.max_concurrency):
                self.parked.setdefault(step.name, deque()).append(inv_id)
                continue
            self.running_by_step[step.name] = self.running_by_step.get(step.name, 0) + 1
            allowed.append(inv_id)
        return allowed

    def _unparked(self, capacity: int) -> list[str]:
        batch: list[str] = []
        for step_name, waiting in self.parked.items():
            while waiting and len(batch) < capacity:
                limit = self.invocations[waiting[0]].step.config.max_concurrency
                if not self._step_has_room(step_name, limit):
                    break
                batch.append(waiting.popleft())
                self.running_by_step[step_name] = self.running_by_step.get(step_name, 0) + 1
        return batch

    def _release_step_slot(self, step_name: str) -> None:
        self.running_by_step[step_name] = max(0, self.running_by_step.get(step_name, 1) - 1)

    def _dispatch(self, batch: list[str]) -> None:
        assert self._executor is not None
        now = utcnow()
        prepared = []
        keys: list[str] = []
        for inv_id in batch:
            inv = self.invocations[inv_id]
            artifact_inputs, links, identities = self._resolve_inputs(inv)
            key = cache.cache_key(inv.step, inv.parameters, identities)
            if key is not None and inv.enable_cache and key not in self.reuse:
                keys.append(key)
            prepared.append((inv, artifact_inputs, links, key))
        hits = self.store.find_cached(keys) if keys else {}
        hits.update((key, self.reuse[key]) for _, _, _, key in prepared if key in self.reuse)
        tasks: list[StepTask] = []
        for inv, artifact_inputs, links, key in prepared:
            step_run_id = new_id()
            hit = (
                self._usable_hit(inv, hits.get(key))
                if key and (inv.enable_cache or key in self.reuse)
                else None
            )
            start = StepStart(
                id=step_run_id,
                run_id=self.run_id,
                name=inv.id,
                step_name=inv.step.name,
                status="running",
                start_time=now,
                config=recording.step_config(inv),
                upstream=list(inv.upstream),
                inputs=links,
                cache_key=key,
                code_hash=cache.code_hash(inv.step) if key else None,
                source=inv.step.source,
                map_group=inv.map_group,
                map_index=inv.map_index,
            )
            if hit is not None:
                original_id, outputs = hit
                start.status = "cached"
                start.end_time = now
                start.original_step_run_id = original_id
                start.cached_outputs = [(name, known.id) for name, known in outputs.items()]
                self._complete_cached(inv, step_run_id, outputs)
            else:
                tasks.append(
                    StepTask(
                        run_id=self.run_id,
                        run_name=self.run_name,
                        pipeline_name=self.description.name,
                        step_run_id=step_run_id,
                        invocation_id=inv.id,
                        step=inv.step,
                        parameters=dict(inv.parameters),
                        artifact_inputs=artifact_inputs,
                        artifact_store=self.artifact_store,
                        metadata_url=self.settings.metadata_url,
                        run_start_time=self.run_start,
                        map_index=inv.map_index,
                        map_group=inv.map_group,
                        retry=inv.step.config.retry or self.description.options.retry,
                        on_failure=inv.step.config.on_failure or self._step_hook("on_failure"),
                        on_success=inv.step.config.on_success or self._step_hook("on_success"),
                        substitutions=dict(self.description.options.substitutions),
                        on_start=inv.step.config.on_start or self._step_hook("on_start"),
                        on_end=inv.step.config.on_end or self._step_hook("on_end"),
                    )
                )
            self._pending_starts.append(start)
        if tasks:
            self._flush()  # recorded before any of them runs
            for task in tasks:
                self.observers.emit("step_started", task.invocation_id)
                future = self._executor.submit(self._step_function, task)
                self.running[future] = task
                timeout = task.step.config.timeout
                if timeout is not None:
                    self.deadlines[future] = time.monotonic() + timeout
                future.add_done_callback(self.events.put)

    def _step_hook(self, kind: str) -> Any:
        """Static pipelines pass their hooks to every step (as ZenML does); dynamic ones run
        them once for the whole run instead."""
        if self.description.dynamic:
            return None
        return getattr(self.description.options, kind)

    def _complete_cached(
        self, inv: Invocation, step_run_id: str, outputs: dict[str, KnownArtifact]
    ) -> None:
        self.outputs[inv.id] = outputs
        self.cached.add(inv.id)
        self.state.complete(inv.id)
        self._release_step_slot(inv.step.name)
        self.observers.emit("step_cached", inv.id)
        self._resolve(inv.id, "cached", step_run_id, outputs)

    def _usable_hit(
        self, inv: Invocation, hit: tuple[str, dict[str, Any]] | None
    ) -> tuple[str, dict[str, KnownArtifact]] | None:
        if hit is None:
            return None
        original_id, outputs = hit
        expected = {output.name for output in inv.step.outputs}
        if set(outputs) != expected:
            return None
        known = {
            name: KnownArtifact(
                av.id, av.name, av.uri, av.materializer, av.data_type, av.content_hash
            )
            for name, av in outputs.items()
        }
        if not all(self.artifact_store.exists(k.uri) for k in known.values()):
            return None
        return original_id, known

    def _resolve_inputs(
        self, inv: Invocation
    ) -> tuple[
        dict[str, ArtifactInput | list[ArtifactInput]],
        list[InputLink],
        dict[str, list[tuple[str, str, str]]],
    ]:
        artifact_inputs: dict[str, ArtifactInput | list[ArtifactInput]] = {}
        links: list[InputLink] = []
        identities: dict[str, list[tuple[str, str, str]]] = {}
        for name, ref in inv.inputs.items():
            if isinstance(ref, ListRef):
                known_items = [self._known(item) for item in ref.items]
                artifact_inputs[name] = [k.as_input() for k in known_items]
                links.extend(InputLink(name, pos, True, k.id) for pos, k in enumerate(known_items))
                identities[name] = [k.cache_identity() for k in known_items]
            else:
                known = self._known(ref)
                artifact_inputs[name] = known.as_input()
                links.append(InputLink(name, 0, False, known.id))
                identities[name] = [known.cache_identity()]
        return artifact_inputs, links, identities

    def _known(self, ref: OutputRef | ExternalArtifactRef) -> KnownArtifact:
        if isinstance(ref, OutputRef):
            return self.outputs[ref.invocation_id][ref.output_name]
        return self.external[ref.artifact_version_id]

    def _prefetch_external(self, invocations: Sequence[Invocation]) -> None:
        wanted = {
            ref.artifact_version_id
            for inv in invocations
            for ref in inv.input_refs()
            if isinstance(ref, ExternalArtifactRef)
        } - set(self.external)
        if not wanted:
            return
        records = self.store.get_artifact_versions_by_ids(sorted(wanted))
        missing = wanted - set(records)
        if missing:
            raise KeyError(f"Input artifact version(s) {sorted(missing)} are not recorded.")
        from fanflow.artifacts.items import ITEM_MATERIALIZER, source_from_metadata

        for av_id, av in records.items():
            item = (
                source_from_metadata(av.uri, av.run_metadata)
                if av.materializer == ITEM_MATERIALIZER
                else None
            )
            self.external[av_id] = KnownArtifact(
                av.id, av.name, av.uri, av.materializer, av.data_type, av.content_hash, item
            )

    # --- splitting sequence artifacts for .map -------------------------------------------------

    def _start_split(self, request: SplitRequest) -> None:
        assert self._executor is not None
        if self.stopping:
            request.error = StepExecutionException(
                "The run is stopping after a failure; no new branches are started."
            )
            self._resolved.append(lambda: setattr(request, "done", True))
            return
        task = SplitTask(request.source.as_input(), self.artifact_store)
        future = self._executor.submit(split_artifact, task)
        self.running[future] = task
        self.split_requests[future] = request
        future.add_done_callback(self.events.put)

    def _finish_split(self, future: Future[SplitResult]) -> None:
        request = self.split_requests.pop(future)
        try:
            result = future.result()
        except BaseException as exc:
            request.error = exc
        else:
            versions, known = recording.item_records(request.source, result, self.run_id)
            self._pending_versions.extend(versions)
            for item in known:
                self.external[item.id] = item
            request.items = known
        self._resolved.append(lambda: setattr(request, "done", True))

    # --- recording results ------------------------------------------------------------------------

    def _record_finished(self, futures: list[Future[Any]]) -> None:
        results: list[StepResult] = []
        for future in futures:
            task = self.running.pop(future, None)
            self.deadlines.pop(future, None)
            if task is None:  # timed out or abandoned earlier: its late result is ignored
                continue
            if isinstance(task, SplitTask):
                self._finish_split(future)
                continue
            if future.cancelled():  # queued in the pool when the run stopped: never ran
                self._never_started(task)
                continue
            try:
                results.append(future.result())
            except BaseException as exc:  # the worker itself broke (or was interrupted)
                now = utcnow()
                results.append(
                    StepResult(
                        step_run_id=task.step_run_id,
                        invocation_id=task.invocation_id,
                        succeeded=False,
                        start_time=now,
                        end_time=now,
                        error=exc,
                        error_text=f"{type(exc).__name__}: {exc}",
                        traceback_text=None,
                    )
                )
        self._pending_finishes.extend(recording.finish_record(r, self.run_id) for r in results)
        for result in results:
            inv = self.invocations[result.invocation_id]
            duration = (result.end_time - result.start_time).total_seconds()
            if result.succeeded:
                outputs = recording.known_outputs(result)
                self.outputs[result.invocation_id] = outputs
                self.state.complete(result.invocation_id)
                self.observers.emit("step_finished", result.invocation_id, duration, None)
                self._resolve(result.invocation_id, "completed", result.step_run_id, outputs)
            else:
                self.failures.append((result.invocation_id, result.error, result.error_text))
                skipped = self.state.fail(result.invocation_id)
                self.observers.emit("step_finished", result.invocation_id, duration, result.error)
                self._resolve(
                    result.invocation_id,
                    "failed",
                    result.step_run_id,
                    {},
                    result.error,
                    result.error_text,
                )
                self._record_skipped(skipped)
                policy = self.description.failure_policy
                if policy == "stop_on_failure":
                    self._stop()
                elif policy == "fail_fast":
                    self._stop(grace=0.0)
            self._release_step_slot(inv.step.name)

    def _stop(self, grace: float | None = None) -> None:
        """Start nothing new; unstarted work is recorded as skipped. Running steps may finish,
        within `grace` seconds when given; after that they are recorded as stopped."""
        self.stopping = True
        self._record_skipped(self.state.skip_unstarted() + self._drop_parked())
        for future in list(self.running):
            future.cancel()  # only succeeds for work still waiting in the pool's queue
        if grace is not None:
            deadline = time.monotonic() + grace
            self.stop_deadline = min(deadline, self.stop_deadline or deadline)
            self._enforce_deadlines()

    def _next_deadline(self) -> float | None:
        candidates = list(self.deadlines.values())
        if self.stop_deadline is not None and self.running:
            candidates.append(self.stop_deadline)
        return min(candidates) if candidates else None

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for future, deadline in list(self.deadlines.items()):
            if deadline <= now and future in self.running:
                task = self.running[future]
                assert isinstance(task, StepTask)
                timeout = task.step.config.timeout
                error = StepTimeoutError(
                    f"Step `{task.invocation_id}` exceeded its timeout of {timeout} s and was "
                    "marked as failed"
                )
                error.args = (f"{error.args[0]}{self._kill_note(future, error)}.",)
                self._give_up(future, error, "failed")
        if self.stop_deadline is not None and now >= self.stop_deadline:
            for future in list(self.running):
                task = self.running[future]
                if isinstance(task, StepTask):
                    self._give_up(future, None, "stopped")

    def _kill_note(self, future: Future[Any], error: BaseException) -> str:
        killer = getattr(self._executor, "kill", None)
        if killer is not None and killer(future, error):
            return "; its process was killed"
        return (
            "; it keeps running in its thread until it returns (threads cannot be killed), "
            "and its result is discarded"
        )

    def _give_up(self, future: Future[Any], error: BaseException | None, status: str) -> None:
        """Stop waiting for a running step: record it now; whatever it returns later is ignored."""
        task = self.running.pop(future)
        self.deadlines.pop(future, None)
        self.abandoned = True
        assert isinstance(task, StepTask)
        if status == "stopped" and hasattr(self._executor, "kill"):
            self._executor.kill(future)  # type: ignore[union-attr]
        now = utcnow()
        inv = self.invocations[task.invocation_id]
        text = f"{type(error).__name__}: {error}" if error else "stopped before it finished"
        self._pending_finishes.append(
            StepFinish(
                step_run_id=task.step_run_id,
                status=status,
                start_time=None,
                end_time=now,
                exception=text,
            )
        )
        if status == "failed":
            self.failures.append((inv.id, error, text))
            self._record_skipped(self.state.fail(inv.id))
            self.observers.emit("step_finished", inv.id, 0.0, error)
            if self.description.failure_policy != "continue_on_failure":
                self.stopping = True
                self._record_skipped(self.state.skip_unstarted() + self._drop_parked())
        else:
            self.state.abandon(inv.id)
        self._resolve(inv.id, status, task.step_run_id, {}, error, text)
        self._release_step_slot(inv.step.name)

    def _never_started(self, task: StepTask) -> None:
        inv = self.invocations[task.invocation_id]
        self.state.abandon(inv.id)
        self._release_step_slot(inv.step.name)
        now = utcnow()
        self._pending_finishes.append(
            StepFinish(
                step_run_id=task.step_run_id, status="skipped", start_time=None, end_time=now
            )
        )
        self._resolve(
            inv.id,
            "skipped",
            task.step_run_id,
            {},
            None,
            "not run: the run stopped before it started",
        )

    def _drop_parked(self) -> list[str]:
        dropped: list[str] = []
        for waiting in self.parked.values():
            dropped.extend(waiting)
            waiting.clear()
        for inv_id in dropped:
            self.state.abandon(inv_id)
        return dropped

    def _record_skipped(self, skipped: list[str]) -> None:
        if not skipped:
            return
        now = utcnow()
        reason = (
            f"not run: upstream step(s) failed ({', '.join(f[0] for f in self.failures)})"
            if self.failures
            else "not run: the run stopped"
        )
        for inv_id in skipped:
            step_run_id = new_id()
            self._pending_starts.append(
                recording.skipped_record(self.invocations[inv_id], step_run_id, self.run_id, now)
            )
            self._resolve(inv_id, "skipped", step_run_id, {}, None, reason)

    def _resolve(
        self,
        inv_id: str,
        status: str,
        step_run_id: str,
        outputs: dict[str, KnownArtifact],
        error: BaseException | None = None,
        error_text: str | None = None,
    ) -> None:
        handle = self.handles.get(inv_id)
        if handle is None:
            return

        def settle() -> None:
            handle.status = status
            handle.step_run_id = step_run_id
            handle.outputs = outputs
            handle.error = error
            handle.error_text = error_text
            handle.done = True

        self._resolved.append(settle)
