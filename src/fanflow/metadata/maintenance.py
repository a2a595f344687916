"""Explicit maintenance of the metadata store: repairing dead runs and deleting runs; reads
never repair or delete.

`repair_dead_runs(store)` records every run whose orchestrator died (see `liveness.py`) as
failed, with its running steps. The next run that starts in a home calls it, `resume()` repairs
the run it resumes, and an operator may call it at any time:

    from fanflow.config import load_settings
    from fanflow.metadata.maintenance import repair_dead_runs
    from fanflow.metadata.store import MetadataStore
    repair_dead_runs(MetadataStore(load_settings().metadata_url))

`delete_runs(store, run_ids)` (behind `fanflow runs delete`) and `referenced_uris(store)`
(behind `fanflow gc`). Invariants:
- deleting runs is one transaction: their step runs, input/output links and pipeline-run rows,
  plus the artifact versions they produced that no remaining step run uses (a cached step of
  another run links to an earlier run's outputs; those are kept, their producer cleared, and go
  with the last run that links them); manually saved artifacts are never deleted with a run;
- an artifact file is released (may be removed from disk) only when no remaining artifact version
  has its URI (per-item versions of a mapped list share the list's URI);
- nothing here touches files: the caller removes released URIs through the artifact layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update

from fanflow.metadata import schema as t
from fanflow.metadata.engine import write_connection
from fanflow.metadata.liveness import orphan_end_time, orphan_reason, run_is_orphaned
from fanflow.metadata.queries import chunks
from fanflow.metadata.records import RunRecord
from fanflow.metadata.store import MetadataStore


@dataclass
class RunDeletion:
    """What deleting some runs removes (or, for a dry run, would remove)."""

    run_ids: list[str]
    step_runs: int = 0
    artifact_versions: int = 0
    kept_artifact_versions: int = 0
    released_uris: list[str] = field(default_factory=list)
    log_uris: list[str] = field(default_factory=list)


def runs_matching(
    store: MetadataStore,
    *,
    pipeline_id: str | None = None,
    created_before: datetime | None = None,
) -> list[str]:
    """Ids of runs of a pipeline and/or created before a time, oldest first."""
    runs = t.pipeline_runs
    query = select(runs.c.id).order_by(runs.c.created)
    if pipeline_id is not None:
        query = query.where(runs.c.pipeline_id == pipeline_id)
    if created_before is not None:
        query = query.where(runs.c.created < created_before)
    with store.engine.connect() as conn:
        return [row.id for row in conn.execute(query)]


def delete_runs(
    store: MetadataStore, run_ids: Sequence[str], *, dry_run: bool = False
) -> RunDeletion:
    """Delete runs and what only they use; returns what was (or would be) removed."""
    result = RunDeletion(run_ids=list(dict.fromkeys(run_ids)))
    if not result.run_ids:
        return result
    steps, versions = t.step_runs, t.artifact_versions
    with write_connection(store.engine) as conn:
        step_ids: list[str] = []
        produced: dict[str, str] = {}
        registered: set[str] = set()
        for chunk in chunks(result.run_ids):
            for row in conn.execute(
                select(steps.c.id, steps.c.logs_uri).where(steps.c.run_id.in_(chunk))
            ):
                step_ids.append(row.id)
                if row.logs_uri:
                    result.log_uris.append(row.logs_uri)
            for version in conn.execute(
                select(versions.c.id, versions.c.uri, versions.c.save_type).where(
                    versions.c.producer_run_id.in_(chunk)
                )
            ):
                if version.save_type == "preexisting":  # `register_artifact`: the user's data
                    registered.add(version.id)
                else:
                    produced[version.id] = version.uri
        doomed_steps = set(step_ids)
        # Outputs of runs deleted earlier (their producer cleared) that only these runs still
        # linked: they go now too. Manually saved artifacts are never removed with a run.
        for links in (t.step_run_inputs, t.step_run_outputs):
            for chunk in chunks(step_ids):
                for row in conn.execute(
                    select(versions.c.id, versions.c.uri)
                    .select_from(links.join(versions, versions.c.id == links.c.artifact_version_id))
                    .where(
                        links.c.step_run_id.in_(chunk),
                        versions.c.producer_run_id.is_(None),
                        versions.c.save_type != "manual",
                    )
                ):
                    produced[row.id] = row.uri
        used_elsewhere: set[str] = set()
        for links in (t.step_run_inputs, t.step_run_outputs):
            for chunk in chunks(sorted(produced)):
                for row in conn.execute(
                    select(links.c.artifact_version_id, links.c.step_run_id).where(
                        links.c.artifact_version_id.in_(chunk)
                    )
                ):
                    if row.step_run_id not in doomed_steps:
                        used_elsewhere.add(row.artifact_version_id)
        deletable = sorted(set(produced) - used_elsewhere)
        used_elsewhere |= registered  # kept, and no longer linked to the deleted run
        result.step_runs = len(step_ids)
        result.artifact_versions = len(deletable)
        result.kept_artifact_versions = len(used_elsewhere)
        candidate_uris = sorted({produced[av] for av in deletable})
        still_referenced: set[str] = set()
        doomed_versions = set(deletable)
        for chunk in chunks(candidate_uris):
            for row in conn.execute(
                select(versions.c.id, versions.c.uri).where(versions.c.uri.in_(chunk))
            ):
                if row.id not in doomed_versions:
                    still_referenced.add(row.uri)
        result.released_uris = [uri for uri in candidate_uris if uri not in still_referenced]
        if dry_run:
            conn.rollback()
            return result
        hooks = t.hook_invocations
        for chunk in chunks(result.run_ids):  # hook calls (and their stored outputs) go first
            conn.execute(
                delete(t.hook_invocation_outputs).where(
                    t.hook_invocation_outputs.c.hook_invocation_id.in_(
                        select(hooks.c.id).where(hooks.c.run_id.in_(chunk))
                    )
                )
            )
            conn.execute(delete(hooks).where(hooks.c.run_id.in_(chunk)))
        for chunk in chunks(step_ids):
            conn.execute(
                delete(t.step_run_inputs).where(t.step_run_inputs.c.step_run_id.in_(chunk))
            )
            conn.execute(
                delete(t.step_run_outputs).where(t.step_run_outputs.c.step_run_id.in_(chunk))
            )
            conn.execute(delete(steps).where(steps.c.id.in_(chunk)))
        for chunk in chunks(deletable):
            conn.execute(delete(versions).where(versions.c.id.in_(chunk)))
        for chunk in chunks(sorted(used_elsewhere)):
            conn.execute(
                update(versions)
                .where(versions.c.id.in_(chunk))
                .values(producer_run_id=None, producer_step_run_id=None)
            )
        for chunk in chunks(result.run_ids):
            conn.execute(delete(t.pipeline_runs).where(t.pipeline_runs.c.id.in_(chunk)))
        conn.execute(
            delete(t.artifacts).where(
                t.artifacts.c.id.not_in(select(versions.c.artifact_id).distinct())
            )
        )
        conn.commit()
    return result


def referenced_uris(store: MetadataStore) -> set[str]:
    """Every artifact URI and step-log URI some record points to."""
    with store.engine.connect() as conn:
        uris = {row[0] for row in conn.execute(select(t.artifact_versions.c.uri).distinct())}
        uris.update(
            row[0]
            for row in conn.execute(
                select(t.step_runs.c.logs_uri).where(t.step_runs.c.logs_uri.is_not(None))
            )
        )
    return uris


def repair_run(store: MetadataStore, record: RunRecord, now: datetime | None = None) -> bool:
    """Record `record` as failed if its orchestrator died; True when this call changed it."""
    if not run_is_orphaned(record, now):
        return False
    return store.mark_orphaned(record.id, orphan_reason(record), orphan_end_time(record))


def repair_dead_runs(store: MetadataStore, now: datetime | None = None) -> list[str]:
    """Record every orphaned run as failed; returns the names of the runs this call repaired."""
    return [record.name for record in store.running_runs() if repair_run(store, record, now)]
