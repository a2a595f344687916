"""The run's own record: creating it, its heartbeat, the per-turn write batch, its final status.

Invariant: everything a turn of the orchestrator's loop produced (step starts, finishes, new
artifact versions, a dynamic run's newly added invocations) is written by `flush()` in one
transaction, starts last so a step's record
exists before its body runs and finishes first so dependents see their inputs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterable
from typing import Any

from fanflow.artifacts.store import ArtifactStore
from fanflow.enums import ExecutionStatus
from fanflow.exceptions import EntityExistsError
from fanflow.execution import leftovers, recording
from fanflow.execution.known import SplitItems
from fanflow.execution.run_setup import (
    RunDescription,
    format_run_name,
    planned_spec,
    run_config,
    run_name_template,
)
from fanflow.execution.supervision import Heartbeat, heartbeat_interval
from fanflow.ids import new_id, new_ordered_id, utcnow
from fanflow.metadata import store as metadata_store
from fanflow.metadata.records import MetadataUpdate, NewArtifactVersion, StepFinish, StepStart
from fanflow.metadata.store import MetadataStore
from fanflow.spec import Invocation


class RunRecord:
    def __init__(
        self,
        store: MetadataStore,
        description: RunDescription,
        unlisted: bool,
        original_run_id: str | None,
    ) -> None:
        self.store = store
        self.description = description
        self.unlisted = unlisted
        self.original_run_id = original_run_id
        self.run_id = new_id()
        self.run_name = ""
        self.run_start = utcnow()
        self.heartbeat_interval = heartbeat_interval()
        self.starts: list[StepStart] = []
        self.finishes: list[StepFinish] = []
        self.versions: list[NewArtifactVersion] = []
        self.item_splits: list[SplitItems] = []  # split this turn: their items' rows to write
        # A dynamic run's invocations added this turn: those not dispatched (nor skipped) by
        # the flush are written as `initializing` rows, so the whole submitted graph survives
        # a crash; `planned_ids` maps them to their row's id, which their start then updates.
        self.pending: dict[str, Invocation] = {}
        self.planned_ids: dict[str, str] = {}
        self._started = time.perf_counter()
        self._heartbeat: Heartbeat | None = None

    def create(self, mode: str, max_parallelism: int) -> None:
        description = self.description
        pipeline_name = description.name or "unlisted"
        template = run_name_template(description)
        substitutions = dict(description.options.substitutions)
        pipeline_id = None if self.unlisted else self.store.get_or_create_pipeline(pipeline_name)
        config = run_config(description, template, mode, max_parallelism, self.heartbeat_interval)
        for attempt in range(3):
            self.run_start = utcnow()
            self.run_name = format_run_name(template, pipeline_name, self.run_start, substitutions)
            try:
                self.store.create_run(
                    run_id=self.run_id,
                    name=self.run_name,
                    pipeline_id=pipeline_id,
                    config=config,
                    spec=planned_spec(description),
                    start_time=self.run_start,
                    pid=os.getpid(),
                    host=socket.gethostname(),
                    original_run_id=self.original_run_id,
                )
                break
            except EntityExistsError:
                if "{time}" not in template or attempt == 2:
                    raise
        self._started = time.perf_counter()

    def start_heartbeat(self, artifact_store: ArtifactStore) -> None:
        leftovers.start_of_run(artifact_store, self.store, self.run_id)
        self._heartbeat = Heartbeat(
            lambda: self.store.heartbeat(self.run_id), self.heartbeat_interval
        ).start()

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def flush(self) -> None:
        planned = self._planned_records() if self.pending else ()
        splits = self.item_splits
        if self.finishes or self.versions or self.starts or planned or splits:
            run_id = self.run_id
            self.store.record(
                finishes=self.finishes,
                artifact_versions=self.versions,
                starts=self.starts,
                planned=planned,
                item_versions=(
                    part
                    for split in splits
                    for part in recording.item_version_slices(
                        split, run_id, metadata_store.ROWS_PER_STATEMENT
                    )
                ),
            )
            self.finishes, self.versions, self.starts, self.item_splits = [], [], [], []

    def _planned_records(self) -> Iterable[StepStart]:
        """The `initializing` rows of invocations added this turn and not started in it. Their
        ids are given now; the records are built while the store writes them."""
        recorded = {start.name for start in self.starts}
        planned = [inv for node, inv in self.pending.items() if node not in recorded]
        self.pending.clear()
        if not planned:
            return ()
        run_id, planned_ids = self.run_id, self.planned_ids
        for inv in planned:
            planned_ids[inv.id] = new_ordered_id()
        return (recording.planned_record(inv, planned_ids[inv.id], run_id) for inv in planned)

    def finish(self, status: ExecutionStatus, error_text: str | None, groups: Any) -> None:
        """Write the final status; maps that tolerate failed branches get their success ratio
        in the run's metadata (`map_success_ratio`: group -> ratio)."""
        ratios = {name: round(tally.ratio, 6) for name, tally in groups.items()}
        if ratios:
            with contextlib.suppress(Exception):
                self.store.merge_metadata(
                    MetadataUpdate("run", self.run_id, {"map_success_ratio": ratios})
                )
        self.store.finish_run(self.run_id, status.value, error_text)

    def elapsed(self) -> float:
        return time.perf_counter() - self._started
