"""Plain records read from and written to the metadata store.

Read records (`*Record`) are frozen snapshots of rows; the Client wraps them in views that add
behaviour (loading, navigation). Write records (`New*`, `StepStart`, `StepFinish`) are what the
orchestrator hands to the store; they hold only plain data so that they can be built from a
worker's result in any process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    id: str
    name: str
    created: datetime


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    name: str
    pipeline_id: str | None
    pipeline_name: str | None
    status: str
    created: datetime
    start_time: datetime | None
    end_time: datetime | None
    config: dict[str, Any]
    run_metadata: dict[str, Any]
    exception: str | None
    orchestrator_pid: int | None
    orchestrator_host: str | None
    heartbeat: datetime | None
    original_run_id: str | None


@dataclass(frozen=True, slots=True)
class ArtifactVersionRecord:
    id: str
    artifact_id: str
    name: str
    version: str
    version_number: int | None
    uri: str
    materializer: str
    data_type: str
    artifact_type: str
    size: int | None
    content_hash: str | None
    save_type: str
    producer_step_run_id: str | None
    producer_run_id: str | None
    created: datetime
    run_metadata: dict[str, Any]
    # the value's encoded bytes when it is stored inline in this record (no files at `uri`)
    inline_payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class StepRunRecord:
    id: str
    run_id: str
    name: str
    step_name: str
    status: str
    created: datetime
    start_time: datetime | None
    end_time: datetime | None
    config: dict[str, Any]
    upstream: list[str]
    cache_key: str | None
    code_hash: str | None
    source: str | None
    original_step_run_id: str | None
    exception: str | None
    traceback: str | None
    run_metadata: dict[str, Any]
    map_group: str | None
    map_index: int | None
    attempts: list[dict[str, Any]] | None
    logs_uri: str | None = None
    inputs: dict[str, list[ArtifactVersionRecord]] = field(default_factory=dict)
    outputs: dict[str, list[ArtifactVersionRecord]] = field(default_factory=dict)
    # True when `inputs` were not read with the step (a fan-in over a million branches has a
    # million input links; a reader looking the step up by name reads them only if asked).
    inputs_unread: bool = False


# --- write records -------------------------------------------------------------------------------


@dataclass(slots=True)
class NewArtifactVersion:
    """An artifact written by a worker (or by `save_artifact`), to be numbered and recorded."""

    id: str
    artifact_name: str
    uri: str
    materializer: str
    data_type: str
    artifact_type: str
    size: int
    content_hash: str
    save_type: str
    producer_step_run_id: str | None
    producer_run_id: str | None
    run_metadata: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    output_name: str | None = None
    tags: list[str] = field(default_factory=list)
    inline_payload: bytes | None = None  # a small value's bytes, recorded instead of files


@dataclass(slots=True)
class InputLink:
    name: str
    position: int
    is_list: bool
    artifact_version_id: str


@dataclass(slots=True)
class StepStart:
    """A step run entering the record: running (or cached, with its outputs already known),
    skipped, or `initializing` (added to a dynamic run, not dispatched yet)."""

    id: str
    run_id: str
    name: str
    step_name: str
    status: str
    start_time: datetime | None
    config: dict[str, Any]
    upstream: list[str]
    inputs: Iterable[InputLink]  # read when written (a fan-in's links are made then)
    cache_key: str | None = None
    code_hash: str | None = None
    source: str | None = None
    map_group: str | None = None
    map_index: int | None = None
    original_step_run_id: str | None = None
    cached_outputs: list[tuple[str, str]] = field(default_factory=list)
    end_time: datetime | None = None
    # Its row exists already (an `initializing` row written when a dynamic run added it): the
    # start updates that row instead of inserting one.
    planned: bool = False


@dataclass(slots=True)
class MetadataUpdate:
    """Metadata a step asked to attach somewhere other than its own step run."""

    target: str  # "run" | "step" | "artifact_version" | "artifact_version_tags" | "output"
    key: str  # run id / step run id / artifact version id / output name
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HookInvocationRecord:
    """One recorded call of a hook (lifecycle or `run_hook`); also the write record."""

    id: str
    run_id: str
    step_run_id: str | None
    hook_type: str
    name: str
    status: str
    start_time: datetime
    end_time: datetime
    exception: str | None = None
    attempt: int | None = None
    # Output name -> artifact version ids the call stored (`run_hook(..., store_return=True)`).
    outputs: dict[str, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class StepFinish:
    step_run_id: str
    status: str
    start_time: datetime | None
    end_time: datetime
    outputs: list[NewArtifactVersion] = field(default_factory=list)
    exception: str | None = None
    traceback: str | None = None
    run_metadata: dict[str, Any] = field(default_factory=dict)
    metadata_updates: list[MetadataUpdate] = field(default_factory=list)
    attempts: list[dict[str, Any]] | None = None
    logs_uri: str | None = None
    hook_invocations: list[HookInvocationRecord] = field(default_factory=list)
