"""A run seen as step groups: each `.map` group is one row of counts, aggregated by the database.

A 100,000-branch map is summarised without loading its branches: counts by status, the median and
longest duration, and the first failure come from a few grouped queries; branches are read one
page at a time. Plain steps are groups of one, keyed by their invocation id; a map group is keyed
`map:<group>`, like its branches' names (`map:<group>:<index>`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, cast, func, literal, select
from sqlalchemy.engine import Connection

from fanflow.metadata import schema as t
from fanflow.metadata.store import MetadataStore

STATUSES = ("running", "completed", "cached", "failed", "skipped", "stopped")


@dataclass(frozen=True, slots=True)
class GroupSummary:
    key: str
    map_group: str | None
    step_name: str
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    p50_s: float | None = None
    max_s: float | None = None
    started: datetime | None = None
    ended: datetime | None = None
    first_error_step: str | None = None
    first_error: str | None = None

    @property
    def status(self) -> str:
        """One status for the group: running while any branch runs, failed if any failed."""
        for status in ("running", "failed", "stopped"):
            if self.counts.get(status):
                return status
        if self.counts.get("cached") == self.total and self.total:
            return "cached"
        if self.counts.get("skipped") == self.total and self.total:
            return "skipped"
        return "completed"


@dataclass(frozen=True, slots=True)
class BranchRow:
    name: str
    map_index: int | None
    status: str
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    exception: str | None


def _duration(conn: Connection) -> Any:
    steps = t.step_runs
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", steps.c.end_time - steps.c.start_time)
    return cast(
        (func.julianday(steps.c.end_time) - func.julianday(steps.c.start_time)) * 86400.0, Float
    )


def _group_key() -> Any:
    steps = t.step_runs
    return case(
        (steps.c.map_group.is_not(None), literal("map:") + steps.c.map_group),
        else_=steps.c.name,
    )


def group_summaries(store: MetadataStore, run_id: str) -> list[GroupSummary]:
    """One summary per plain step and per map group of a run, in the order they were started."""
    steps = t.step_runs
    key = _group_key().label("key")
    with store.engine.connect() as conn:
        duration = _duration(conn)
        timed = steps.c.status.in_(["completed", "failed"])
        query = (
            select(
                key,
                func.min(steps.c.map_group).label("map_group"),
                func.min(steps.c.step_name).label("step_name"),
                func.count().label("total"),
                *(
                    func.sum(case((steps.c.status == status, 1), else_=0)).label(status)
                    for status in STATUSES
                ),
                func.max(case((timed, duration), else_=None)).label("max_s"),
                func.min(steps.c.start_time).label("started"),
                func.max(steps.c.end_time).label("ended"),
                func.min(steps.c.created).label("first_created"),
            )
            .where(steps.c.run_id == run_id)
            .group_by(key)
            .order_by("first_created", "key")
        )
        rows = conn.execute(query).all()
        summaries = []
        for row in rows:
            counts = {status: int(getattr(row, status) or 0) for status in STATUSES}
            counts = {status: n for status, n in counts.items() if n}
            finished = counts.get("completed", 0) + counts.get("failed", 0)
            p50 = _median(conn, run_id, row, finished, duration) if finished else None
            error_step, error = (
                _first_error(conn, run_id, row) if counts.get("failed") else (None, None)
            )
            summaries.append(
                GroupSummary(
                    key=row.key,
                    map_group=row.map_group,
                    step_name=row.step_name,
                    total=int(row.total),
                    counts=counts,
                    p50_s=p50,
                    max_s=None if row.max_s is None else float(row.max_s),
                    started=row.started,
                    ended=row.ended,
                    first_error_step=error_step,
                    first_error=error,
                )
            )
    return summaries


def _in_group(run_id: str, row: Any) -> Any:
    steps = t.step_runs
    if row.map_group is not None:
        return (steps.c.run_id == run_id) & (steps.c.map_group == row.map_group)
    return (steps.c.run_id == run_id) & (steps.c.name == row.key)


def _median(conn: Connection, run_id: str, row: Any, finished: int, duration: Any) -> float | None:
    steps = t.step_runs
    value = conn.execute(
        select(duration)
        .where(_in_group(run_id, row), steps.c.status.in_(["completed", "failed"]))
        .order_by(duration)
        .limit(1)
        .offset((finished - 1) // 2)
    ).scalar()
    return None if value is None else float(value)


def _first_error(conn: Connection, run_id: str, row: Any) -> tuple[str | None, str | None]:
    steps = t.step_runs
    found = conn.execute(
        select(steps.c.name, steps.c.exception)
        .where(_in_group(run_id, row), steps.c.status == "failed")
        .order_by(steps.c.end_time, steps.c.map_index)
        .limit(1)
    ).first()
    return (found.name, found.exception) if found else (None, None)


def branch_page(
    store: MetadataStore,
    run_id: str,
    map_group: str,
    *,
    page: int = 1,
    size: int = 50,
    status: str | None = None,
) -> tuple[list[BranchRow], int]:
    """One page of a map group's branches by index (optionally of one status); (rows, total)."""
    steps = t.step_runs
    condition = (steps.c.run_id == run_id) & (steps.c.map_group == map_group)
    if status is not None:
        condition = condition & (steps.c.status == status)
    with store.engine.connect() as conn:
        duration = _duration(conn).label("duration_s")
        total = int(conn.execute(select(func.count()).where(condition)).scalar_one())
        rows = conn.execute(
            select(
                steps.c.name,
                steps.c.map_index,
                steps.c.status,
                steps.c.start_time,
                steps.c.end_time,
                duration,
                steps.c.exception,
            )
            .where(condition)
            .order_by(steps.c.map_index, steps.c.name)
            .limit(size)
            .offset(max(page - 1, 0) * size)
        ).all()
    return [
        BranchRow(
            name=row.name,
            map_index=row.map_index,
            status=row.status,
            start_time=row.start_time,
            end_time=row.end_time,
            duration_s=None if row.duration_s is None else float(row.duration_s),
            exception=row.exception,
        )
        for row in rows
    ], total
