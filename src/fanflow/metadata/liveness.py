"""Whether a recorded run is still being worked on: the rule that reads a run record as dead.

It lives next to the records because both sides use it: readers (the Client, listings) *show* a
run whose orchestrator died as failed, and writers (the next orchestrator, `resume()`, the
maintenance call) *record* it as failed. Reading never writes.

The rule: a `running` run is dead when its orchestrator's pid is recorded for this host and that
process is gone (or a zombie), or when its heartbeat is older than three heartbeat intervals and
at least a minute (any host).
"""

from __future__ import annotations

import dataclasses
import socket
import uuid
from datetime import datetime, timedelta

from fanflow.config import DEFAULT_HEARTBEAT_INTERVAL_S
from fanflow.ids import utcnow
from fanflow.metadata.records import RunRecord, StepRunRecord
from fanflow.processes import process_alive

MIN_HEARTBEAT_SILENCE_S = 60.0


def orchestrator_is_dead(
    pid: int | None,
    host: str | None,
    heartbeat: datetime | None,
    interval: float | None,
    now: datetime | None = None,
) -> bool:
    now = now or utcnow()
    if pid is not None and host == socket.gethostname() and not process_alive(pid):
        return True
    if heartbeat is None:
        return False
    allowed = max(MIN_HEARTBEAT_SILENCE_S, 3 * (interval or DEFAULT_HEARTBEAT_INTERVAL_S))
    return now - heartbeat > timedelta(seconds=allowed)


def run_is_orphaned(record: RunRecord, now: datetime | None = None) -> bool:
    """A run recorded as `running` whose orchestrator is gone."""
    if record.status != "running":
        return False
    return orchestrator_is_dead(
        record.orchestrator_pid,
        record.orchestrator_host,
        record.heartbeat,
        record.config.get("heartbeat_interval"),
        now,
    )


def orphan_reason(record: RunRecord) -> str:
    return (
        f"The orchestrating process (pid {record.orchestrator_pid} on "
        f"{record.orchestrator_host}) ended without finishing the run: it crashed or was "
        f"killed. Finished steps are kept; resume with "
        f"Client().get_pipeline_run({record.name!r}).resume()."
    )


def orphan_end_time(record: RunRecord) -> datetime:
    """When an orphaned run ended: its last sign of life."""
    return record.heartbeat or record.start_time or record.created


def as_seen(record: RunRecord, now: datetime | None = None) -> RunRecord:
    """The run as a reader should see it: an orphaned run is failed (nothing is written)."""
    if not run_is_orphaned(record, now):
        return record
    return dataclasses.replace(
        record,
        status="failed",
        end_time=orphan_end_time(record),
        exception=record.exception or orphan_reason(record),
    )


def step_as_seen(step: StepRunRecord, run: RunRecord) -> StepRunRecord:
    """A step can only be running while its run is: in a finished (or orphaned) run, a step
    recorded as running is shown as failed with the run's reason, and one recorded as
    `initializing` (added to a dynamic run, never started) as skipped."""
    if run.status == "running" or step.status not in ("running", "initializing"):
        return step
    if step.status == "initializing":  # added to a dynamic run that ended before starting it
        return dataclasses.replace(step, status="skipped", end_time=step.end_time or run.end_time)
    return dataclasses.replace(
        step,
        status="failed",
        end_time=step.end_time or run.end_time,
        exception=step.exception or run.exception,
    )


def unstarted_step(run: RunRecord, name: str, step_name: str, upstream: list[str]) -> StepRunRecord:
    """A planned step with no record yet: `initializing` while its run goes on, `skipped` once
    the run has ended (or its orchestrator died) without starting it."""
    return StepRunRecord(
        id=uuid.uuid5(uuid.UUID(run.id), name).hex,
        run_id=run.id,
        name=name,
        step_name=step_name,
        status="initializing" if run.status == "running" else "skipped",
        created=run.created,
        start_time=None,
        end_time=None,
        config={},
        upstream=list(upstream),
        cache_key=None,
        code_hash=None,
        source=None,
        original_step_run_id=None,
        exception=None,
        traceback=None,
        run_metadata={},
        map_group=None,
        map_index=None,
        attempts=None,
    )
