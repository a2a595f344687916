"""Listings of artifacts for shells and dashboards, aggregated in SQL.

`artifact_summaries` gives one row per artifact name (versions counted by the database, never
loaded), hiding the per-item artifacts that `.map` records for each branch unless asked;
`artifact_consumers` names the step runs that read a version or reused it from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from fanflow.metadata import schema as t
from fanflow.metadata.store import MetadataStore

ITEM_SAVE_TYPE = "item"


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    name: str
    versions: int
    latest_version: str | None
    created: datetime
    last_saved: datetime | None


@dataclass(frozen=True, slots=True)
class ArtifactUse:
    """A step run linked to an artifact version: as an input, or as a (cached) output."""

    run_id: str
    run_name: str
    step_run_id: str
    step_name: str
    role: str  # "input" or "output"
    input_name: str


def artifact_summaries(
    store: MetadataStore, *, page: int = 1, size: int = 50, include_items: bool = False
) -> tuple[list[ArtifactSummary], int]:
    """Artifacts newest first, with their version counts; (rows, total)."""
    av = t.artifact_versions
    versions = select(
        av.c.artifact_id,
        func.count().label("versions"),
        func.max(av.c.version_number).label("latest"),
        func.max(av.c.created).label("last_saved"),
    ).group_by(av.c.artifact_id)
    if not include_items:
        versions = versions.where(av.c.save_type != ITEM_SAVE_TYPE)
    counted = versions.subquery()
    query = (
        select(
            t.artifacts.c.name,
            t.artifacts.c.created,
            counted.c.versions,
            counted.c.latest,
            counted.c.last_saved,
        )
        .select_from(t.artifacts.join(counted, counted.c.artifact_id == t.artifacts.c.id))
        .order_by(counted.c.last_saved.desc(), t.artifacts.c.name)
        .limit(size)
        .offset(max(page - 1, 0) * size)
    )
    total_query = select(func.count()).select_from(counted)
    with store.engine.connect() as conn:
        total = int(conn.execute(total_query).scalar_one())
        rows = [
            ArtifactSummary(
                name=row.name,
                versions=int(row.versions),
                latest_version=None if row.latest is None else str(row.latest),
                created=row.created,
                last_saved=row.last_saved,
            )
            for row in conn.execute(query)
        ]
    return rows, total


def artifact_consumers(
    store: MetadataStore, artifact_version_id: str, limit: int = 100
) -> list[ArtifactUse]:
    """Step runs that took this version as an input, or recorded it as a cached output."""
    uses: list[ArtifactUse] = []
    steps, runs = t.step_runs, t.pipeline_runs
    with store.engine.connect() as conn:
        for role, links, condition in (
            ("input", t.step_run_inputs, None),
            ("output", t.step_run_outputs, steps.c.status == "cached"),
        ):
            query = (
                select(
                    runs.c.id.label("run_id"),
                    runs.c.name.label("run_name"),
                    steps.c.id.label("step_run_id"),
                    steps.c.name.label("step_name"),
                    links.c.name.label("link_name"),
                )
                .select_from(
                    links.join(steps, steps.c.id == links.c.step_run_id).join(
                        runs, runs.c.id == steps.c.run_id
                    )
                )
                .where(links.c.artifact_version_id == artifact_version_id)
                .order_by(runs.c.created, steps.c.name)
                .limit(limit)
            )
            if condition is not None:
                query = query.where(condition)
            uses.extend(
                ArtifactUse(
                    run_id=row.run_id,
                    run_name=row.run_name,
                    step_run_id=row.step_run_id,
                    step_name=row.step_name,
                    role=role,
                    input_name=row.link_name,
                )
                for row in conn.execute(query)
            )
    return uses
