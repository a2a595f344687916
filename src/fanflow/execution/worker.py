"""Running one step: load inputs, call the function, check and save outputs.

`execute_step(task)` is the function every executor runs. It never touches the metadata store:
it returns a picklable :class:`StepResult` (status, saved outputs, timings, error) and the
orchestrator records it. That keeps one writer per run and lets the same function run in a
thread or in a worker process, and lets remote executors ship it by value.

Invariants:
- an exception raised by the step (or while loading/saving its artifacts) becomes a failed
  result carrying the exception and its formatted traceback; it never escapes as a raise;
- outputs are validated (count and type) before anything is saved, so a bad return value saves
  nothing;
- `current_step` is set only while the step runs and is reset afterwards.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fanflow.artifacts.io import (
    INLINE_LIMIT,
    SavedArtifact,
    ensure_files,
    load_value,
    resolve_type,
    save_value,
)
from fanflow.artifacts.items import SplitResult, describe_items, load_item
from fanflow.artifacts.side_files import adopt_side_files
from fanflow.artifacts.store import ArtifactStore, artifact_store_for
from fanflow.artifacts.unmaterialized_artifact import UnmaterializedArtifact
from fanflow.config.retry_config import StepRetryConfig
from fanflow.exceptions import MaterializerError, StepExecutionException, StepOutputError
from fanflow.execution.known import ArtifactInput
from fanflow.execution.live_logs import live_copy_for
from fanflow.execution.logcapture import active_log, capture
from fanflow.execution.map_results import MapResults
from fanflow.execution.runtime import ExtraArtifact, StepRuntime, current_step
from fanflow.execution.step_hooks import HookCall, call_hook
from fanflow.ids import new_ordered_id, utcnow
from fanflow.spec import OutputSignature, StepDefinition
from fanflow.typecheck import (
    describe,
    list_item_annotation,
    mismatch,
    strip_annotated,
    tuple_item_annotations,
)

logger = logging.getLogger("fanflow")


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where the artifact store is, as a small picklable value: what travels to a worker, which
    may be on another host (no metadata URL, no local paths besides the store's own root)."""

    root: str
    # fsspec storage options as JSON text ("" for none): hashable, so opened stores are reused
    storage_options: str = ""

    @classmethod
    def of(cls, root: str, storage_options: dict[str, Any] | None) -> StoreLocation:
        return cls(root, json.dumps(storage_options, sort_keys=True) if storage_options else "")

    def open(self) -> ArtifactStore:
        return _open_store(self.root, self.storage_options)


@functools.lru_cache(maxsize=8)
def _open_store(root: str, storage_options: str) -> ArtifactStore:
    return artifact_store_for(root, json.loads(storage_options) if storage_options else None)


@dataclass(slots=True)
class StepTask:
    """Everything one step invocation needs, as plain picklable data. `timeout` is read by
    executors that must run a body with a deadline somewhere else (the sequential one)."""

    run_id: str
    run_name: str
    pipeline_name: str | None
    step_run_id: str
    invocation_id: str
    step: StepDefinition
    parameters: dict[str, Any]
    artifact_inputs: dict[str, ArtifactInput | list[ArtifactInput]]
    store: StoreLocation
    run_start_time: datetime | None = None
    map_index: int | None = None
    map_group: str | None = None
    retry: StepRetryConfig | None = None
    on_failure: Callable[..., Any] | None = None
    on_success: Callable[..., Any] | None = None
    substitutions: dict[str, str] = field(default_factory=dict)
    on_start: Callable[..., Any] | None = None
    on_end: Callable[..., Any] | None = None
    timeout: float | None = None
    # list inputs fed by a map that tolerates failures: input name -> failed branch positions
    failed_items: dict[str, tuple[int, ...]] | None = None
    # Set when lifecycle hook outputs are tracked: saves a hook's return value with the step
    # (a module-level function, so the task still pickles).
    hook_output_saver: Callable[[StepRuntime, Any, Any], dict[str, list[str]]] | None = None


@dataclass(slots=True)
class SavedOutput:
    output_name: str
    artifact_name: str
    saved: SavedArtifact
    metadata: dict[str, Any]
    version: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StepResult:
    step_run_id: str
    invocation_id: str
    succeeded: bool
    start_time: datetime
    end_time: datetime
    outputs: list[SavedOutput] = field(default_factory=list)
    extra_artifacts: list[ExtraArtifact] = field(default_factory=list)
    run_metadata: dict[str, Any] = field(default_factory=dict)
    metadata_updates: list[Any] = field(default_factory=list)
    error: BaseException | None = None
    error_text: str | None = None
    traceback_text: str | None = None
    attempts: list[dict[str, Any]] | None = None
    hook_errors: list[str] = field(default_factory=list)
    logs_uri: str | None = None
    hook_calls: list[HookCall] = field(default_factory=list)

    @classmethod
    def broken(cls, task: StepTask, error: BaseException, started: datetime | None) -> StepResult:
        """The result of a task whose worker broke (its process died, it was killed)."""
        now = utcnow()
        return cls(
            step_run_id=task.step_run_id,
            invocation_id=task.invocation_id,
            succeeded=False,
            start_time=started or now,
            end_time=now,
            error=error,
            error_text=f"{type(error).__name__}: {error}",
        )


def default_artifact_name(pipeline_name: str | None, invocation_id: str, output_name: str) -> str:
    """ZenML's naming: `{pipeline}::{invocation id}::{output}` ("unlisted" without pipeline)."""
    return f"{pipeline_name or 'unlisted'}::{invocation_id}::{output_name}"


def output_artifact_name(task: StepTask, output: OutputSignature) -> str:
    """The artifact name of an output: its `Annotated`/`ArtifactConfig` name with `{date}`,
    `{time}` and the pipeline's and step's substitutions filled in, or ZenML's default name."""
    if output.artifact_name is None:
        return default_artifact_name(task.pipeline_name, task.invocation_id, output.name)
    if "{" not in output.artifact_name:
        return output.artifact_name
    start = task.run_start_time or utcnow()
    values = {
        "date": start.strftime("%Y_%m_%d"),
        "time": start.strftime("%H_%M_%S_%f"),
        **task.substitutions,
        **dict(task.step.config.settings.get("substitutions") or {}),
    }
    try:
        return output.artifact_name.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise StepOutputError(
            f"Step {task.step.name!r} output {output.name!r}: cannot fill in the artifact name "
            f"{output.artifact_name!r} (missing {exc}); pass the value with "
            "substitutions={...} on the step or the pipeline ({date} and {time} are always "
            "available)."
        ) from None


def load_input(source: ArtifactInput, store: ArtifactStore, annotation: Any = None) -> Any:
    """Load one input; when the recorded type cannot be imported here (a class defined in a
    function, say), a class annotation of the input stands in for it."""
    if annotation is UnmaterializedArtifact:
        if source.inline is not None:  # the raw files are wanted: write them out first
            ensure_files(source.uri, source.materializer, source.inline, store)
        return UnmaterializedArtifact(
            uuid.UUID(source.artifact_version_id), source.uri, source.materializer, source.data_type
        )
    if source.item is not None:
        return load_item(source.item, store)
    data_type = None
    if isinstance(annotation, type) and resolve_type(source.data_type) is object:
        data_type = annotation
    return load_value(
        source.uri,
        source.materializer,
        source.data_type,
        store,
        data_type,
        source.content_hash,
        source.inline,
    )


def _load_inputs(task: StepTask, store: ArtifactStore) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, source in task.artifact_inputs.items():
        signature = task.step.input(name)
        annotation = strip_annotated(signature.annotation) if signature else None
        if isinstance(source, list):
            element_types = tuple_item_annotations(annotation)
            if element_types is not None and len(element_types) == len(source):
                # A multi-output step's outputs passed whole to a `Tuple[...]` input.
                values[name] = tuple(
                    load_input(item, store, element_type)
                    for item, element_type in zip(source, element_types, strict=True)
                )
                continue
            item_type = list_item_annotation(annotation) if annotation is not None else None
            loaded = [load_input(item, store, item_type) for item in source]
            failed = task.failed_items.get(name) if task.failed_items else None
            values[name] = loaded if failed is None else MapResults(loaded, failed)
        else:
            values[name] = load_input(source, store, annotation)
    return values


def split_outputs(step: StepDefinition, returned: Any) -> list[tuple[str, Any]]:
    """Pair the returned value with the declared outputs, checking count and types."""
    outputs = step.outputs
    if not outputs:
        if returned is not None:
            raise StepOutputError(
                f"Step {step.name!r} declares no outputs (its return annotation is None or it has "
                f"no return value) but returned a value of type {type(returned).__qualname__}. "
                "Annotate the return type to keep the value."
            )
        return []
    if step.returns_tuple:
        if not isinstance(returned, (tuple, list)) or len(returned) != len(outputs):
            got = (
                f"{len(returned)} values"
                if isinstance(returned, (tuple, list))
                else f"a single {type(returned).__qualname__}"
            )
            raise StepOutputError(
                f"Step {step.name!r} declares {len(outputs)} outputs "
                f"({', '.join(o.name for o in outputs)}) but returned {got}."
            )
        values = list(returned)
    else:
        values = [returned]
    paired = []
    for output, value in zip(outputs, values, strict=True):
        problem = mismatch(value, output.annotation)
        if problem is not None:
            raise StepOutputError(
                f"Step {step.name!r} output {output.name!r} is declared as "
                f"{describe(output.annotation)} but the step returned a value that does not fit "
                f"({problem})."
            )
        paired.append((output.name, value))
    return paired


def _save_outputs(
    task: StepTask, runtime: StepRuntime, values: list[tuple[str, Any]]
) -> list[SavedOutput]:
    store = runtime.artifact_store
    saved_outputs: list[SavedOutput] = []
    by_name = {output.name: output for output in task.step.outputs}
    _refuse_taken_versions(task, [by_name[name] for name, _ in values])
    for output_name, value in values:
        output = by_name[output_name]
        reserved = runtime.output_uris.get(output_name)
        staging = None
        if reserved is not None:
            # The step asked for the output's location (`get_output_artifact_uri`) and may
            # have written files there: the artifact is a directory, never inline.
            artifact_id, uri = reserved
            inline_limit = 0
        else:
            artifact_id = new_ordered_id()
            uri = store.uri_for(task.map_group or task.invocation_id, output_name, artifact_id)
            inline_limit = INLINE_LIMIT
        try:
            if reserved is not None:  # the step may have written side files there
                staging = adopt_side_files(store, uri, output_name)
            saved = save_value(
                value, store, uri, output.materializer, artifact_id,
                staging=staging, inline_limit=inline_limit,
            )
        except MaterializerError as exc:
            raise MaterializerError(
                f"Step {task.step.name!r} output {output_name!r}: {exc}"
            ) from exc
        config = output.config
        if config is not None and config.artifact_type is not None:
            saved = dataclasses.replace(saved, artifact_type=config.artifact_type.value)
        metadata = {
            **saved.metadata,
            **(dict(config.run_metadata) if config is not None else {}),
            **runtime.output_metadata.get(output_name, {}),
        }
        tags = [
            *(config.tags if config is not None else ()),
            *runtime.output_tags.get(output_name, []),
        ]
        saved_outputs.append(
            SavedOutput(
                output_name,
                output_artifact_name(task, output),
                saved,
                metadata,
                version=config.version if config is not None else None,
                tags=list(dict.fromkeys(tags)),
            )
        )
    return saved_outputs


def _refuse_taken_versions(task: StepTask, outputs: list[OutputSignature]) -> None:
    """A custom `ArtifactConfig(version=...)` can be recorded once: fail the step, before
    saving anything, when the version already exists."""
    custom = [o for o in outputs if o.config is not None and o.config.version is not None]
    if not custom:
        return
    from fanflow.config import load_settings
    from fanflow.metadata.store import MetadataStore

    # Read where this worker runs (its environment names the store): tasks carry no database
    # URL, which a remote worker could not use anyway.
    store = MetadataStore(load_settings().metadata_url)
    for output in custom:
        name = output_artifact_name(task, output)
        try:
            store.get_artifact_version(name, output.config.version)
        except KeyError:
            continue
        raise StepOutputError(
            f"Step {task.step.name!r} output {output.name!r}: artifact {name!r} already has a "
            f"version {output.config.version!r}; custom versions cannot be reused. Change the "
            "version (or leave it out to number versions automatically)."
        )


def _attempt(task: StepTask, runtime: StepRuntime) -> list[SavedOutput]:
    kwargs = dict(task.parameters)
    kwargs.update(_load_inputs(task, runtime.artifact_store))
    returned = task.step.func(**kwargs)
    values = split_outputs(task.step, returned)
    return _save_outputs(task, runtime, values)


def _log_position() -> int:
    """Where the step's log stands (bytes written so far): attempts record where theirs starts."""
    log = active_log()
    return log.written_bytes if log is not None else 0


def _attempt_record(
    number: int, started: datetime, exc: BaseException, log_offset: int
) -> dict[str, Any]:
    return {
        "attempt": number,
        "log_offset": log_offset,
        "start_time": started.isoformat(),
        "end_time": utcnow().isoformat(),
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)),
    }


def execute_step(task: StepTask, prefix: str | None = None) -> StepResult:
    """Run one step with its output captured into its own log (written next to its artifacts)."""
    store = task.store.open()
    with capture(task.invocation_id, prefix=prefix) as log:
        live = live_copy_for(store, lambda: log_uri(task, store))
        if live is not None:
            log.keep_live_copy(live)
        result = _execute(task, store)
    if log.has_content:
        uri = log_uri(task, store)
        try:
            store.write_text(uri, log.text())
            result.logs_uri = uri
        except OSError as exc:  # losing a log must not lose the step's result
            logger.warning("Could not store the log of step `%s`: %s", task.invocation_id, exc)
        log.discard_live_copy()
    return result


def log_uri(task: StepTask, store: ArtifactStore) -> str:
    """Where the step's log is stored when it ends (its live copy is next to it while it runs,
    see `live_logs`)."""
    return store.uri_for("logs", task.run_id, f"{task.step_run_id}.log")


def execute_step_portable(task: StepTask) -> StepResult:
    """`execute_step` for another process: the step's exception travels back only if it can be
    pickled; otherwise its message and traceback (already in the result) stand for it."""
    # A worker process cannot see the other processes' steps, so its lines are always prefixed.
    result = execute_step(task, prefix="always")
    if result.error is not None:
        import cloudpickle

        try:
            cloudpickle.loads(cloudpickle.dumps(result.error))
        except Exception:
            result.error = StepExecutionException(result.error_text or "the step failed")
    return result


def _execute(task: StepTask, store: ArtifactStore) -> StepResult:
    """Run one step invocation (with its retries and hooks); never raises for the step's errors.

    Every attempt is recorded. Inputs are loaded again for each attempt, so a failed attempt
    that mutated its inputs cannot poison the next one. Hooks run with the step context set.
    """
    start_time = utcnow()
    runtime = StepRuntime(
        run_id=task.run_id,
        run_name=task.run_name,
        pipeline_name=task.pipeline_name,
        step_run_id=task.step_run_id,
        invocation_id=task.invocation_id,
        step=task.step,
        artifact_store=store,
        run_start_time=task.run_start_time,
        map_index=task.map_index,
        map_group=task.map_group,
    )
    retry = task.retry
    max_retries = retry.max_retries if retry is not None else 0
    attempts: list[dict[str, Any]] = []
    where = f"step `{task.invocation_id}`"
    calls = runtime.hook_calls

    # Callers test for a hook first: most steps have none, and the hot path pays nothing then.
    def fire(kind: str, exc: BaseException | None = None, attempt: int | None = None) -> None:
        saver = task.hook_output_saver
        call = call_hook(
            getattr(task, kind),
            kind,
            where,
            exc,
            attempt=attempt,
            store_return=(lambda hook, result: saver(runtime, hook, result)) if saver else None,
        )
        if call is not None:
            calls.append(call)

    token = current_step.set(runtime)
    try:
        number = 0
        while True:
            number += 1
            attempt_start = utcnow()
            log_offset = _log_position()
            if task.on_start is not None:
                fire("on_start", attempt=number)
            try:
                outputs = _attempt(task, runtime)
                if task.on_end is not None:
                    fire("on_end", attempt=number)
                break
            # sys.exit() and a KeyboardInterrupt raised by the body are the step's failures too
            # (retries, on_failure, the traceback); a real second Ctrl-C reaches the
            # orchestrator's thread, not a step's.
            except (Exception, SystemExit, KeyboardInterrupt) as exc:
                fire("on_end", exc, attempt=number)
                attempts.append(_attempt_record(number, attempt_start, exc, log_offset))
                if number > max_retries:
                    fire("on_failure", exc)
                    return StepResult(
                        step_run_id=task.step_run_id,
                        invocation_id=task.invocation_id,
                        succeeded=False,
                        start_time=start_time,
                        end_time=utcnow(),
                        error=exc,
                        error_text=f"{type(exc).__name__}: {exc}",
                        traceback_text=attempts[-1]["traceback"],
                        run_metadata=runtime.run_metadata,
                        metadata_updates=runtime.metadata_updates,
                        extra_artifacts=runtime.extra_artifacts,
                        attempts=attempts if max_retries else None,
                        hook_errors=[c.exception for c in calls if c.exception],
                        hook_calls=calls,
                    )
                assert retry is not None
                wait = retry.delay_before(number)
                logger.info(
                    "Step `%s` failed (attempt %d of %d): %s; retrying in %.3g s.",
                    task.invocation_id,
                    number,
                    max_retries + 1,
                    attempts[-1]["error"],
                    wait,
                )
                time.sleep(wait)
                runtime.run_metadata.clear()
                runtime.output_metadata.clear()
                runtime.output_tags.clear()
                runtime.output_uris.clear()
        if task.on_success is not None:
            fire("on_success")
    finally:
        current_step.reset(token)
    if attempts:
        attempts.append(
            {
                "attempt": number,
                "log_offset": log_offset,
                "start_time": attempt_start.isoformat(),
                "end_time": utcnow().isoformat(),
                "error": None,
                "traceback": None,
            }
        )
    return StepResult(
        step_run_id=task.step_run_id,
        invocation_id=task.invocation_id,
        succeeded=True,
        start_time=start_time,
        end_time=utcnow(),
        outputs=outputs,
        extra_artifacts=runtime.extra_artifacts,
        run_metadata=runtime.run_metadata,
        metadata_updates=runtime.metadata_updates,
        attempts=attempts or None,
        hook_errors=[c.exception for c in calls if c.exception],
        hook_calls=calls,
    )


@dataclass(slots=True)
class SplitTask:
    """Read a sequence artifact once to learn its items (for `.map` over a step output)."""

    source: ArtifactInput
    store: StoreLocation
    timeout: float | None = None


def split_artifact(task: SplitTask) -> SplitResult:
    """Runs on the executor, so the orchestrating process never loads the list itself.

    An inline list gets its file written at its URI first (once per map): the branches then
    read it through their process's parent cache, as they read any list, instead of each
    task carrying the whole list's bytes to its worker."""
    store = task.store.open()
    source = task.source
    if source.inline is not None:
        ensure_files(source.uri, source.materializer, source.inline, store)
    return describe_items(load_input(source, store))
