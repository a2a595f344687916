"""The orchestrator: runs a compiled pipeline and is the single writer of its records.

One loop: take ready invocations (up to the parallelism bound), look them up in the cache, record
them as started in one transaction, hand the rest to the executor; then wait for completions,
record every result that has arrived in one transaction, and let the scheduler state release the
dependents. No waves, no polling, no rescans.

Invariants:
- a step is recorded (`running` or `cached`) before its function starts, and its result (status,
  outputs) is recorded before any dependent is dispatched, so a step that reads the Client sees
  its upstreams' outputs;
- workers never write metadata; everything they produce comes back in a `StepResult`;
- whatever happens (a step fails, the orchestrator raises, Ctrl-C), the run ends with a final
  status and every finished step's record intact.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fanflow.artifacts.json_codec import to_plain_json
from fanflow.artifacts.store import ArtifactStore, artifact_store_for
from fanflow.config import Settings, default_max_parallelism
from fanflow.enums import ArtifactSaveType, ExecutionStatus
from fanflow.exceptions import EntityExistsError
from fanflow.execution import cache
from fanflow.execution.executors import Executor, make_executor
from fanflow.execution.hooks import ConsoleObserver, ObserverGroup, ensure_console_logging
from fanflow.execution.state import NodeStatus, SchedulerState
from fanflow.execution.worker import ArtifactInput, StepResult, StepTask, execute_step
from fanflow.ids import new_id, utcnow
from fanflow.metadata.records import InputLink, NewArtifactVersion, StepFinish, StepStart
from fanflow.metadata.store import MetadataStore
from fanflow.spec import (
    ExternalArtifactRef,
    Invocation,
    ListRef,
    OutputRef,
    PipelineSpec,
)

DEFAULT_RUN_NAME = "{pipeline}-{date}-{time}"


@dataclass(frozen=True, slots=True)
class KnownArtifact:
    """An artifact version this run can hand to a step: where it is and what it holds."""

    id: str
    uri: str
    materializer: str
    data_type: str
    content_hash: str | None

    def as_input(self) -> ArtifactInput:
        return ArtifactInput(self.id, self.uri, self.materializer, self.data_type)

    def cache_identity(self) -> tuple[str, str, str]:
        return (self.content_hash or self.id, self.data_type, self.materializer)


@dataclass
class RunOutcome:
    run_id: str
    run_name: str
    status: str
    failures: list[tuple[str, BaseException | None, str | None]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def format_run_name(
    template: str, pipeline_name: str, start: datetime, substitutions: dict[str, str]
) -> str:
    values = {
        "date": start.strftime("%Y_%m_%d"),
        "time": start.strftime("%H_%M_%S_%f"),
        "pipeline": pipeline_name,
        **substitutions,
    }
    try:
        name = template.format(**values)
    except KeyError as exc:
        raise KeyError(
            f"Could not format the run name template `{template}`. Missing key: {exc}. "
            "Pass it with substitutions={...}; {date} and {time} are always available."
        ) from None
    if not name.strip():
        raise ValueError("Empty run names are not allowed.")
    return name


def _json(value: Any) -> Any:
    return to_plain_json(value)


class Orchestrator:
    """Runs one compiled pipeline to the end and records everything it does."""

    def __init__(
        self,
        spec: PipelineSpec,
        settings: Settings,
        *,
        unlisted: bool = False,
        observers: Sequence[Any] | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.unlisted = unlisted
        self.store = MetadataStore(settings.metadata_url)
        self.artifact_store: ArtifactStore = artifact_store_for(settings.artifact_root)
        options = spec.options
        self.mode = options.orchestrator or settings.orchestrator
        self.max_parallelism = (
            options.max_parallelism or settings.max_parallelism or default_max_parallelism()
        )
        if self.mode == "sequential":
            self.max_parallelism = 1
        ensure_console_logging(settings.logging_verbosity)
        self.observers = ObserverGroup(
            list(observers) if observers is not None else [ConsoleObserver()]
        )
        self.state = SchedulerState()
        self.outputs: dict[str, dict[str, KnownArtifact]] = {}
        self.external: dict[str, KnownArtifact] = {}
        self.events: queue.SimpleQueue[Future[StepResult]] = queue.SimpleQueue()
        self.running: dict[Future[StepResult], StepTask] = {}
        self.step_run_ids: dict[str, str] = {}
        self.cached: set[str] = set()
        self.failures: list[tuple[str, BaseException | None, str | None]] = []
        self.run_id = new_id()
        self.run_name = ""
        self.run_start = utcnow()

    # --- run lifecycle -----------------------------------------------------------------------

    def run(self) -> RunOutcome:
        self._create_run_record()
        started = time.perf_counter()
        self.observers.emit(
            "run_started", self.run_name, self.spec.name, len(self.spec.invocations)
        )
        executor = make_executor(self.mode, self.max_parallelism)
        status = ExecutionStatus.FAILED
        error_text: str | None = None
        try:
            self._prefetch_external_artifacts()
            self.state.add((inv_id, inv.upstream) for inv_id, inv in self.spec.invocations.items())
            self._loop(executor)
            status = self._final_status()
            if self.failures:
                error_text = "; ".join(f"{inv_id}: {text}" for inv_id, _, text in self.failures)
        except BaseException as exc:
            error_text = f"{type(exc).__name__}: {exc}"
            status = (
                ExecutionStatus.STOPPED
                if isinstance(exc, KeyboardInterrupt)
                else ExecutionStatus.FAILED
            )
            self._abandon(executor)
            raise
        finally:
            executor.shutdown(wait=True)
            self.store.finish_run(self.run_id, status.value, error_text)
            self.observers.emit(
                "run_finished", self.run_name, status.value, time.perf_counter() - started
            )
        return RunOutcome(
            self.run_id,
            self.run_name,
            status.value,
            list(self.failures),
            self.state.nodes_with(NodeStatus.SKIPPED),
        )

    def _create_run_record(self) -> None:
        spec = self.spec
        options = spec.options
        pipeline_name = spec.name or "unlisted"
        template = options.run_name or DEFAULT_RUN_NAME.replace("{pipeline}", pipeline_name)
        substitutions = dict(options.substitutions)
        pipeline_id = None if self.unlisted else self.store.get_or_create_pipeline(pipeline_name)
        config = {
            "name": spec.name,
            "parameters": _json(dict(spec.parameters)),
            "enable_cache": options.enable_cache,
            "max_parallelism": self.max_parallelism,
            "orchestrator": self.mode,
            "substitutions": substitutions,
            "extra": _json(dict(options.extra)),
            "tags": list(options.tags),
            "run_name_template": template,
        }
        for attempt in range(3):
            self.run_start = utcnow()
            self.run_name = format_run_name(template, pipeline_name, self.run_start, substitutions)
            try:
                self.store.create_run(
                    run_id=self.run_id,
                    name=self.run_name,
                    pipeline_id=pipeline_id,
                    config=config,
                    spec=self._spec_record(),
                    start_time=self.run_start,
                    pid=os.getpid(),
                    host=socket.gethostname(),
                )
                return
            except EntityExistsError:
                uses_time = "{time}" in template
                if not uses_time or attempt == 2:
                    raise

    def _spec_record(self) -> dict[str, Any]:
        return {
            "source": self.spec.source,
            "invocations": [
                {
                    "id": inv.id,
                    "step": inv.step.name,
                    "source": inv.step.source,
                    "upstream": list(inv.upstream),
                }
                for inv in self.spec.invocations.values()
            ],
        }

    def _final_status(self) -> ExecutionStatus:
        if self.failures:
            return ExecutionStatus.FAILED
        if self.spec.invocations and len(self.cached) == len(self.spec.invocations):
            return ExecutionStatus.CACHED
        return ExecutionStatus.COMPLETED

    def _abandon(self, executor: Executor) -> None:
        """The orchestrator itself failed: record what finished, mark the rest as not run."""
        executor.shutdown(wait=True)
        with contextlib.suppress(Exception):  # best effort: the run is already failing
            self._record_results(self._collect_ready_events())

    # --- the loop --------------------------------------------------------------------------------

    def _loop(self, executor: Executor) -> None:
        state = self.state
        while True:
            while state.ready_count and len(self.running) < self.max_parallelism:
                batch = state.take(self.max_parallelism - len(self.running))
                self._dispatch(batch, executor)
            if not self.running:
                if state.ready_count:
                    continue
                break
            first = self.events.get()
            self._record_results([first, *self._collect_ready_events()])

    def _collect_ready_events(self) -> list[Future[StepResult]]:
        collected = []
        while True:
            try:
                collected.append(self.events.get_nowait())
            except queue.Empty:
                return collected

    def _dispatch(self, batch: list[str], executor: Executor) -> None:
        now = utcnow()
        prepared = []
        keys: list[str] = []
        for inv_id in batch:
            inv = self.spec.invocations[inv_id]
            artifact_inputs, links, identities = self._resolve_inputs(inv)
            key = None
            if inv.enable_cache:
                key = cache.cache_key(inv.step, inv.parameters, identities)
                keys.append(key)
            prepared.append((inv, artifact_inputs, links, key))
        hits = self.store.find_cached(keys) if keys else {}
        starts: list[StepStart] = []
        tasks: list[StepTask] = []
        cached_now: list[tuple[str, dict[str, KnownArtifact]]] = []
        for inv, artifact_inputs, links, key in prepared:
            step_run_id = new_id()
            self.step_run_ids[inv.id] = step_run_id
            hit = self._usable_hit(inv, hits.get(key)) if key else None
            start = StepStart(
                id=step_run_id,
                run_id=self.run_id,
                name=inv.id,
                step_name=inv.step.name,
                status="running",
                start_time=now,
                config=self._step_config(inv),
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
                cached_now.append((inv.id, outputs))
            else:
                tasks.append(
                    StepTask(
                        run_id=self.run_id,
                        run_name=self.run_name,
                        pipeline_name=self.spec.name,
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
                    )
                )
            starts.append(start)
        self.store.start_steps(starts)
        for inv_id, outputs in cached_now:
            self.outputs[inv_id] = outputs
            self.cached.add(inv_id)
            self.state.complete(inv_id)
            self.observers.emit("step_cached", inv_id)
        for task in tasks:
            self.observers.emit("step_started", task.invocation_id)
            future = executor.submit(execute_step, task)
            self.running[future] = task
            future.add_done_callback(self.events.put)

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
            name: KnownArtifact(av.id, av.uri, av.materializer, av.data_type, av.content_hash)
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

    def _prefetch_external_artifacts(self) -> None:
        wanted = {
            ref.artifact_version_id
            for inv in self.spec.invocations.values()
            for ref in inv.input_refs()
            if isinstance(ref, ExternalArtifactRef)
        }
        if not wanted:
            return
        records = self.store.get_artifact_versions_by_ids(sorted(wanted))
        missing = wanted - set(records)
        if missing:
            raise KeyError(f"Input artifact version(s) {sorted(missing)} are not recorded.")
        self.external = {
            av_id: KnownArtifact(av.id, av.uri, av.materializer, av.data_type, av.content_hash)
            for av_id, av in records.items()
        }

    def _step_config(self, inv: Invocation) -> dict[str, Any]:
        config = inv.step.config
        return {
            "name": inv.step.name,
            "parameters": _json(dict(inv.parameters)),
            "enable_cache": inv.enable_cache,
            "extra": _json(dict(config.extra)),
            "outputs": [output.name for output in inv.step.outputs],
            "after": list(inv.after),
        }

    # --- recording results ------------------------------------------------------------------------

    def _record_results(self, futures: list[Future[StepResult]]) -> None:
        if not futures:
            return
        results: list[StepResult] = []
        for future in futures:
            task = self.running.pop(future)
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
        finishes = [self._finish_record(result) for result in results]
        self.store.finish_steps(finishes)
        for result in results:
            duration = (result.end_time - result.start_time).total_seconds()
            if result.succeeded:
                self.outputs[result.invocation_id] = {
                    out.output_name: KnownArtifact(
                        out.saved.id,
                        out.saved.uri,
                        out.saved.materializer,
                        out.saved.data_type,
                        out.saved.content_hash,
                    )
                    for out in result.outputs
                }
                self.state.complete(result.invocation_id)
                self.observers.emit("step_finished", result.invocation_id, duration, None)
            else:
                self.failures.append((result.invocation_id, result.error, result.error_text))
                skipped = self.state.fail(result.invocation_id)
                self.observers.emit("step_finished", result.invocation_id, duration, result.error)
                self._record_skipped(skipped)

    def _finish_record(self, result: StepResult) -> StepFinish:
        outputs = [
            NewArtifactVersion(
                id=out.saved.id,
                artifact_name=out.artifact_name,
                uri=out.saved.uri,
                materializer=out.saved.materializer,
                data_type=out.saved.data_type,
                artifact_type=out.saved.artifact_type,
                size=out.saved.size,
                content_hash=out.saved.content_hash,
                save_type=ArtifactSaveType.STEP_OUTPUT.value,
                producer_step_run_id=result.step_run_id,
                producer_run_id=self.run_id,
                run_metadata=_json(out.metadata),
                output_name=out.output_name,
            )
            for out in result.outputs
        ]
        outputs.extend(
            NewArtifactVersion(
                id=extra.saved.id,
                artifact_name=extra.name,
                uri=extra.saved.uri,
                materializer=extra.saved.materializer,
                data_type=extra.saved.data_type,
                artifact_type=extra.saved.artifact_type,
                size=extra.saved.size,
                content_hash=extra.saved.content_hash,
                save_type=ArtifactSaveType.MANUAL.value,
                producer_step_run_id=result.step_run_id,
                producer_run_id=self.run_id,
                run_metadata=_json({**extra.saved.metadata, **extra.metadata}),
                version=extra.version,
                output_name=extra.name,
            )
            for extra in result.extra_artifacts
        )
        return StepFinish(
            step_run_id=result.step_run_id,
            status="completed" if result.succeeded else "failed",
            start_time=result.start_time,
            end_time=result.end_time,
            outputs=outputs,
            exception=result.error_text,
            traceback=result.traceback_text,
            run_metadata=_json(result.run_metadata),
            metadata_updates=result.metadata_updates,
        )

    def _record_skipped(self, skipped: list[str]) -> None:
        if not skipped:
            return
        now = utcnow()
        starts = []
        for inv_id in skipped:
            inv = self.spec.invocations[inv_id]
            step_run_id = new_id()
            self.step_run_ids[inv_id] = step_run_id
            starts.append(
                StepStart(
                    id=step_run_id,
                    run_id=self.run_id,
                    name=inv_id,
                    step_name=inv.step.name,
                    status="skipped",
                    start_time=now,
                    end_time=now,
                    config=self._step_config(inv),
                    upstream=list(inv.upstream),
                    inputs=[],
                    source=inv.step.source,
                    map_group=inv.map_group,
                    map_index=inv.map_index,
                )
            )
        self.store.start_steps(starts)
