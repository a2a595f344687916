"""Bounded lineage reads: a step's inputs and outputs, an artifact's producer and consumers.

A fan-in step may have 100,000 inputs and a shared artifact 100,000 consumers, so every read here
returns counts plus the first `limit` links, never all of them (the Client's `get_step` loads
every link; these are for pages and shell output that show a few).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from fanflow.metadata import schema as t
from fanflow.metadata.queries import _AV_COLUMNS, _AV_FROM, _artifact_version
from fanflow.metadata.records import ArtifactVersionRecord

_sr = t.step_runs


@dataclass(frozen=True, slots=True)
class StepRef:
    id: str
    name: str
    run_id: str
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "run_id": self.run_id, "status": self.status}


@dataclass(frozen=True, slots=True)
class LinkedArtifacts:
    """The artifacts linked to a step under one input or output name: how many, the first few."""

    name: str
    total: int
    versions: list[ArtifactVersionRecord]


@dataclass(frozen=True, slots=True)
class StepLinks:
    inputs: list[LinkedArtifacts]
    outputs: list[LinkedArtifacts]
    producers: dict[str, StepRef]  # artifact version id -> the step run that produced it


def _refs(conn: Connection, ids: set[str]) -> dict[str, StepRef]:
    if not ids:
        return {}
    rows = conn.execute(
        select(_sr.c.id, _sr.c.name, _sr.c.run_id, _sr.c.status).where(_sr.c.id.in_(sorted(ids)))
    )
    return {r.id: StepRef(r.id, r.name, r.run_id, r.status) for r in rows}


def _linked(
    conn: Connection, links: Any, step_run_id: str, order: tuple[Any, ...], limit: int
) -> list[LinkedArtifacts]:
    totals = conn.execute(
        select(links.c.name, func.count())
        .where(links.c.step_run_id == step_run_id)
        .group_by(links.c.name)
        .order_by(links.c.name)
    ).all()
    source = links.join(_AV_FROM, t.artifact_versions.c.id == links.c.artifact_version_id)
    result = []
    for name, total in totals:
        rows = conn.execute(
            select(*_AV_COLUMNS)
            .select_from(source)
            .where(links.c.step_run_id == step_run_id, links.c.name == name)
            .order_by(*order)
            .limit(limit)
        )
        result.append(LinkedArtifacts(name, int(total), [_artifact_version(r) for r in rows]))
    return result


def step_links(engine: Engine, step_run_id: str, limit: int = 20) -> StepLinks:
    """A step run's inputs and outputs by name (counts and the first `limit` of each), and the
    step runs that produced them."""
    with engine.connect() as conn:
        inputs = _linked(
            conn, t.step_run_inputs, step_run_id, (t.step_run_inputs.c.position,), limit
        )
        outputs = _linked(
            conn, t.step_run_outputs, step_run_id, (t.artifact_versions.c.created,), limit
        )
        versions = [v for linked in (*inputs, *outputs) for v in linked.versions]
        refs = _refs(conn, {v.producer_step_run_id for v in versions if v.producer_step_run_id})
    producers = {
        v.id: refs[v.producer_step_run_id]
        for v in versions
        if v.producer_step_run_id in refs and v.producer_step_run_id is not None
    }
    return StepLinks(inputs, outputs, producers)


def consumers(
    engine: Engine, artifact_version_ids: list[str], limit: int = 20
) -> dict[str, tuple[int, list[StepRef]]]:
    """For each artifact version: how many step runs took it as an input, and the first few."""
    found: dict[str, tuple[int, list[StepRef]]] = {}
    inputs = t.step_run_inputs
    with engine.connect() as conn:
        for av_id in artifact_version_ids:
            total = conn.execute(
                select(func.count(func.distinct(inputs.c.step_run_id))).where(
                    inputs.c.artifact_version_id == av_id
                )
            ).scalar_one()
            rows = conn.execute(
                select(_sr.c.id, _sr.c.name, _sr.c.run_id, _sr.c.status)
                .select_from(inputs.join(_sr, _sr.c.id == inputs.c.step_run_id))
                .where(inputs.c.artifact_version_id == av_id)
                .distinct()
                .order_by(_sr.c.created, _sr.c.name)
                .limit(limit)
            )
            found[av_id] = (int(total), [StepRef(r.id, r.name, r.run_id, r.status) for r in rows])
    return found


def artifact_versions_of(
    engine: Engine, artifact_id: str, page: int = 1, size: int = 20
) -> tuple[list[ArtifactVersionRecord], int]:
    """Versions of one artifact, newest first."""
    av = t.artifact_versions
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(av).where(av.c.artifact_id == artifact_id)
        ).scalar_one()
        rows = conn.execute(
            select(*_AV_COLUMNS)
            .select_from(_AV_FROM)
            .where(av.c.artifact_id == artifact_id)
            .order_by(av.c.created.desc(), av.c.version_number.desc())
            .limit(size)
            .offset((max(page, 1) - 1) * size)
        )
        return [_artifact_version(r) for r in rows], int(total)
