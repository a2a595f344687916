"""Turning what happened in a run into metadata records (plain data for the store).

Kept apart from the orchestrator's loop so the loop reads as scheduling and this module as the
shape of the record: one function per kind of record, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fanflow.artifacts.io import SavedArtifact
from fanflow.artifacts.items import ITEM_MATERIALIZER, item_metadata
from fanflow.artifacts.json_codec import to_plain_json
from fanflow.enums import ArtifactSaveType
from fanflow.execution.known import KnownArtifact, SplitItems
from fanflow.execution.step_hooks import HookCall
from fanflow.execution.worker import StepResult
from fanflow.ids import new_id, series_id
from fanflow.metadata.records import (
    HookInvocationRecord,
    NewArtifactVersion,
    StepFinish,
    StepStart,
)
from fanflow.spec import Invocation


def step_config(inv: Invocation) -> dict[str, Any]:
    config = inv.step.config
    recorded: dict[str, Any] = {
        "name": inv.step.name,
        "parameters": to_plain_json(dict(inv.parameters)),
        "enable_cache": inv.enable_cache,
        "extra": to_plain_json(dict(config.extra)),
        "outputs": [output.name for output in inv.step.outputs],
        "after": list(inv.after),
    }
    if config.max_concurrency is not None:
        recorded["max_concurrency"] = config.max_concurrency
    if inv.position is not None:
        recorded["position"] = inv.position
    if config.settings:
        recorded["settings"] = to_plain_json(dict(config.settings))
    if config.min_success_ratio is not None and inv.map_group is not None:
        recorded["min_success_ratio"] = config.min_success_ratio
    if config.resources:
        recorded["resources"] = dict(config.resources)
    return recorded


def version_record(
    saved: SavedArtifact,
    name: str,
    save_type: ArtifactSaveType,
    metadata: dict[str, Any],
    *,
    step_run_id: str | None = None,
    run_id: str | None = None,
    output_name: str | None = None,
    version: str | None = None,
    tags: list[str] | None = None,
) -> NewArtifactVersion:
    """The record of an artifact a worker (or `save_artifact`) wrote, ready to be numbered."""
    return NewArtifactVersion(
        id=saved.id,
        artifact_name=name,
        uri=saved.uri,
        materializer=saved.materializer,
        data_type=saved.data_type,
        artifact_type=saved.artifact_type,
        size=saved.size,
        content_hash=saved.content_hash,
        save_type=save_type.value,
        producer_step_run_id=step_run_id,
        producer_run_id=run_id,
        run_metadata=to_plain_json(metadata),
        version=version,
        output_name=output_name,
        tags=list(tags or ()),
        inline_payload=saved.inline,
    )


def finish_record(result: StepResult, run_id: str) -> StepFinish:
    outputs = [
        version_record(
            out.saved,
            out.artifact_name,
            ArtifactSaveType.STEP_OUTPUT,
            out.metadata,
            step_run_id=result.step_run_id,
            run_id=run_id,
            output_name=out.output_name,
            version=out.version,
            tags=out.tags,
        )
        for out in result.outputs
    ]
    outputs.extend(
        version_record(
            extra.saved,
            extra.name,
            ArtifactSaveType(extra.save_type),
            {**extra.saved.metadata, **extra.metadata},
            step_run_id=result.step_run_id,
            run_id=run_id,
            output_name=extra.name if extra.link_output else None,
            version=extra.version,
            tags=extra.tags,
        )
        for extra in result.extra_artifacts
    )
    metadata = to_plain_json(result.run_metadata)
    if result.hook_errors:
        metadata["hook_errors"] = list(result.hook_errors)
    return StepFinish(
        step_run_id=result.step_run_id,
        status="completed" if result.succeeded else "failed",
        start_time=result.start_time,
        end_time=result.end_time,
        outputs=outputs,
        exception=result.error_text,
        traceback=result.traceback_text,
        run_metadata=metadata,
        metadata_updates=result.metadata_updates,
        attempts=result.attempts,
        logs_uri=result.logs_uri,
        hook_invocations=hook_records(result.hook_calls, run_id, result.step_run_id),
    )


def hook_records(
    calls: list[HookCall], run_id: str, step_run_id: str | None
) -> list[HookInvocationRecord]:
    return [
        HookInvocationRecord(
            id=new_id(),
            run_id=run_id,
            step_run_id=step_run_id,
            hook_type=call.hook_type,
            name=call.name,
            status=call.status,
            start_time=call.start_time,
            end_time=call.end_time,
            exception=call.exception,
            attempt=call.attempt,
            outputs=dict(call.outputs or {}),
        )
        for call in calls
    ]


def known_outputs(result: StepResult) -> dict[str, KnownArtifact]:
    """A finished step's outputs as inputs for its dependents. Unnamed: a fan-in over a
    million branches holds every branch's output until it starts, and the name (on record)
    is only read when an output is split, which looks it up (`TaskBuilder.split_done`)."""
    return {
        out.output_name: KnownArtifact(
            artifact_version_id=out.saved.id,
            uri=out.saved.uri,
            materializer=out.saved.materializer,
            data_type=out.saved.data_type,
            content_hash=out.saved.content_hash,
            inline=out.saved.inline,
        )
        for out in result.outputs
    }


def _unstarted_record(inv: Invocation, step_run_id: str, run_id: str, **fields: Any) -> StepStart:
    """A step record of an invocation that has no inputs linked (it did not start)."""
    return StepStart(
        id=step_run_id,
        run_id=run_id,
        name=inv.id,
        step_name=inv.step.name,
        upstream=list(inv.upstream),
        inputs=[],
        source=inv.step.source,
        map_group=inv.map_group,
        map_index=inv.map_index,
        **fields,
    )


def skipped_record(
    inv: Invocation, step_run_id: str, run_id: str, now: datetime, planned: bool = False
) -> StepStart:
    return _unstarted_record(
        inv,
        step_run_id,
        run_id,
        status="skipped",
        start_time=now,
        end_time=now,
        config=step_config(inv),
        planned=planned,
    )


def planned_record(inv: Invocation, step_run_id: str, run_id: str) -> StepStart:
    """An invocation a dynamic run added but has not dispatched yet: an `initializing` row, so
    the whole submitted graph is on record if the run dies. Its start updates this row (the
    full config is written then)."""
    return _unstarted_record(
        inv,
        step_run_id,
        run_id,
        status="initializing",
        start_time=None,
        config={} if inv.position is None else {"position": inv.position},  # listing order
    )


def item_version_slices(
    split: SplitItems, run_id: str, size: int
) -> Iterator[list[NewArtifactVersion]]:
    """One artifact version per item, referring to the parent's files by index; built `size`
    at a time while the store writes them."""
    parent = split.parent
    for start in range(0, split.count, size):
        versions = []
        for index in range(start, min(start + size, split.count)):
            versions.append(
                NewArtifactVersion(
                    id=series_id(split.prefix, index),
                    artifact_name=f"{split.parent_name}[{index}]",
                    uri=parent.uri,
                    materializer=ITEM_MATERIALIZER,
                    data_type=split.data_type(index),
                    artifact_type="DataArtifact",
                    size=0,
                    content_hash=split.content_hash(index),
                    save_type="item",
                    producer_step_run_id=None,
                    producer_run_id=run_id,
                    run_metadata=item_metadata(split.source(index), parent.id),
                )
            )
        yield versions
