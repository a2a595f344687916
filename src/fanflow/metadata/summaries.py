"""Aggregate reads of one run for the shell and the dashboard: computed in SQL, never per branch.

A run is shown as *nodes*: each plain step is one node, and all branches of a map group are one
node keyed `map:<group>`, carrying counts by status, the cached count, p50 and max duration and
the first error. A group's branches are listed a page at a time, sorted and filtered in SQL, and
a huge group's timeline is reduced to a fixed number of buckets.

Invariants:
- every query is bounded by the number of nodes, the page size or the bucket count, not by the
  number of branches: 100,000 branches are counted, sorted and bucketed by the database, and only
  the answer travels to Python (`ix_step_runs_group_index`, `ix_step_runs_group_times` and, for
  anything by duration, `ix_step_runs_group_duration` back the group reads);
- one function reads in one connection, so its answer is one consistent snapshot;
- the few dialect-specific expressions (seconds since the epoch, flooring) are SQLAlchemy
  constructs compiled per dialect below; the queries themselves are dialect-neutral Core;
- a `since` cursor is an opaque string; a reader passes back the last one it got and receives
  only the nodes whose state changed since (plus a new cursor). An unknown or damaged cursor
  means "send everything".
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, func, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from fanflow.exceptions import DoesNotExistError
from fanflow.metadata import schema as t
from fanflow.metadata.sqltime import epoch_seconds

MAP_PREFIX = "map:"
EPOCH = datetime(1970, 1, 1)
RAN_STATUSES = ("completed", "failed")
ACTIVE_STATUSES = ("running", "initializing")
BRANCH_SORTS = ("index", "status", "duration")
INPUT_SAMPLE = 100
CACHE_SIZE = 512

# Facts that never change once true, kept per process so a page polled every second does not
# recompute them: a finished group's summary (keyed by its counts) and a step's upstream keys.
_finished_groups: dict[tuple[str, str, str, str], NodeSummary] = {}
_upstream_keys: dict[tuple[str, str, frozenset[str]], tuple[str, ...]] = {}
# While a group runs: (when, p50, max) of its durations, reused for a few seconds.
_running_durations: dict[tuple[str, str, str], tuple[float, Any, Any]] = {}
RUNNING_DURATIONS_TTL = 5.0
_finished_timelines: dict[tuple[str, str, int, int], Timeline] = {}
_finished_totals: dict[tuple[str, str, str, tuple[str, ...]], int] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= CACHE_SIZE:
        cache.pop(next(iter(cache)), None)
    cache[key] = value


# --- dialect-specific expressions -----------------------------------------------------------------


class seconds_after(FunctionElement[float]):
    """Seconds from an origin to a DateTime column. Arguments: the column, the origin's date as
    "YYYY-MM-DD", its seconds into that day, and its seconds since 1970 (all bound values)."""

    type = Float()
    inherit_cache = True


def after(column: Any, origin: datetime) -> seconds_after:
    day_seconds = origin.hour * 3600 + origin.minute * 60 + origin.second
    return seconds_after(
        column,
        literal(origin.strftime("%Y-%m-%d")),
        literal(day_seconds + origin.microsecond / 1e6, Float()),
        literal((origin - EPOCH).total_seconds(), Float()),
    )


@compiles(seconds_after, "sqlite")
def _after_sqlite(element: seconds_after, compiler: Any, **kw: Any) -> str:
    # On the origin's own day (nearly always) the time of day is read from the text directly;
    # only other days pay for date arithmetic.
    column, day, day_seconds, epoch = element.clauses.clauses
    x = compiler.process(column, **kw)
    full = compiler.process(epoch_seconds(column), **kw)
    return (
        f"(CASE WHEN substr({x}, 1, 10) = {compiler.process(day, **kw)}"
        f" THEN CAST(substr({x}, 12, 2) AS INTEGER) * 3600"
        f" + CAST(substr({x}, 15, 2) AS INTEGER) * 60 + CAST(substr({x}, 18) AS REAL)"
        f" - {compiler.process(day_seconds, **kw)}"
        f" ELSE {full} - {compiler.process(epoch, **kw)} END)"
    )


@compiles(seconds_after, "postgresql")
def _after_postgresql(element: seconds_after, compiler: Any, **kw: Any) -> str:
    column, _day, _day_seconds, epoch = element.clauses.clauses
    full = compiler.process(epoch_seconds(column), **kw)
    return f"({full} - {compiler.process(epoch, **kw)})"


class floor_int(FunctionElement[int]):
    """The integer part of a non-negative number."""

    inherit_cache = True


@compiles(floor_int, "sqlite")
def _floor_sqlite(element: floor_int, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"CAST({compiler.process(arg, **kw)} AS INTEGER)"


@compiles(floor_int, "postgresql")
def _floor_postgresql(element: floor_int, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"CAST(FLOOR({compiler.process(arg, **kw)}) AS INTEGER)"


_sr = t.step_runs
DURATION: ColumnElement[float] = t.STEP_DURATION


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeSummary:
    """One node of a run: a plain step (`kind == "step"`) or a whole map group (`"map"`)."""

    key: str  # the step's name, or "map:<group>"
    kind: str
    name: str  # step invocation name, or group name
    step_name: str
    status: str  # a plain step's status; a group's overall status (see `group_status`)
    total: int
    counts: dict[str, int]
    cached: int
    start_time: datetime | None
    end_time: datetime | None
    p50_duration: float | None
    max_duration: float | None
    first_error: str | None
    first_error_step: str | None  # the (branch) step whose error that is
    upstream: tuple[str, ...]  # keys of the nodes this one depends on
    step_run_id: str | None = None  # plain steps only
    created: datetime | None = None  # when the (first branch of the) node was recorded

    @property
    def done(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in ACTIVE_STATUSES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "name": self.name,
            "step_name": self.step_name,
            "status": self.status,
            "total": self.total,
            "counts": dict(self.counts),
            "cached": self.cached,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "p50_duration": self.p50_duration,
            "max_duration": self.max_duration,
            "first_error": self.first_error,
            "first_error_step": self.first_error_step,
            "upstream": list(self.upstream),
            "step_run_id": self.step_run_id,
            "created": _iso(self.created),
        }


@dataclass(frozen=True, slots=True)
class BranchRow:
    id: str
    name: str
    map_index: int | None
    status: str
    start_time: datetime | None
    end_time: datetime | None
    duration: float | None
    error: str | None  # first line of the exception

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "map_index": self.map_index,
            "status": self.status,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "duration": self.duration,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class BranchPage:
    rows: list[BranchRow]
    total: int  # rows matching the filter
    page: int
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "total": self.total,
            "page": self.page,
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class TimelineLane:
    """Bars of one node. Small nodes list `bars` (name, status, start, end in seconds from the
    timeline's origin); a map group with more branches than the bar limit gives `buckets`
    instead: for equal slices of its time span, how many branches started and finished, and
    how many ran at once on average (branch-seconds in the slice / the slice's width)."""

    key: str
    kind: str
    status: str
    bars: list[tuple[str, str, float | None, float | None]] = field(default_factory=list)
    bucket_start: float | None = None
    bucket_width: float | None = None
    started: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    running: list[float] = field(default_factory=list)  # average number running at once

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "status": self.status,
            "bars": [list(bar) for bar in self.bars],
            "bucket_start": self.bucket_start,
            "bucket_width": self.bucket_width,
            "started": self.started,
            "finished": self.finished,
            "running": self.running,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    origin: datetime | None  # the earliest start; bar times are seconds after it
    span: float  # seconds from origin to the latest end (or now, while running)
    lanes: list[TimelineLane]

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": _iso(self.origin),
            "span": self.span,
            "lanes": [lane.to_dict() for lane in self.lanes],
        }


@dataclass(frozen=True, slots=True)
class RunChanges:
    """What changed in a run since a cursor: the run's status and the nodes that changed."""

    run_status: str
    run_end_time: datetime | None
    nodes: list[NodeSummary]
    removed: list[str]
    cursor: str
    complete: bool  # True when `nodes` is every node (no or unusable cursor)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_status": self.run_status,
            "run_end_time": _iso(self.run_end_time),
            "nodes": [n.to_dict() for n in self.nodes],
            "removed": self.removed,
            "cursor": self.cursor,
            "complete": self.complete,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _first_line(text: str | None, limit: int = 300) -> str | None:
    if not text:
        return None
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]


def group_key(group: str) -> str:
    return f"{MAP_PREFIX}{group}"


def group_status(counts: dict[str, int]) -> str:
    """A map group's overall status: running while any branch runs; failed if any failed;
    otherwise completed (cached when every branch was a cache hit, skipped when all skipped)."""
    total = sum(counts.values())
    if any(counts.get(s) for s in ACTIVE_STATUSES):
        return "running"
    if counts.get("failed"):
        return "failed"
    if counts.get("stopped"):
        return "stopped"
    for uniform in ("cached", "skipped"):
        if total and counts.get(uniform) == total:
            return uniform
    return "completed"


# --- node summaries -------------------------------------------------------------------------------


def _status_counts(conn: Connection, run_id: str) -> dict[str, dict[str, int]]:
    """group -> status -> count, from the group/status index alone."""
    rows = conn.execute(
        select(_sr.c.map_group, _sr.c.status, func.count())
        .where(_sr.c.run_id == run_id, _sr.c.map_group.is_not(None))
        .group_by(_sr.c.map_group, _sr.c.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for group, status, n in rows:
        counts.setdefault(group, {})[status] = int(n)
    return counts


def _plain_rows(conn: Connection, run_id: str) -> list[Any]:
    return list(
        conn.execute(
            select(
                _sr.c.id,
                _sr.c.name,
                _sr.c.step_name,
                _sr.c.status,
                _sr.c.created,
                _sr.c.start_time,
                _sr.c.end_time,
                _sr.c.exception,
            )
            .where(_sr.c.run_id == run_id, _sr.c.map_group.is_(None))
            .order_by(_sr.c.created, _sr.c.name)
        )
    )


def _collapse(names: Iterable[str], groups: set[str]) -> tuple[str, ...]:
    """Upstream step names as node keys: a branch `map:<group>:<i>` becomes `map:<group>`.
    One pass of C-level string calls, as a fan-in lists every branch (100,000 names)."""
    prefixes = {group_key(g) for g in groups}
    keys = dict.fromkeys(
        prefix if (prefix := name.rpartition(":")[0]) in prefixes else name for name in names
    )
    return tuple(keys)


def _group_details(
    conn: Connection,
    run_id: str,
    group: str,
    counts: dict[str, int],
    groups: set[str],
    durations: bool = True,
) -> NodeSummary:
    in_group = and_(_sr.c.run_id == run_id, _sr.c.map_group == group)
    # Each of these reads only `ix_step_runs_group_times` (no table rows).
    span = (
        conn.execute(
            select(func.min(_sr.c.start_time), func.max(_sr.c.end_time)).where(in_group)
        ).one()
        if durations
        else (None, None)
    )
    timed = and_(in_group, _sr.c.status.in_(RAN_STATUSES))
    ran = sum(counts.get(s, 0) for s in RAN_STATUSES)
    p50 = longest = None
    if ran and durations:
        p50, longest = _durations(
            conn, run_id, group, timed, active=group_status(counts) == "running"
        )
    error = None
    if counts.get("failed"):
        error = conn.execute(
            select(_sr.c.name, _sr.c.exception)
            .where(in_group, _sr.c.status == "failed")
            .order_by(_sr.c.end_time.nulls_last(), _sr.c.map_index)
            .limit(1)
        ).first()
    # Every branch of a map has the same dependencies; the first branch speaks for all.
    first = conn.execute(
        select(_sr.c.id, _sr.c.upstream, _sr.c.created, _sr.c.step_name)
        .where(in_group)
        .order_by(_sr.c.map_index)
        .limit(1)
    ).first()
    upstream: list[str] = list(first.upstream or []) if first else []
    if first is not None and not upstream:
        upstream = _input_producers(conn, first.id, run_id)
    step_name = first.step_name if first else group
    if first is None:  # planned, none recorded yet: the plan tells its step and dependencies
        prefix = group_key(group) + ":"
        for name, planned_step, planned_upstream in _planned(conn, run_id):
            if name.startswith(prefix):
                step_name, upstream = planned_step, planned_upstream
                break
    status = group_status(counts)
    return NodeSummary(
        key=group_key(group),
        kind="map",
        name=group,
        step_name=step_name,
        status=status,
        total=sum(counts.values()),
        counts=dict(sorted(counts.items())),
        cached=counts.get("cached", 0),
        start_time=span[0],
        end_time=span[1] if status != "running" else None,
        p50_duration=_seconds(p50),
        max_duration=_seconds(longest),
        first_error=_first_line(error.exception) if error else None,
        first_error_step=error.name if error else None,
        upstream=_collapse(upstream, groups),
        created=first.created if first else None,
    )


def _durations(
    conn: Connection, run_id: str, group: str, timed: Any, active: bool
) -> tuple[float | None, float | None]:
    """p50 and max duration of a group's branches that ran. While the group runs, a figure at
    most `RUNNING_DURATIONS_TTL` seconds old is reused: a page polling every second must not
    sort 100,000 durations every second."""
    key = (str(conn.engine.url), run_id, group)
    if active:
        seen = _running_durations.get(key)
        if seen is not None and time.monotonic() - seen[0] < RUNNING_DURATIONS_TTL:
            return seen[1], seen[2]
    p50 = longest = None
    # Both walk `ix_step_runs_group_duration` (no sort, no table rows): the median is the
    # entry halfway along, the maximum the last one.
    # Counted on `ix_step_runs_group_times` (both times set: no expression to evaluate per
    # branch), walked on `ix_step_runs_group_duration` (duration set): the same branches.
    timed_count = conn.execute(
        select(func.count())
        .select_from(_sr)
        .where(timed, _sr.c.start_time.is_not(None), _sr.c.end_time.is_not(None))
    ).scalar()
    timed = and_(timed, DURATION.is_not(None))
    if timed_count:
        p50 = conn.execute(
            select(DURATION)
            .where(timed)
            .order_by(DURATION, _sr.c.map_index)
            .limit(1)
            .offset((timed_count - 1) // 2)
        ).scalar()
        longest = conn.execute(
            select(DURATION).where(timed).order_by(DURATION.desc(), _sr.c.map_index.desc()).limit(1)
        ).scalar()
    if active:
        _remember(_running_durations, key, (time.monotonic(), p50, longest))
    return p50, longest


def _input_producers(conn: Connection, step_run_id: str, run_id: str) -> list[str]:
    """Names of the step runs of this run that produced a step run's inputs (from the first
    `INPUT_SAMPLE` links: a fan-in's many inputs come from one group). A map item refers to the
    sequence it was split from (`parent_artifact_version_id`), whose producer counts."""
    av = t.artifact_versions
    rows = conn.execute(
        select(av.c.producer_step_run_id, av.c.run_metadata)
        .select_from(t.step_run_inputs.join(av, av.c.id == t.step_run_inputs.c.artifact_version_id))
        .where(t.step_run_inputs.c.step_run_id == step_run_id)
        .limit(INPUT_SAMPLE)
    ).all()
    producers = {row.producer_step_run_id for row in rows if row.producer_step_run_id}
    parents = {
        str((row.run_metadata or {}).get("parent_artifact_version_id"))
        for row in rows
        if not row.producer_step_run_id
        and (row.run_metadata or {}).get("parent_artifact_version_id")
    }
    if parents:
        producers.update(
            pid
            for (pid,) in conn.execute(
                select(av.c.producer_step_run_id).where(av.c.id.in_(sorted(parents)))
            )
            if pid
        )
    if not producers:
        return []
    return [
        name
        for (name,) in conn.execute(
            select(_sr.c.name).where(_sr.c.id.in_(sorted(producers)), _sr.c.run_id == run_id)
        )
    ]


def _seconds(value: Any) -> float | None:
    return None if value is None else max(float(value), 0.0)


def _plain_upstream(
    conn: Connection, step_run_id: str, run_id: str, groups: set[str]
) -> tuple[str, ...]:
    """A step's upstream as node keys. A fan-in's upstream names every branch (100,000 names),
    so the collapsed answer is kept: a recorded step's upstream never changes."""
    key = (str(conn.engine.url), step_run_id, frozenset(groups))
    found = _upstream_keys.get(key)
    if found is not None:
        return found
    row = conn.execute(select(_sr.c.name, _sr.c.upstream).where(_sr.c.id == step_run_id)).one()
    keys = tuple(k for k in _collapse(row.upstream or [], groups) if k != row.name)
    if not keys:
        keys = _collapse(_input_producers(conn, step_run_id, run_id), groups)
    _remember(_upstream_keys, key, keys)
    return keys


@dataclass(frozen=True, slots=True)
class _Unrecorded:
    """A step a static run planned up front but has not recorded (yet): shown as
    `initializing` while the run goes on and `skipped` once it has ended."""

    name: str
    step_name: str
    status: str
    upstream: list[str]
    id: None = None
    created: None = None
    start_time: None = None
    end_time: None = None
    exception: None = None


_planned_cache: dict[tuple[str, str], list[tuple[str, str, list[str]]]] = {}


def _planned(conn: Connection, run_id: str) -> list[tuple[str, str, list[str]]]:
    """(name, step name, upstream) of every step a static run planned (none for dynamic runs);
    a run's plan never changes, so it is read once per process."""
    key = (str(conn.engine.url), run_id)
    found = _planned_cache.get(key)
    if found is None:
        spec = conn.execute(
            select(t.pipeline_runs.c.spec).where(t.pipeline_runs.c.id == run_id)
        ).scalar()
        found = [
            (str(name), str(step), list(up))
            for name, step, up in ((spec or {}).get("planned_steps") or [])
        ]
        _remember(_planned_cache, key, found)
    return found


def _state(
    conn: Connection, run_id: str, run_status: str
) -> tuple[dict[str, dict[str, int]], list[Any]]:
    """Counts by group and status, and the plain steps, with planned-but-unrecorded steps
    added (branches to their group's counts, plain steps as rows of their own)."""
    counts = _status_counts(conn, run_id)
    plain: list[Any] = _plain_rows(conn, run_id)
    planned = _planned(conn, run_id)
    if not planned:
        return counts, plain
    waiting = "initializing" if run_status == "running" else "skipped"
    recorded = {row.name for row in plain}
    planned_branches: dict[str, int] = {}
    for name, step_name, upstream in planned:
        group, _, index = name[len(MAP_PREFIX) :].rpartition(":")
        if name.startswith(MAP_PREFIX) and index.isdigit():
            planned_branches[group] = planned_branches.get(group, 0) + 1
        elif name not in recorded:
            plain.append(_Unrecorded(name, step_name, waiting, upstream))
    for group, total in planned_branches.items():
        by_status = counts.setdefault(group, {})
        missing = total - sum(by_status.values())
        if missing > 0:
            by_status[waiting] = by_status.get(waiting, 0) + missing
    return counts, plain


def _plain_node(row: Any, groups: set[str], run_id: str, conn: Connection) -> NodeSummary:
    ran = row.status in RAN_STATUSES and row.start_time and row.end_time
    duration = (row.end_time - row.start_time).total_seconds() if ran else None
    return NodeSummary(
        key=row.name,
        kind="step",
        name=row.name,
        step_name=row.step_name,
        status=row.status,
        total=1,
        counts={row.status: 1},
        cached=1 if row.status == "cached" else 0,
        start_time=row.start_time,
        end_time=row.end_time,
        p50_duration=duration,
        max_duration=duration,
        first_error=_first_line(row.exception) if row.status == "failed" else None,
        first_error_step=row.name if row.status == "failed" and row.exception else None,
        upstream=(
            _plain_upstream(conn, row.id, run_id, groups)
            if row.id is not None
            else _collapse(row.upstream, groups)
        ),
        step_run_id=row.id,
        created=row.created,
    )


def _require_run(conn: Connection, run_id: str) -> tuple[str, datetime | None]:
    row = conn.execute(
        select(t.pipeline_runs.c.status, t.pipeline_runs.c.end_time).where(
            t.pipeline_runs.c.id == run_id
        )
    ).first()
    if row is None:
        raise DoesNotExistError(f"No pipeline run with id {run_id}.")
    return row.status, row.end_time


def _order(nodes: list[NodeSummary]) -> list[NodeSummary]:
    return sorted(nodes, key=lambda n: (n.created or datetime.max, n.key))


def node_summaries(engine: Engine, run_id: str, *, durations: bool = True) -> list[NodeSummary]:
    """Every node of a run (plain steps and collapsed map groups), in the order they began.
    `durations=False` leaves a group's times out (p50, max, start and end are None): they need
    a pass over the group's branches, which a first glance at a 100,000-branch run can do
    without."""
    with engine.connect() as conn:
        _require_run(conn, run_id)
        return _summaries(conn, run_id, None, durations=durations)[0]


def _summaries(
    conn: Connection,
    run_id: str,
    only: set[str] | None,
    counts: dict[str, dict[str, int]] | None = None,
    plain: list[Any] | None = None,
    durations: bool = True,
) -> tuple[list[NodeSummary], dict[str, str]]:
    """The nodes whose keys are in `only` (None: all), and every node's fingerprint."""
    if counts is None or plain is None:
        counts, plain = _state(conn, run_id, _require_run(conn, run_id)[0])
    groups = set(counts)
    fingerprints = _fingerprints(plain, counts)
    nodes: list[NodeSummary] = []
    for row in plain:
        if only is None or row.name in only:
            nodes.append(_plain_node(row, groups, run_id, conn))
    for group, by_status in counts.items():
        if only is None or group_key(group) in only:
            nodes.append(_group_node(conn, run_id, group, by_status, groups, durations))
    return _order(nodes), fingerprints


def _group_node(
    conn: Connection,
    run_id: str,
    group: str,
    counts: dict[str, int],
    groups: set[str],
    durations: bool,
) -> NodeSummary:
    key = (str(conn.engine.url), run_id, group, json.dumps(sorted(counts.items())))
    found = _finished_groups.get(key)
    if found is not None:
        return found
    node = _group_details(conn, run_id, group, counts, groups, durations)
    if durations and not any(counts.get(s) for s in ACTIVE_STATUSES):
        _remember(_finished_groups, key, node)
    return node


def _fingerprints(plain: list[Any], counts: dict[str, dict[str, int]]) -> dict[str, str]:
    """A string per node that changes whenever the node's state does: a plain step's status and
    end, a group's counts by status (a branch only ever moves forward through statuses)."""
    fingerprints = {row.name: f"{row.status}|{row.end_time}" for row in plain}
    for group, by_status in counts.items():
        fingerprints[group_key(group)] = json.dumps(sorted(by_status.items()))
    return fingerprints


def as_seen_nodes(nodes: list[NodeSummary], run_status: str) -> list[NodeSummary]:
    """Nodes as a reader should see them when the run (as seen, e.g. orphaned) is no longer
    running although some steps were recorded as running: those count as failed, and planned
    steps never started as skipped (see `fanflow.metadata.liveness`). Nothing is written."""
    if run_status in ACTIVE_STATUSES:
        return nodes
    seen = []
    for node in nodes:
        if not any(node.counts.get(s) for s in ACTIVE_STATUSES):
            seen.append(node)
            continue
        counts = dict(node.counts)
        for active, final in (("running", "failed"), ("initializing", "skipped")):
            moved = counts.pop(active, 0)
            if moved:
                counts[final] = counts.get(final, 0) + moved
        status = group_status(counts) if node.kind == "map" else next(iter(counts))
        seen.append(dataclasses.replace(node, counts=dict(sorted(counts.items())), status=status))
    return seen


# --- since cursor ---------------------------------------------------------------------------------


def _encode_cursor(run_status: str, fingerprints: dict[str, str]) -> str:
    digest = {key: zlib.crc32(value.encode()) for key, value in fingerprints.items()}
    raw = json.dumps({"s": run_status, "n": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw)).decode()


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        data = json.loads(zlib.decompress(base64.urlsafe_b64decode(cursor.encode())))
    except (ValueError, zlib.error):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), dict):
        return None
    return data


def changes_since(engine: Engine, run_id: str, cursor: str | None = None) -> RunChanges:
    """The run's status and the nodes whose state changed since `cursor` (all of them without
    one), with the cursor to pass next time. Cheap when nothing changed: one count per group and
    status and one read of the plain steps; full summaries only for the nodes that changed."""
    previous = _decode_cursor(cursor)
    with engine.connect() as conn:
        run_status, run_end = _require_run(conn, run_id)
        counts, plain = _state(conn, run_id, run_status)
        fingerprints = _fingerprints(plain, counts)
        new_cursor = _encode_cursor(run_status, fingerprints)
        if previous is None:
            nodes, _ = _summaries(conn, run_id, None, counts, plain)
            return RunChanges(run_status, run_end, nodes, [], new_cursor, True)
        seen: dict[str, int] = previous["n"]
        changed = {
            key
            for key, value in fingerprints.items()
            if seen.get(key) != zlib.crc32(value.encode())
        }
        nodes = _summaries(conn, run_id, changed, counts, plain)[0] if changed else []
    removed = sorted(set(seen) - set(fingerprints))
    return RunChanges(run_status, run_end, nodes, removed, new_cursor, False)


# --- branches -------------------------------------------------------------------------------------


def list_branches(
    engine: Engine,
    run_id: str,
    group: str,
    *,
    page: int = 1,
    size: int = 50,
    sort: str = "index",
    descending: bool = False,
    status: str | Sequence[str] | None = None,
) -> BranchPage:
    """One page of a map group's branches, sorted by index, status or duration, optionally only
    those in the given status(es) (e.g. "failed")."""
    if sort not in BRANCH_SORTS:
        raise ValueError(f"sort must be one of {', '.join(BRANCH_SORTS)}; got {sort!r}")
    if size < 1 or page < 1:
        raise ValueError(f"page and size must be positive; got page={page}, size={size}")
    if group.startswith(MAP_PREFIX):
        group = group[len(MAP_PREFIX) :]
    conditions = [_sr.c.run_id == run_id, _sr.c.map_group == group]
    if isinstance(status, str):
        conditions.append(_sr.c.status == status)
    elif status is not None:
        conditions.append(_sr.c.status.in_(list(status)))
    where = and_(*conditions)
    index_order = _sr.c.map_index.desc() if descending else _sr.c.map_index.asc()
    offset = (page - 1) * size
    with engine.connect() as conn:
        total = _branch_total(conn, run_id, group, status, where)
        if sort == "duration":
            keys = _keys_by_duration(conn, where, descending, offset, size)
        else:
            order = [index_order]
            if sort == "status":
                order = [_sr.c.status.desc() if descending else _sr.c.status.asc(), index_order]
            # Sorted and paged on an index alone (small sort records), then the page's rows
            # are read: a deep page never drags other columns through the sort.
            keys = [
                k
                for (k,) in conn.execute(
                    select(_sr.c.map_index).where(where).order_by(*order).limit(size).offset(offset)
                )
            ]
        found = (
            {
                row.map_index: row
                for row in conn.execute(
                    select(
                        _sr.c.id,
                        _sr.c.name,
                        _sr.c.map_index,
                        _sr.c.status,
                        _sr.c.start_time,
                        _sr.c.end_time,
                        DURATION.label("duration"),
                        _sr.c.exception,
                    ).where(
                        _sr.c.run_id == run_id, _sr.c.map_group == group, _sr.c.map_index.in_(keys)
                    )
                )
            }
            if keys
            else {}
        )
    rows = [
        BranchRow(
            id=row.id,
            name=row.name,
            map_index=row.map_index,
            status=row.status,
            start_time=row.start_time,
            end_time=row.end_time,
            duration=_seconds(row.duration),
            error=_first_line(row.exception),
        )
        for row in (found[k] for k in keys if k in found)
    ]
    return BranchPage(rows, int(total), page, size)


def _branch_total(
    conn: Connection, run_id: str, group: str, status: str | Sequence[str] | None, where: Any
) -> int:
    """How many branches match: counted once per process for a run that has ended (its
    branches no longer change), so paging through 100,000 of them does not count them again
    on every page."""
    statuses = (status,) if isinstance(status, str) else tuple(status or ())
    key = (str(conn.engine.url), run_id, group, statuses)
    found = _finished_totals.get(key)
    if found is not None:
        return found
    total = int(conn.execute(select(func.count()).select_from(_sr).where(where)).scalar_one())
    if _require_run(conn, run_id)[0] not in ACTIVE_STATUSES:
        _remember(_finished_totals, key, total)
    return total


def _keys_by_duration(
    conn: Connection, where: Any, descending: bool, offset: int, size: int
) -> list[int]:
    """Map indexes of one page sorted by duration (ties by index, the same way round), branches
    without a duration (not ended) last by index. The timed part walks
    `ix_step_runs_group_duration` in either direction and stops after the page; the untimed
    rest is only read for the page that reaches it."""
    by = [DURATION.desc(), _sr.c.map_index.desc()] if descending else [DURATION, _sr.c.map_index]
    keys = [
        k
        for (k,) in conn.execute(
            select(_sr.c.map_index)
            .where(where, DURATION.is_not(None))
            .order_by(*by)
            .limit(size)
            .offset(offset)
        )
    ]
    if len(keys) == size:
        return keys
    timed = conn.execute(  # both times set (as DURATION), on an index with the times
        select(func.count())
        .select_from(_sr)
        .where(where, _sr.c.start_time.is_not(None), _sr.c.end_time.is_not(None))
    ).scalar_one()
    index_order = _sr.c.map_index.desc() if descending else _sr.c.map_index.asc()
    rest = conn.execute(
        select(_sr.c.map_index)
        .where(where, DURATION.is_(None))
        .order_by(index_order)
        .limit(size - len(keys))
        .offset(max(offset - timed, 0))
    )
    return keys + [k for (k,) in rest]


# --- timeline -------------------------------------------------------------------------------------


def timeline(
    engine: Engine,
    run_id: str,
    *,
    max_bars: int = 200,
    buckets: int = 120,
    now: datetime | None = None,
    nodes: list[NodeSummary] | None = None,
) -> Timeline:
    """Start and end of every plain step, and of every branch of groups up to `max_bars`
    branches; larger groups as `buckets` equal time slices with started/finished/running counts
    (running = started minus finished so far: the group's concurrency over time). Pass `nodes`
    from `node_summaries` when you have them, to skip reading them again."""
    with engine.connect() as conn:
        run_status, _ = _require_run(conn, run_id)
        key = (str(engine.url), run_id, max_bars, buckets)
        if run_status not in ACTIVE_STATUSES and key in _finished_timelines:
            return _finished_timelines[key]  # a finished run's timeline never changes
        if nodes is None:
            nodes = _summaries(conn, run_id, None)[0]
        starts = [n.start_time for n in nodes if n.start_time is not None]
        if not starts:
            return Timeline(None, 0.0, [])
        origin = min(starts)
        ends = [n.end_time for n in nodes if n.end_time is not None]
        latest = max([*ends, *starts])
        if now is not None and any(n.status in ACTIVE_STATUSES for n in nodes):
            latest = max(latest, now)
        span = max((latest - origin).total_seconds(), 0.0)
        lanes = [_lane(conn, run_id, node, origin, span, max_bars, buckets) for node in nodes]
    result = Timeline(origin, span, lanes)
    if run_status not in ACTIVE_STATUSES and not any(n.status in ACTIVE_STATUSES for n in nodes):
        _remember(_finished_timelines, key, result)
    return result


def _offset(value: datetime | None, origin: datetime) -> float | None:
    return None if value is None else (value - origin).total_seconds()


def _lane(
    conn: Connection,
    run_id: str,
    node: NodeSummary,
    origin: datetime,
    span: float,
    max_bars: int,
    buckets: int,
) -> TimelineLane:
    if node.kind == "step":
        bar = (
            node.name,
            node.status,
            _offset(node.start_time, origin),
            _offset(node.end_time, origin),
        )
        return TimelineLane(node.key, node.kind, node.status, bars=[bar])
    in_group = and_(_sr.c.run_id == run_id, _sr.c.map_group == node.name)
    if node.total <= max_bars:
        rows = conn.execute(
            select(_sr.c.name, _sr.c.status, _sr.c.start_time, _sr.c.end_time)
            .where(in_group)
            .order_by(_sr.c.map_index)
        )
        bars = [
            (r.name, r.status, _offset(r.start_time, origin), _offset(r.end_time, origin))
            for r in rows
        ]
        return TimelineLane(node.key, node.kind, node.status, bars=bars)
    width = max(span, 1e-6) / buckets
    started, finished, busy = _bucket_counts(conn, in_group, origin, span, width, buckets)
    return TimelineLane(
        node.key,
        node.kind,
        node.status,
        bucket_start=0.0,
        bucket_width=width,
        started=started,
        finished=finished,
        running=[round(b / width, 2) for b in busy],
    )


def _bucket_counts(
    conn: Connection, in_group: Any, origin: datetime, span: float, width: float, buckets: int
) -> tuple[list[int], list[int], list[float]]:
    """Per time slice: branches started, branches finished, and branch-seconds spent running
    (divided by the slice's width, the average number running at once). One pass over the
    group: branches are grouped by (start slice, end slice) with the sums of their start and
    end times, from which each slice's share of their running time follows exactly."""
    start_at = after(_sr.c.start_time, origin)
    end_at = after(_sr.c.end_time, origin)
    start_slot = floor_int(start_at / width).label("s")
    end_slot = floor_int(end_at / width).label("e")
    started, finished = [0] * buckets, [0] * buckets
    busy = [0.0] * buckets
    rows = conn.execute(
        select(start_slot, end_slot, func.count(), func.sum(start_at), func.sum(end_at))
        .where(in_group, _sr.c.start_time.is_not(None))
        .group_by(start_slot, end_slot)
    )
    last = buckets - 1
    for opened, closed, n, sum_start, sum_end in rows:
        count = int(n)
        first = min(max(int(opened), 0), last)
        started[first] += count
        if closed is None:  # still running: it runs until the end of the timeline
            closed, sum_end = buckets, count * span
        else:
            finished[min(max(int(closed), 0), last)] += count
        end_slot_index = min(max(int(closed), first), last)
        if end_slot_index == first:
            busy[first] += float(sum_end) - float(sum_start)
            continue
        busy[first] += count * (first + 1) * width - float(sum_start)
        for middle in range(first + 1, end_slot_index):
            busy[middle] += count * width
        busy[end_slot_index] += float(sum_end) - count * end_slot_index * width
    return started, finished, [max(b, 0.0) for b in busy]
