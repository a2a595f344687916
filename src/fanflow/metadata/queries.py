"""Reads of the metadata store: lookups by name, id and prefix, listings, cache lookups.

Invariants: every method reads in one connection (one consistent snapshot under SQLite's WAL)
and returns frozen records; `IN (...)` lists are chunked so any number of ids can be asked for.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.sql.elements import ColumnElement

from fanflow.exceptions import AmbiguousIdentifierError, DoesNotExistError
from fanflow.ids import normalize_id
from fanflow.metadata import schema as t
from fanflow.metadata.engine import starts_with
from fanflow.metadata.records import (
    ArtifactVersionRecord,
    HookInvocationRecord,
    PipelineRecord,
    RunRecord,
    StepRunRecord,
)

IN_CHUNK = 500


def _looks_like_uuid(text: str) -> bool:
    candidate = normalize_id(text)
    return len(candidate) == 32 and all(ch in "0123456789abcdef" for ch in candidate)


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """`chunks` of an iterable that is never held whole (rows built while they are written)."""
    rows = iter(items)
    while batch := list(itertools.islice(rows, size)):
        yield batch


_AV_COLUMNS = (
    t.artifact_versions.c.id,
    t.artifact_versions.c.artifact_id,
    t.artifacts.c.name,
    t.artifact_versions.c.version,
    t.artifact_versions.c.version_number,
    t.artifact_versions.c.uri,
    t.artifact_versions.c.materializer,
    t.artifact_versions.c.data_type,
    t.artifact_versions.c.artifact_type,
    t.artifact_versions.c.size,
    t.artifact_versions.c.content_hash,
    t.artifact_versions.c.save_type,
    t.artifact_versions.c.producer_step_run_id,
    t.artifact_versions.c.producer_run_id,
    t.artifact_versions.c.created,
    t.artifact_versions.c.run_metadata,
    t.artifact_versions.c.inline_payload,
)
_AV_FROM = t.artifact_versions.join(
    t.artifacts, t.artifacts.c.id == t.artifact_versions.c.artifact_id
)


def _artifact_version(row: Any) -> ArtifactVersionRecord:
    m = row._mapping
    return ArtifactVersionRecord(
        id=m["id"],
        artifact_id=m["artifact_id"],
        name=m["name"],
        version=m["version"],
        version_number=m["version_number"],
        uri=m["uri"],
        materializer=m["materializer"],
        data_type=m["data_type"],
        artifact_type=m["artifact_type"],
        size=m["size"],
        content_hash=m["content_hash"],
        save_type=m["save_type"],
        producer_step_run_id=m["producer_step_run_id"],
        producer_run_id=m["producer_run_id"],
        created=m["created"],
        run_metadata=dict(m["run_metadata"] or {}),
        inline_payload=m["inline_payload"],
    )


# Every run column but `spec` (a static run's planned steps, possibly large; read on its own by
# `planned_steps`), plus the pipeline's name.
_RUN_COLUMNS = (
    *(column for column in t.pipeline_runs.c if column.name != "spec"),
    t.pipelines.c.name.label("pipeline_name"),
)
_RUN_FROM = t.pipeline_runs.outerjoin(
    t.pipelines, t.pipelines.c.id == t.pipeline_runs.c.pipeline_id
)


def _run(row: Any) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"],
        name=m["name"],
        pipeline_id=m["pipeline_id"],
        pipeline_name=m["pipeline_name"],
        status=m["status"],
        created=m["created"],
        start_time=m["start_time"],
        end_time=m["end_time"],
        config=dict(m["config"] or {}),
        run_metadata=dict(m["run_metadata"] or {}),
        exception=m["exception"],
        orchestrator_pid=m["orchestrator_pid"],
        orchestrator_host=m["orchestrator_host"],
        heartbeat=m["heartbeat"],
        original_run_id=m["original_run_id"],
    )


def _step(
    row: Row[Any],
    inputs: dict[str, list[ArtifactVersionRecord]] | None = None,
    outputs: dict[str, list[ArtifactVersionRecord]] | None = None,
    *,
    inputs_unread: bool = False,
) -> StepRunRecord:
    m = row._mapping
    return StepRunRecord(
        id=m["id"],
        run_id=m["run_id"],
        name=m["name"],
        step_name=m["step_name"],
        status=m["status"],
        created=m["created"],
        start_time=m["start_time"],
        end_time=m["end_time"],
        config=dict(m["config"] or {}),
        upstream=list(m["upstream"] or []),
        cache_key=m["cache_key"],
        code_hash=m["code_hash"],
        source=m["source"],
        original_step_run_id=m["original_step_run_id"],
        exception=m["exception"],
        traceback=m["traceback"],
        run_metadata=dict(m["run_metadata"] or {}),
        map_group=m["map_group"],
        map_index=m["map_index"],
        attempts=m["attempts"],
        logs_uri=m["logs_uri"],
        inputs=inputs or {},
        outputs=outputs or {},
        inputs_unread=inputs_unread,
    )


def _linked_artifacts(
    conn: Connection, links: Any, condition: Any, order: tuple[Any, ...]
) -> dict[str, dict[str, list[ArtifactVersionRecord]]]:
    """Artifact versions linked to step runs (as inputs or outputs): step run id -> name -> list."""
    query = (
        select(links.c.step_run_id, links.c.name.label("link_name"), *_AV_COLUMNS)
        .select_from(links.join(_AV_FROM, t.artifact_versions.c.id == links.c.artifact_version_id))
        .where(condition)
        .order_by(links.c.step_run_id, links.c.name, *order)
    )
    result: dict[str, dict[str, list[ArtifactVersionRecord]]] = {}
    for row in conn.execute(query):
        result.setdefault(row.step_run_id, {}).setdefault(row.link_name, []).append(
            _artifact_version(row)
        )
    return result


class StoreQueries:
    """The read half of `MetadataStore` (mixed in; it supplies `engine`)."""

    engine: Engine

    def completed_steps(
        self, run_id: str
    ) -> dict[str, tuple[str, dict[str, ArtifactVersionRecord]]]:
        """Finished (completed or cached) step runs of a run by cache key, with their outputs."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.step_runs.c.id, t.step_runs.c.cache_key, t.step_runs.c.original_step_run_id
                ).where(
                    t.step_runs.c.run_id == run_id,
                    t.step_runs.c.status.in_(["completed", "cached"]),
                    t.step_runs.c.cache_key.is_not(None),
                )
            ).all()
            outputs = self._outputs_for(conn, [row.id for row in rows])
        return {
            row.cache_key: (
                row.original_step_run_id or row.id,
                {name: avs[0] for name, avs in outputs.get(row.id, {}).items()},
            )
            for row in rows
        }

    # --- reads: caching ---------------------------------------------------------------------------

    def find_cached(
        self, cache_keys: Sequence[str]
    ) -> dict[str, tuple[str, dict[str, ArtifactVersionRecord]]]:
        """For each key with a completed step run: (that step run's id, its outputs by name)."""
        found: dict[str, tuple[str, dict[str, ArtifactVersionRecord]]] = {}
        if not cache_keys:
            return found
        with self.engine.connect() as conn:
            newest: dict[str, tuple[datetime, str]] = {}
            for chunk in chunks(sorted(set(cache_keys))):
                for row in conn.execute(
                    select(t.step_runs.c.cache_key, t.step_runs.c.id, t.step_runs.c.end_time).where(
                        t.step_runs.c.cache_key.in_(chunk), t.step_runs.c.status == "completed"
                    )
                ):
                    seen = newest.get(row.cache_key)
                    if seen is None or row.end_time > seen[0]:
                        newest[row.cache_key] = (row.end_time, row.id)
            step_ids = [step_id for _, step_id in newest.values()]
            outputs = self._outputs_for(conn, step_ids)
        for key, (_, step_id) in newest.items():
            found[key] = (step_id, {name: avs[0] for name, avs in outputs.get(step_id, {}).items()})
        return found

    # --- reads: pipelines, runs, steps ---------------------------------------------------------

    def get_pipeline(self, name_or_id: str) -> PipelineRecord:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.pipelines).where(t.pipelines.c.name == name_or_id)).all()
            if not rows and _looks_like_uuid(name_or_id):
                rows = conn.execute(
                    select(t.pipelines).where(t.pipelines.c.id == normalize_id(name_or_id))
                ).all()
            if not rows:
                rows = conn.execute(
                    select(t.pipelines).where(
                        or_(
                            starts_with(t.pipelines.c.name, name_or_id),
                            starts_with(t.pipelines.c.id, normalize_id(name_or_id)),
                        )
                    )
                ).all()
        return PipelineRecord(**self._one(rows, "pipelines", name_or_id)._mapping)

    def list_pipelines(self, name: str | None = None) -> list[PipelineRecord]:
        query = select(t.pipelines).order_by(t.pipelines.c.created.desc())
        if name is not None:
            query = query.where(t.pipelines.c.name == name)
        with self.engine.connect() as conn:
            return [PipelineRecord(**row._mapping) for row in conn.execute(query)]

    def get_run(self, ident: str) -> RunRecord:
        query = select(*_RUN_COLUMNS).select_from(_RUN_FROM)
        with self.engine.connect() as conn:
            rows: Sequence[Row[Any]] = []
            if _looks_like_uuid(ident):
                rows = conn.execute(query.where(t.pipeline_runs.c.id == normalize_id(ident))).all()
            if not rows:
                rows = conn.execute(query.where(t.pipeline_runs.c.name == ident)).all()
            if not rows:
                rows = conn.execute(
                    query.where(
                        or_(
                            starts_with(t.pipeline_runs.c.name, ident),
                            starts_with(t.pipeline_runs.c.id, normalize_id(ident)),
                        )
                    ).limit(11)
                ).all()
        return _run(self._one(rows, "runs", ident))

    def running_runs(self) -> list[RunRecord]:
        """Runs recorded as `running` (live ones and any whose orchestrator died)."""
        query = (
            select(*_RUN_COLUMNS)
            .select_from(_RUN_FROM)
            .where(t.pipeline_runs.c.status == "running")
        )
        with self.engine.connect() as conn:
            return [_run(row) for row in conn.execute(query)]

    def list_runs(
        self,
        *,
        pipeline_id: str | None = None,
        status: str | Sequence[str] | None = None,
        name: str | None = None,
        page: int = 1,
        size: int = 20,
        newest_first: bool = True,
        orphaned: Sequence[str] = (),
    ) -> tuple[list[RunRecord], int]:
        """Runs matching the filters. `orphaned`: ids of runs recorded as `running` whose
        orchestrator died; the status filter treats them as `failed`, as readers show them."""
        conditions = []
        if pipeline_id is not None:
            conditions.append(t.pipeline_runs.c.pipeline_id == pipeline_id)
        if status is not None:
            wanted = [str(status)] if isinstance(status, str) else [str(s) for s in status]
            stored: ColumnElement[bool] = t.pipeline_runs.c.status.in_(wanted)
            if orphaned:
                dead = t.pipeline_runs.c.id.in_(list(orphaned))
                stored = and_(stored, ~dead)
                if "failed" in wanted:
                    stored = or_(stored, dead)
            conditions.append(stored)
        if name is not None:
            conditions.append(t.pipeline_runs.c.name == name)
        where = and_(*conditions) if conditions else None
        order = (
            t.pipeline_runs.c.created.desc() if newest_first else t.pipeline_runs.c.created.asc()
        )
        query = select(*_RUN_COLUMNS).select_from(_RUN_FROM).order_by(order, t.pipeline_runs.c.id)
        count = select(func.count()).select_from(t.pipeline_runs)
        if where is not None:
            query, count = query.where(where), count.where(where)
        query = query.limit(size).offset(max(page - 1, 0) * size)
        with self.engine.connect() as conn:
            total = conn.execute(count).scalar_one()
            return [_run(row) for row in conn.execute(query)], int(total)

    def get_steps(self, run_id: str) -> list[StepRunRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.step_runs).where(t.step_runs.c.run_id == run_id)).all()
            in_run = select(t.step_runs.c.id).where(t.step_runs.c.run_id == run_id)
            inputs = self._inputs_where(conn, t.step_run_inputs.c.step_run_id.in_(in_run))
            outputs = self._outputs_where(conn, t.step_run_outputs.c.step_run_id.in_(in_run))
        return [_step(row, inputs.get(row.id), outputs.get(row.id)) for row in rows]

    def step_graph(self, run_id: str) -> list[tuple[str, list[str]]]:
        """Names and upstream names of a run's step runs (no artifacts): enough to order them."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.step_runs.c.name, t.step_runs.c.upstream).where(
                    t.step_runs.c.run_id == run_id
                )
            ).all()
        return [(row.name, list(row.upstream or [])) for row in rows]

    def planned_steps(self, run_id: str) -> list[tuple[str, str, list[str]]]:
        """(invocation id, step name, upstream ids) of every step the run planned up front
        (static runs), recorded at its start; empty when it recorded no plan."""
        with self.engine.connect() as conn:
            spec = conn.execute(
                select(t.pipeline_runs.c.spec).where(t.pipeline_runs.c.id == run_id)
            ).scalar_one_or_none()
        planned = (spec or {}).get("planned_steps") or []
        return [(str(name), str(step), list(upstream)) for name, step, upstream in planned]

    def recorded_uris(self, uris: Sequence[str]) -> set[str]:
        """Which of `uris` an artifact version is recorded at."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in chunks(list(uris)):
                found.update(
                    conn.execute(
                        select(t.artifact_versions.c.uri).where(
                            t.artifact_versions.c.uri.in_(chunk)
                        )
                    ).scalars()
                )
        return found

    def step_positions(self, run_id: str) -> dict[str, int | None]:
        """Each step run's creation position in a dynamic run (None where not recorded)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.step_runs.c.name, t.step_runs.c.config).where(
                    t.step_runs.c.run_id == run_id
                )
            ).all()
        return {row.name: (row.config or {}).get("position") for row in rows}

    def get_step(self, step_run_id: str, *, with_inputs: bool = True) -> StepRunRecord:
        """One step run with its outputs, and its inputs unless `with_inputs` is False (then
        `inputs_unread` is set and `get_step_inputs` reads them when needed)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.step_runs).where(t.step_runs.c.id == step_run_id)).first()
            if row is None:
                raise DoesNotExistError(f"No step run with id {step_run_id}.")
            inputs = (
                self._inputs_where(conn, t.step_run_inputs.c.step_run_id == step_run_id)
                if with_inputs
                else {}
            )
            outputs = self._outputs_where(conn, t.step_run_outputs.c.step_run_id == step_run_id)
        return _step(row, inputs.get(row.id), outputs.get(row.id), inputs_unread=not with_inputs)

    def get_step_inputs(self, step_run_id: str) -> dict[str, list[ArtifactVersionRecord]]:
        with self.engine.connect() as conn:
            inputs = self._inputs_where(conn, t.step_run_inputs.c.step_run_id == step_run_id)
        return inputs.get(step_run_id, {})

    def get_step_by_name(
        self, run_id: str, name: str, *, with_inputs: bool = True
    ) -> StepRunRecord:
        with self.engine.connect() as conn:
            step_id = conn.execute(
                select(t.step_runs.c.id).where(
                    t.step_runs.c.run_id == run_id, t.step_runs.c.name == name
                )
            ).scalar()
        if step_id is None:
            raise DoesNotExistError(f"The run has no step named {name!r}.")
        return self.get_step(step_id, with_inputs=with_inputs)

    def _inputs_where(
        self, conn: Connection, condition: Any
    ) -> dict[str, dict[str, list[ArtifactVersionRecord]]]:
        links = t.step_run_inputs
        return _linked_artifacts(conn, links, condition, (links.c.position,))

    def _outputs_where(
        self, conn: Connection, condition: Any
    ) -> dict[str, dict[str, list[ArtifactVersionRecord]]]:
        return _linked_artifacts(conn, t.step_run_outputs, condition, ())

    def _outputs_for(
        self, conn: Connection, step_ids: Sequence[str]
    ) -> dict[str, dict[str, list[ArtifactVersionRecord]]]:
        result: dict[str, dict[str, list[ArtifactVersionRecord]]] = {}
        for chunk in chunks(list(step_ids)):
            result.update(self._outputs_where(conn, t.step_run_outputs.c.step_run_id.in_(chunk)))
        return result

    # --- reads: artifacts ------------------------------------------------------------------------

    def get_artifact_version_by_id(self, artifact_version_id: str) -> ArtifactVersionRecord:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_AV_COLUMNS)
                .select_from(_AV_FROM)
                .where(t.artifact_versions.c.id == normalize_id(artifact_version_id))
            ).first()
        if row is None:
            raise DoesNotExistError(f"No artifact version with id {artifact_version_id}.")
        return _artifact_version(row)

    def get_artifact_versions_by_ids(self, ids: Sequence[str]) -> dict[str, ArtifactVersionRecord]:
        found: dict[str, ArtifactVersionRecord] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(sorted(set(ids))):
                for row in conn.execute(
                    select(*_AV_COLUMNS)
                    .select_from(_AV_FROM)
                    .where(t.artifact_versions.c.id.in_(chunk))
                ):
                    found[row.id] = _artifact_version(row)
        return found

    def item_parent_payloads(self, records: Iterable[ArtifactVersionRecord]) -> dict[str, bytes]:
        """The inline bytes of the parents of the item versions among `records` (by parent id;
        parents stored as files are left out): what loading those items needs."""
        wanted = {
            str(r.run_metadata["parent_artifact_version_id"])
            for r in records
            if r.save_type == "item" and r.run_metadata.get("parent_artifact_version_id")
        }
        found: dict[str, bytes] = {}
        if not wanted:
            return found
        versions = t.artifact_versions
        with self.engine.connect() as conn:
            for chunk in chunks(sorted(wanted)):
                for row in conn.execute(
                    select(versions.c.id, versions.c.inline_payload).where(
                        versions.c.id.in_(chunk), versions.c.inline_payload.is_not(None)
                    )
                ):
                    found[row.id] = row.inline_payload
        return found

    def get_artifact_version(
        self, name_or_id: str, version: str | None = None
    ) -> ArtifactVersionRecord:
        """Newest version of the artifact named `name_or_id` (or the given version), else by id."""
        base = select(*_AV_COLUMNS).select_from(_AV_FROM)
        with self.engine.connect() as conn:
            query = base.where(t.artifacts.c.name == name_or_id)
            if version is not None:
                query = query.where(t.artifact_versions.c.version == str(version))
            row = conn.execute(
                query.order_by(
                    t.artifact_versions.c.created.desc(),
                    t.artifact_versions.c.version_number.desc(),
                ).limit(1)
            ).first()
            if row is None:
                rows = conn.execute(
                    base.where(
                        starts_with(t.artifact_versions.c.id, normalize_id(name_or_id))
                    ).limit(11)
                ).all()
                if len(rows) > 1:
                    raise AmbiguousIdentifierError(
                        f"{len(rows)} artifact versions have an id starting with {name_or_id!r}; "
                        "please provide more characters to identify one."
                    )
                row = rows[0] if rows else None
        if row is None:
            suffix = f" and version {version}" if version is not None else ""
            raise DoesNotExistError(
                f"No artifact_versions found for name, ID or prefix {name_or_id}{suffix}."
            )
        return _artifact_version(row)

    def list_hook_invocations(
        self,
        run_id: str | None = None,
        step_run_id: str | None = None,
        hook_type: str | None = None,
    ) -> list[HookInvocationRecord]:
        query = select(t.hook_invocations)
        if run_id is not None:
            query = query.where(t.hook_invocations.c.run_id == normalize_id(run_id))
        if step_run_id is not None:
            query = query.where(t.hook_invocations.c.step_run_id == normalize_id(step_run_id))
        if hook_type is not None:
            query = query.where(t.hook_invocations.c.hook_type == hook_type)
        query = query.order_by(t.hook_invocations.c.start_time, t.hook_invocations.c.id)
        with self.engine.connect() as conn:
            records = [HookInvocationRecord(**dict(row._mapping)) for row in conn.execute(query)]
            outputs: dict[str, dict[str, list[str]]] = {}
            ids = [record.id for record in records]
            for chunk in chunks(ids):
                for row in conn.execute(
                    select(t.hook_invocation_outputs)
                    .where(t.hook_invocation_outputs.c.hook_invocation_id.in_(chunk))
                    .order_by(t.hook_invocation_outputs.c.name)
                ):
                    found = outputs.setdefault(row.hook_invocation_id, {})
                    found.setdefault(row.name, []).append(row.artifact_version_id)
        if not outputs:
            return records
        return [
            dataclasses.replace(record, outputs=outputs[record.id])
            if record.id in outputs
            else record
            for record in records
        ]

    def artifact_version_tags(self, artifact_version_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.artifact_version_tags.c.tag)
                    .where(
                        t.artifact_version_tags.c.artifact_version_id
                        == normalize_id(artifact_version_id)
                    )
                    .order_by(t.artifact_version_tags.c.tag)
                ).scalars()
            )

    def get_artifact(self, name_or_id: str) -> tuple[str, str, datetime]:
        """(id, name, created) of the artifact with this name (or id / id prefix)."""
        columns = (t.artifacts.c.id, t.artifacts.c.name, t.artifacts.c.created)
        with self.engine.connect() as conn:
            row = conn.execute(select(*columns).where(t.artifacts.c.name == name_or_id)).first()
            if row is None:
                rows = conn.execute(
                    select(*columns)
                    .where(t.artifacts.c.id.startswith(normalize_id(name_or_id), autoescape=True))
                    .limit(2)
                ).all()
                row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise DoesNotExistError(f"No artifact found for name, ID or prefix {name_or_id}.")
        return row[0], row[1], row[2]

    def list_artifact_versions(
        self,
        name: str | None = None,
        page: int = 1,
        size: int = 20,
        newest_first: bool = False,
        tag: str | None = None,
        uri: str | None = None,
    ) -> tuple[list[ArtifactVersionRecord], int]:
        query = select(*_AV_COLUMNS).select_from(_AV_FROM)
        count = select(func.count()).select_from(_AV_FROM)
        if name is not None:
            query = query.where(t.artifacts.c.name == name)
            count = count.where(t.artifacts.c.name == name)
        if uri is not None:
            query = query.where(t.artifact_versions.c.uri == uri)
            count = count.where(t.artifact_versions.c.uri == uri)
        if tag is not None:
            tagged = select(t.artifact_version_tags.c.artifact_version_id).where(
                t.artifact_version_tags.c.tag == tag
            )
            query = query.where(t.artifact_versions.c.id.in_(tagged))
            count = count.where(t.artifact_versions.c.id.in_(tagged))
        if newest_first:
            query = query.order_by(
                t.artifact_versions.c.created.desc(), t.artifact_versions.c.version_number.desc()
            )
        else:
            query = query.order_by(
                t.artifact_versions.c.created.asc(), t.artifact_versions.c.version_number.asc()
            )
        query = query.limit(size).offset(max(page - 1, 0) * size)
        with self.engine.connect() as conn:
            total = conn.execute(count).scalar_one()
            return [_artifact_version(row) for row in conn.execute(query)], int(total)

    @staticmethod
    def _one(rows: Sequence[Row[Any]], label: str, ident: str) -> Row[Any]:
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise DoesNotExistError(
                f"No {label} have been found that have a name or ID prefix that matches the "
                f"provided string '{ident}'."
            )
        names = ", ".join(sorted(str(row._mapping["name"]) for row in rows[:10]))
        raise AmbiguousIdentifierError(
            f"{len(rows)} {label} have been found that match the provided string '{ident}' "
            f"({names}). Please provide more characters to uniquely identify only one of the "
            f"{label}."
        )
