"""The Client: a small read façade over the metadata store, with ZenML's method names.

Works from any process and from inside a running step (a step may read its own run). Lookups by
name, id or unique prefix follow ZenML: an exact id, then an exact name, then a prefix of either;
no match raises `KeyError`, several raise `KeyError` asking for more characters.

Invariant: the Client never writes and never starts work, except ZenML's one write call,
`create_run_metadata`, which goes through the seam in `writing.py`. A run whose orchestrator
died is shown as failed by the rule in `fanflow.metadata.liveness`, and listings filter on that
same shown status; recording the repair is left to writers (`fanflow.metadata.maintenance`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fanflow.artifacts.io import load_value
from fanflow.artifacts.items import (
    ITEM_MATERIALIZER,
    load_item,
    parent_id,
    source_from_metadata,
)
from fanflow.artifacts.json_codec import recordable_metadata
from fanflow.artifacts.store import ArtifactStore, artifact_store_for
from fanflow.client.filters import check_filters
from fanflow.client.views import (
    ArtifactVersionView,
    ArtifactView,
    HookInvocationView,
    Page,
    PipelineRunView,
    PipelineView,
    StepRunView,
)
from fanflow.client.writing import write_metadata
from fanflow.config import Settings, load_settings
from fanflow.enums import MetadataResourceTypes
from fanflow.ids import normalize_id
from fanflow.metadata.liveness import as_seen, run_is_orphaned, step_as_seen
from fanflow.metadata.records import ArtifactVersionRecord, MetadataUpdate, StepRunRecord
from fanflow.metadata.store import MetadataStore
from fanflow.models import RunMetadataResource

RUN_FILTERS = (
    "sort_by",
    "page",
    "size",
    "pipeline_id",
    "pipeline_name",
    "pipeline",
    "status",
    "name",
)


class ArtifactStoreView:
    """The active artifact store under ZenML's names: `.path` is its root (a folder or URL);
    every other attribute (`open`, `exists`, `listdir`, ...) is the store's own."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self.path = store.root
        self.name = "default"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __repr__(self) -> str:
        return f"ArtifactStore(path={self.path!r})"


class ActiveStack:
    """ZenML's stack, reduced to what fanflow has: one artifact store."""

    def __init__(self, store: ArtifactStore) -> None:
        self.artifact_store = ArtifactStoreView(store)
        self.name = "default"


def _ident(value: str | uuid.UUID) -> str:
    return value.hex if isinstance(value, uuid.UUID) else str(value)


def _sort_newest_first(sort_by: str) -> bool:
    return not sort_by.startswith("asc:") and sort_by != "created"


class Client:
    """Read access to recorded pipelines, runs, steps and artifacts."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or load_settings()
        self._store = MetadataStore(self._settings.metadata_url)
        self._artifact_store: ArtifactStore = artifact_store_for(
            self._settings.artifact_root, self._settings.artifact_storage_options
        )

    @property
    def active_stack(self) -> ActiveStack:
        """ZenML's `Client().active_stack`, as far as fanflow has one: `.artifact_store`
        (with `.path`, the artifact root), for code that writes into the store itself."""
        return ActiveStack(self._artifact_store)

    # --- pipelines -------------------------------------------------------------------------

    def get_pipeline(self, name_id_or_prefix: str | uuid.UUID) -> PipelineView:
        return PipelineView(self._store.get_pipeline(_ident(name_id_or_prefix)), self)

    def list_pipelines(
        self,
        name: str | None = None,
        page: int = 1,
        size: int = 20,
        sort_by: str = "desc:created",
        **extra: Any,
    ) -> Page[PipelineView]:
        check_filters("list_pipelines", extra, ("name", "page", "size", "sort_by"))
        records = self._store.list_pipelines(name=name)
        if not _sort_newest_first(sort_by):
            records = list(reversed(records))
        start = max(page - 1, 0) * size
        items = [PipelineView(r, self) for r in records[start : start + size]]
        return Page(items, len(records), page, size)

    # --- runs ------------------------------------------------------------------------------------

    def get_pipeline_run(
        self,
        name_id_or_prefix: str | uuid.UUID,
        allow_name_prefix_match: bool = True,
        **_ignored: Any,
    ) -> PipelineRunView:
        return PipelineRunView(as_seen(self._store.get_run(_ident(name_id_or_prefix))), self)

    def list_pipeline_runs(
        self,
        sort_by: str = "desc:created",
        page: int = 1,
        size: int = 20,
        pipeline_id: str | uuid.UUID | None = None,
        pipeline_name: str | None = None,
        pipeline: str | uuid.UUID | None = None,
        status: str | Sequence[str] | None = None,
        name: str | None = None,
        **extra: Any,
    ) -> Page[PipelineRunView]:
        """Runs, newest first by default, optionally of one pipeline and in given statuses."""
        check_filters("list_pipeline_runs", extra, RUN_FILTERS)
        wanted_pipeline = pipeline_id or pipeline or pipeline_name
        resolved_pipeline_id = None
        if wanted_pipeline is not None:
            if pipeline_id is not None:
                resolved_pipeline_id = normalize_id(_ident(pipeline_id))
            else:
                try:
                    resolved_pipeline_id = self._store.get_pipeline(_ident(wanted_pipeline)).id
                except KeyError:
                    return Page([], 0, page, size)
        orphaned = (
            [r.id for r in self._store.running_runs() if run_is_orphaned(r)]
            if status is not None
            else []
        )
        records, total = self._store.list_runs(
            pipeline_id=resolved_pipeline_id,
            status=status,
            name=name,
            page=page,
            size=size,
            newest_first=_sort_newest_first(sort_by),
            orphaned=orphaned,
        )
        return Page([PipelineRunView(as_seen(r), self) for r in records], total, page, size)

    # --- steps -----------------------------------------------------------------------------------

    def get_run_step(self, step_run_id: str | uuid.UUID) -> StepRunView:
        record = self._store.get_step(normalize_id(_ident(step_run_id)))
        return StepRunView(self._step_as_seen(record), self)

    def _step_as_seen(self, record: StepRunRecord) -> StepRunRecord:
        """A running step of a run that has ended (or whose orchestrator died) shows as failed."""
        if record.status != "running":
            return record
        return step_as_seen(record, as_seen(self._store.get_run(record.run_id)))

    def list_run_steps(
        self,
        pipeline_run_id: str | uuid.UUID,
        name: str | None = None,
        status: str | None = None,
        **extra: Any,
    ) -> Page[StepRunView]:
        check_filters("list_run_steps", extra, ("pipeline_run_id", "name", "status"))
        run = self.get_pipeline_run(pipeline_run_id)
        steps = [
            step
            for step in run.steps.values()
            if (name is None or step.name == name) and (status is None or step.status == status)
        ]
        return Page(steps, len(steps), 1, max(len(steps), 1))

    # --- artifacts -------------------------------------------------------------------------------

    def get_artifact_version(
        self, name_id_or_prefix: str | uuid.UUID, version: str | int | None = None
    ) -> ArtifactVersionView:
        """The newest version of an artifact by name (or `version`), or one version by id."""
        record = self._store.get_artifact_version(
            _ident(name_id_or_prefix), None if version is None else str(version)
        )
        return ArtifactVersionView(record, self)

    def get_artifact(self, name_id_or_prefix: str | uuid.UUID, **_ignored: Any) -> ArtifactView:
        """An artifact (all versions of one name), with `.versions` by version string."""
        artifact_id, name, created = self._store.get_artifact(_ident(name_id_or_prefix))
        return ArtifactView(artifact_id, name, created, self)

    def list_artifact_versions(
        self,
        name: str | None = None,
        artifact: str | None = None,
        page: int = 1,
        size: int = 20,
        sort_by: str = "asc:created",
        tag: str | None = None,
        uri: str | None = None,
        **extra: Any,
    ) -> Page[ArtifactVersionView]:
        """Versions oldest first (as numbered), or newest first with `sort_by="desc:created"`;
        `uri=` finds the versions stored at one URI."""
        check_filters(
            "list_artifact_versions",
            extra,
            ("name", "artifact", "page", "size", "sort_by", "tag", "uri"),
        )
        records, total = self._store.list_artifact_versions(
            name=name or artifact,
            page=page,
            size=size,
            newest_first=sort_by == "desc:created",
            tag=tag,
            uri=uri,
        )
        return Page([ArtifactVersionView(r, self) for r in records], total, page, size)

    # --- hooks -----------------------------------------------------------------------------------

    def list_hook_invocations(
        self,
        pipeline_run_id: str | uuid.UUID | None = None,
        step_run_id: str | uuid.UUID | None = None,
        hook_type: str | None = None,
        page: int = 1,
        size: int = 20,
        **extra: Any,
    ) -> Page[HookInvocationView]:
        """Recorded hook calls (lifecycle hooks and `run_hook`), oldest first."""
        check_filters(
            "list_hook_invocations",
            extra,
            ("pipeline_run_id", "step_run_id", "hook_type", "page", "size"),
        )
        run_id = None
        if pipeline_run_id is not None:
            run_id = self._store.get_run(_ident(pipeline_run_id)).id
        records = self._store.list_hook_invocations(
            run_id=run_id,
            step_run_id=None if step_run_id is None else _ident(step_run_id),
            hook_type=None if hook_type is None else str(hook_type),
        )
        start = max(page - 1, 0) * size
        items = [HookInvocationView(r, self) for r in records[start : start + size]]
        return Page(items, len(records), page, size)

    # --- metadata --------------------------------------------------------------------------------

    def create_run_metadata(
        self,
        metadata: dict[str, Any],
        resources: Sequence[RunMetadataResource],
        stack_component_id: str | uuid.UUID | None = None,
        publisher_step_id: str | uuid.UUID | None = None,
    ) -> None:
        """Attach `metadata` to each of `resources` (pipeline runs, step runs, artifact
        versions), merging with what they hold, in one transaction; ZenML's signature.
        `stack_component_id` and `publisher_step_id` are accepted and have no effect."""
        plain = recordable_metadata(metadata, "create_run_metadata: metadata")
        targets = {
            MetadataResourceTypes.PIPELINE_RUN: "run",
            MetadataResourceTypes.STEP_RUN: "step",
            MetadataResourceTypes.ARTIFACT_VERSION: "artifact_version",
        }
        changes = []
        for resource in resources:
            if not isinstance(resource, RunMetadataResource):
                raise ValueError(
                    "create_run_metadata: resources must be RunMetadataResource(id=..., type=...)"
                    f" objects (from fanflow.models), got {resource!r}."
                )
            target = targets.get(resource.type)
            if target is None:
                raise ValueError(
                    f"create_run_metadata: metadata on {resource.type.value} is not supported "
                    "by fanflow (no model control plane)."
                )
            changes.append(MetadataUpdate(target, resource.id.hex, plain))
        if changes:
            write_metadata(changes, self._settings.metadata_url)

    def _load_artifact(self, record: ArtifactVersionRecord) -> Any:
        if record.materializer == ITEM_MATERIALIZER:
            parents = self._store.item_parent_payloads([record])
            parent = parents.get(parent_id(record.run_metadata) or "")
            return load_item(
                source_from_metadata(record.uri, record.run_metadata, parent),
                self._artifact_store,
            )
        return load_value(
            record.uri,
            record.materializer,
            record.data_type,
            self._artifact_store,
            expected_hash=record.content_hash,
            inline=record.inline_payload,
        )
