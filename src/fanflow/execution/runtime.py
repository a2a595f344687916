"""What a running step knows about itself, kept in a context variable.

The worker sets `current_step` around the step function; `get_step_context()`, `log_metadata()`
and `save_artifact()` read it. Because it is a `ContextVar` set inside the worker thread, steps
running side by side in threads each see their own.

Invariant: everything a step asks to record (metadata, extra artifacts) is collected here and
returned with the step's result; the step never writes to the metadata store itself.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fanflow.artifacts.io import SavedArtifact
from fanflow.artifacts.store import ArtifactStore
from fanflow.metadata.records import MetadataUpdate
from fanflow.spec import StepDefinition


@dataclass(slots=True)
class ExtraArtifact:
    """An artifact a step saved with `save_artifact(...)`, recorded with the step's result."""

    name: str
    version: str | None
    saved: SavedArtifact
    metadata: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    # False for artifacts that are not the step's outputs (a hook call's stored return value).
    link_output: bool = True
    save_type: str = "manual"  # "preexisting" for `register_artifact`


@dataclass(slots=True)
class StepRuntime:
    run_id: str
    run_name: str
    pipeline_name: str | None
    step_run_id: str
    invocation_id: str
    step: StepDefinition
    artifact_store: ArtifactStore
    run_start_time: Any = None
    map_index: int | None = None
    map_group: str | None = None
    run_metadata: dict[str, Any] = field(default_factory=dict)
    output_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_tags: dict[str, list[str]] = field(default_factory=dict)
    output_uris: dict[str, tuple[str, str]] = field(default_factory=dict)  # id, uri
    metadata_updates: list[MetadataUpdate] = field(default_factory=list)
    extra_artifacts: list[ExtraArtifact] = field(default_factory=list)
    hook_calls: list[Any] = field(default_factory=list)  # `HookCall`s, recorded with the step

    @property
    def output_names(self) -> list[str]:
        return [output.name for output in self.step.outputs]


current_step: ContextVar[StepRuntime | None] = ContextVar("fanflow_current_step", default=None)


def active_step() -> StepRuntime | None:
    return current_step.get()
