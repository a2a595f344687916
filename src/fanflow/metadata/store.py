"""The metadata store: the only place that writes fanflow's tables (reads: `queries.py`).

Writes come from the orchestrator (one per run, the single writer of that run's records) and from
explicit user calls (`save_artifact`, `log_metadata` outside steps). Each write method is one short
transaction; the per-step ones take lists so that steps finishing together are recorded together.

Invariants:
- artifact versions are numbered "1", "2", ... per artifact name inside the writing transaction
  (under SQLite's write lock, or row locks on the artifacts taken in name order on PostgreSQL),
  so concurrent processes never hand out the same number, nor deadlock on each other;
- a step run's outputs and its final status are recorded in the same transaction, so a reader
  that sees `completed` also sees the outputs;
- reads (mixed in from `StoreQueries`) return frozen records from `records.py`, never live rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Insert, Select, Update

from fanflow.exceptions import DoesNotExistError, EntityExistsError
from fanflow.ids import new_id, new_ordered_id, utcnow
from fanflow.metadata import schema as t
from fanflow.metadata import wal
from fanflow.metadata.bulk_writes import execute_many
from fanflow.metadata.engine import (
    check_store_file,
    get_engine,
    insert_ignore,
    write_connection,
)
from fanflow.metadata.queries import StoreQueries, batches, chunks
from fanflow.metadata.records import (
    ArtifactVersionRecord,
    HookInvocationRecord,
    MetadataUpdate,
    NewArtifactVersion,
    StepFinish,
    StepStart,
)

ROWS_PER_STATEMENT = 5_000
"""Rows built and sent per executemany: a turn that records a million rows (a dynamic map
added at once, or split into items) holds one slice of parameter dicts at a time, not a
million of them, in the same transaction."""


# --- statements of the per-turn write, built once -------------------------------------------------
# SQLAlchemy caches each statement's compiled SQL, but finding it again means computing the
# statement's cache key, which a statement object keeps once computed: a statement rebuilt for
# every call pays that again (for an UPDATE with bound parameters, more than executing it for a
# turn's rows). The orchestrator writes every turn, so these are built once and reused; IN lists
# are expanding parameters, so one statement serves every list length.


@functools.cache
def _insert(table: Table) -> Insert:
    return table.insert()


@functools.cache
def _finish_update() -> Update:
    return (
        update(t.step_runs)
        .where(t.step_runs.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            start_time=bindparam("b_start"),
            end_time=bindparam("b_end"),
            exception=bindparam("b_exception"),
            traceback=bindparam("b_traceback"),
            run_metadata=bindparam("b_metadata"),
            attempts=bindparam("b_attempts"),
            logs_uri=bindparam("b_logs"),
        )
    )


@functools.cache
def _planned_update(columns: tuple[str, ...]) -> Update:
    return (
        update(t.step_runs)
        .where(t.step_runs.c.id == bindparam("b_id"))
        .values({key: bindparam(f"b_{key}") for key in columns})
    )


@functools.cache
def _artifact_ids(lock: bool) -> Select[Any]:
    query = select(t.artifacts.c.id, t.artifacts.c.name).where(
        t.artifacts.c.name.in_(bindparam("names", expanding=True))
    )
    if lock:
        # Row locks on the artifacts, taken in name order by every writer, serialise the
        # numbering of each artifact's versions between processes (SQLite: the write lock does).
        query = query.order_by(t.artifacts.c.name).with_for_update()
    return query


@functools.cache
def _highest_versions() -> Select[Any]:
    versions = t.artifact_versions.c
    return (
        select(versions.artifact_id, func.max(versions.version_number))
        .where(versions.artifact_id.in_(bindparam("ids", expanding=True)))
        .group_by(versions.artifact_id)
    )


class MetadataStore(StoreQueries):
    """Reads and writes of one metadata database (SQLite file or PostgreSQL URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = get_engine(url)

    # --- writes: pipelines and runs ------------------------------------------------------------

    def get_or_create_pipeline(self, name: str) -> str:
        with write_connection(self.engine) as conn:
            insert_ignore(
                conn, t.pipelines, [{"id": new_id(), "name": name, "created": utcnow()}], ["name"]
            )
            pipeline_id = conn.execute(
                select(t.pipelines.c.id).where(t.pipelines.c.name == name)
            ).scalar_one()
            conn.commit()
        return str(pipeline_id)

    def create_run(
        self,
        *,
        run_id: str,
        name: str,
        pipeline_id: str | None,
        config: dict[str, Any],
        spec: dict[str, Any] | None,
        start_time: datetime,
        pid: int | None,
        host: str | None,
        original_run_id: str | None = None,
    ) -> None:
        try:
            with write_connection(self.engine) as conn:
                conn.execute(
                    t.pipeline_runs.insert(),
                    [
                        {
                            "id": run_id,
                            "name": name,
                            "pipeline_id": pipeline_id,
                            "status": "running",
                            "created": start_time,
                            "start_time": start_time,
                            "end_time": None,
                            "config": config,
                            "spec": spec,
                            "run_metadata": {},
                            "exception": None,
                            "orchestrator_pid": pid,
                            "orchestrator_host": host,
                            "heartbeat": start_time,
                            "original_run_id": original_run_id,
                        }
                    ],
                )
                conn.commit()
        except IntegrityError as exc:
            raise EntityExistsError(
                f"A pipeline run named {name!r} already exists. Run names must be unique: pass "
                "another run_name, or include {date} and {time} in the template."
            ) from exc

    def finish_run(self, run_id: str, status: str, exception: str | None = None) -> None:
        check_store_file(self.engine)  # never record a final status into a deleted file
        with write_connection(self.engine) as conn:
            conn.execute(
                update(t.pipeline_runs)
                .where(t.pipeline_runs.c.id == run_id)
                .values(status=status, end_time=utcnow(), exception=exception)
            )
            conn.commit()
        wal.shrink_large_wal(self.url)

    def mark_orphaned(self, run_id: str, reason: str, end_time: datetime | None = None) -> bool:
        """A run whose orchestrator died: record it (and its running steps) as failed, and the
        steps it added but never started as skipped.

        Only a run still marked `running` is changed, so two writers repairing the same run at
        once do it once. Returns whether this call changed it. Called by the repairs in
        `maintenance.py`, never by a read.
        """
        now = end_time or utcnow()
        with write_connection(self.engine) as conn:
            changed = conn.execute(
                update(t.pipeline_runs)
                .where(t.pipeline_runs.c.id == run_id, t.pipeline_runs.c.status == "running")
                .values(status="failed", end_time=now, exception=reason)
            ).rowcount
            if changed:
                conn.execute(
                    update(t.step_runs)
                    .where(t.step_runs.c.run_id == run_id, t.step_runs.c.status == "running")
                    .values(status="failed", end_time=now, exception=reason)
                )
                # added to a dynamic run but never started
                conn.execute(
                    update(t.step_runs)
                    .where(t.step_runs.c.run_id == run_id, t.step_runs.c.status == "initializing")
                    .values(status="skipped", end_time=now)
                )
            conn.commit()
        return bool(changed)

    def heartbeat(self, run_id: str) -> None:
        """Stamp the run as alive; skipped (MetadataStoreBusyError) when the store stays busy,
        the next beat retrying."""
        with write_connection(self.engine, best_effort=True) as conn:
            conn.execute(
                update(t.pipeline_runs)
                .where(t.pipeline_runs.c.id == run_id)
                .values(heartbeat=utcnow())
            )
            conn.commit()

    # --- writes: steps ----------------------------------------------------------------------------

    def record(
        self,
        *,
        finishes: Sequence[StepFinish] = (),
        artifact_versions: Sequence[NewArtifactVersion] = (),
        starts: Sequence[StepStart] = (),
        planned: Iterable[StepStart] = (),
        item_versions: Iterable[Sequence[NewArtifactVersion]] = (),
    ) -> None:
        """One transaction for one turn of the orchestrator's loop.

        `planned` are new rows too, produced while they are written (a dynamic map adds its
        branches' `initializing` rows all at once: a million of them are never all built), and
        so are `item_versions`, the artifact versions of split items, slice by slice (each
        slice's artifacts are created and locked in one sorted pass, slices in order).

        Finished steps (with their outputs), then standalone artifact versions (map items), then
        steps entering the record (running, cached or skipped), whose input links may point at
        artifacts recorded earlier in the same transaction.
        """
        if not (finishes or artifact_versions or starts or planned or item_versions):
            return
        with write_connection(self.engine) as conn:
            # All new versions at once: their artifacts are locked (PostgreSQL) in one sorted
            # pass, so concurrent orchestrators cannot deadlock on each other's artifacts.
            self._insert_artifact_versions(
                conn, [av for f in finishes for av in f.outputs] + list(artifact_versions)
            )
            for part in item_versions:
                self._insert_artifact_versions(conn, part)
            if finishes:
                self._finish_steps(conn, finishes)
            if starts:
                self._start_steps(conn, starts)
            if planned:
                self._start_steps(conn, planned)
            conn.commit()

    def _start_steps(self, conn: Connection, starts: Iterable[StepStart]) -> None:
        now = utcnow()
        for part in batches(starts, ROWS_PER_STATEMENT):
            self._start_step_rows(conn, part, now)

    def _start_step_rows(self, conn: Connection, starts: Sequence[StepStart], now: Any) -> None:
        step_rows = [
            {
                "id": s.id,
                "run_id": s.run_id,
                "name": s.name,
                "step_name": s.step_name,
                "status": s.status,
                "created": now,
                "start_time": s.start_time,
                "end_time": s.end_time,
                "config": s.config,
                "upstream": s.upstream,
                "cache_key": s.cache_key,
                "code_hash": s.code_hash,
                "source": s.source,
                "original_step_run_id": s.original_step_run_id,
                "exception": None,
                "traceback": None,
                "run_metadata": {},
                "map_group": s.map_group,
                "map_index": s.map_index,
                "attempts": None,
                "logs_uri": None,
            }
            for s in starts
        ]
        # A fan-in over a million branches has a million input links: built in slices too.
        input_rows = (
            {
                "step_run_id": s.id,
                "name": link.name,
                "position": link.position,
                "is_list": link.is_list,
                "artifact_version_id": link.artifact_version_id,
            }
            for s in starts
            for link in s.inputs
        )
        output_rows = [
            {"step_run_id": s.id, "name": name, "artifact_version_id": av_id}
            for s in starts
            for name, av_id in s.cached_outputs
        ]
        planned = [row for row, s in zip(step_rows, starts, strict=True) if s.planned]
        if planned:  # rows written when a dynamic run added them
            self._update_planned(conn, planned)
            step_rows = [row for row, s in zip(step_rows, starts, strict=True) if not s.planned]
        if step_rows:
            execute_many(conn, _insert(t.step_runs), step_rows)
        for part in batches(input_rows, ROWS_PER_STATEMENT):
            execute_many(conn, _insert(t.step_run_inputs), part)
        if output_rows:
            execute_many(conn, _insert(t.step_run_outputs), output_rows)

    @staticmethod
    def _update_planned(conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Planned (`initializing`) rows become the step's start: same id, run and name."""
        kept = ("id", "run_id", "name", "created")
        changed = tuple(key for key in rows[0] if key not in kept)
        execute_many(
            conn,
            _planned_update(changed),
            [{"b_id": row["id"], **{f"b_{key}": row[key] for key in changed}} for row in rows],
        )

    def _finish_steps(self, conn: Connection, finishes: Sequence[StepFinish]) -> None:
        """Output links and final status of finished steps (their versions are inserted)."""
        output_rows = [
            {"step_run_id": f.step_run_id, "name": av.output_name, "artifact_version_id": av.id}
            for f in finishes
            for av in f.outputs
            if av.output_name is not None
        ]
        if output_rows:
            execute_many(conn, _insert(t.step_run_outputs), output_rows)
        execute_many(
            conn,
            _finish_update(),
            [
                {
                    "b_id": f.step_run_id,
                    "b_status": f.status,
                    "b_start": f.start_time,
                    "b_end": f.end_time,
                    "b_exception": f.exception,
                    "b_traceback": f.traceback,
                    "b_metadata": f.run_metadata,
                    "b_attempts": f.attempts,
                    "b_logs": f.logs_uri,
                }
                for f in finishes
            ],
        )
        for f in finishes:
            for change in f.metadata_updates:
                self._merge_metadata(conn, change)
        hooks = [call for f in finishes for call in f.hook_invocations]
        if hooks:
            self._insert_hook_invocations(conn, hooks)

    @staticmethod
    def _insert_hook_invocations(conn: Connection, calls: Sequence[HookInvocationRecord]) -> None:
        conn.execute(
            _insert(t.hook_invocations),
            [
                {
                    "id": c.id,
                    "run_id": c.run_id,
                    "step_run_id": c.step_run_id,
                    "hook_type": c.hook_type,
                    "name": c.name[:512],
                    "status": c.status,
                    "start_time": c.start_time,
                    "end_time": c.end_time,
                    "exception": c.exception,
                    "attempt": c.attempt,
                }
                for c in calls
            ],
        )
        output_rows = [
            {"hook_invocation_id": c.id, "name": name, "artifact_version_id": av_id}
            for c in calls
            for name, ids in c.outputs.items()
            for av_id in ids
        ]
        if output_rows:
            conn.execute(t.hook_invocation_outputs.insert(), output_rows)

    def record_hook_invocations(self, calls: Sequence[HookInvocationRecord]) -> None:
        """Record hook calls made outside any step (run-level hooks of dynamic pipelines)."""
        if not calls:
            return
        with write_connection(self.engine) as conn:
            self._insert_hook_invocations(conn, calls)
            conn.commit()

    def _insert_artifact_versions(
        self, conn: Connection, news: Sequence[NewArtifactVersion]
    ) -> None:
        if not news:
            return
        now = utcnow()
        names = sorted({av.artifact_name for av in news})
        for part in chunks(names, ROWS_PER_STATEMENT):
            insert_ignore(
                conn,
                t.artifacts,
                [{"id": new_ordered_id(), "name": name, "created": now} for name in part],
                ["name"],
            )
        artifact_ids: dict[str, str] = {}
        lock = conn.dialect.name == "postgresql"
        for chunk in chunks(names):
            for row in conn.execute(_artifact_ids(lock), {"names": list(chunk)}):
                artifact_ids[row.name] = row.id
        ids = sorted(artifact_ids.values())
        highest: dict[str, int] = {}
        for chunk in chunks(ids):
            for row in conn.execute(_highest_versions(), {"ids": list(chunk)}):
                highest[row[0]] = row[1] or 0
        for part in chunks(news, ROWS_PER_STATEMENT):
            self._insert_version_rows(conn, part, artifact_ids, highest, now)

    @staticmethod
    def _insert_version_rows(
        conn: Connection,
        news: Sequence[NewArtifactVersion],
        artifact_ids: dict[str, str],
        highest: dict[str, int],
        now: Any,
    ) -> None:
        rows = []
        for av in news:
            artifact_id = artifact_ids[av.artifact_name]
            number: int | None
            if av.version is None:
                number = highest.get(artifact_id, 0) + 1
                highest[artifact_id] = number
                av.version = str(number)
            else:
                number = int(av.version) if av.version.isdigit() else None
                if number is not None:
                    highest[artifact_id] = max(highest.get(artifact_id, 0), number)
            rows.append(
                {
                    "id": av.id,
                    "artifact_id": artifact_id,
                    "version": av.version,
                    "version_number": number,
                    "uri": av.uri,
                    "materializer": av.materializer,
                    "data_type": av.data_type,
                    "artifact_type": av.artifact_type,
                    "size": av.size,
                    "content_hash": av.content_hash,
                    "save_type": av.save_type,
                    "producer_step_run_id": av.producer_step_run_id,
                    "producer_run_id": av.producer_run_id,
                    "created": now,
                    "run_metadata": av.run_metadata,
                    "inline_payload": av.inline_payload,
                }
            )
        try:
            execute_many(conn, _insert(t.artifact_versions), rows)
        except IntegrityError as exc:
            raise EntityExistsError(
                "An artifact version with this name and version already exists: "
                + ", ".join(f"{av.artifact_name} version {av.version}" for av in news)
            ) from exc
        tag_rows = [
            {"artifact_version_id": av.id, "tag": tag}
            for av in news
            for tag in dict.fromkeys(av.tags)
        ]
        if tag_rows:
            conn.execute(_insert(t.artifact_version_tags), tag_rows)

    def save_artifact_version(self, new: NewArtifactVersion) -> ArtifactVersionRecord:
        """Record one artifact saved outside a run (or by a step's `save_artifact`)."""
        with write_connection(self.engine) as conn:
            self._insert_artifact_versions(conn, [new])
            conn.commit()
        return self.get_artifact_version_by_id(new.id)

    def merge_metadata(self, change: MetadataUpdate) -> None:
        self.merge_metadata_many([change])

    def merge_metadata_many(self, changes: Sequence[MetadataUpdate]) -> None:
        """Merge several metadata changes in one transaction: all land, or none."""
        with write_connection(self.engine) as conn:
            for change in changes:
                self._merge_metadata(conn, change)
            conn.commit()

    def _merge_metadata(self, conn: Connection, change: MetadataUpdate) -> None:
        if change.target == "artifact_version_tags":  # metadata = {"tags": [...]}
            insert_ignore(
                conn,
                t.artifact_version_tags,
                [
                    {"artifact_version_id": change.key, "tag": str(tag)}
                    for tag in dict.fromkeys(change.metadata.get("tags", []))
                ],
                ["artifact_version_id", "tag"],
            )
            return
        table = {
            "run": t.pipeline_runs,
            "step": t.step_runs,
            "artifact_version": t.artifact_versions,
        }[change.target]
        current = conn.execute(
            select(table.c.run_metadata).where(table.c.id == change.key)
        ).scalar()
        if current is None:
            raise DoesNotExistError(f"No {change.target.replace('_', ' ')} with id {change.key}")
        merged = {**current, **change.metadata}
        conn.execute(update(table).where(table.c.id == change.key).values(run_metadata=merged))
