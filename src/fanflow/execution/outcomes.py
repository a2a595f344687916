"""How each way a step can end is written down: records for the next flush, the artifacts
dependents will read, the error kept for the run's outcome, the console line and the handle
the dynamic pipeline function waits on. No scheduling decisions here (see `execution/core/`).

Invariant: every record goes into the run's per-turn batch (`RunRecord`), and every handle is
settled only when that batch is flushed (`Resolutions.release`).
"""

from __future__ import annotations

from datetime import datetime

from fanflow.execution import recording
from fanflow.execution.dispatch import TaskBuilder
from fanflow.execution.known import KnownArtifact, Resolutions
from fanflow.execution.observers import ObserverGroup
from fanflow.execution.run_record import RunRecord
from fanflow.execution.worker import StepResult, StepTask
from fanflow.ids import new_id, utcnow
from fanflow.metadata.records import StepFinish
from fanflow.spec import Invocation


class StepOutcomes:
    def __init__(
        self,
        record: RunRecord,
        builder: TaskBuilder,
        observers: ObserverGroup,
        resolutions: Resolutions,
    ) -> None:
        self.record = record
        self.builder = builder
        self.observers = observers
        self.resolutions = resolutions
        self.errors: dict[str, tuple[BaseException | None, str | None]] = {}
        self.cached: set[str] = set()

    def skipped(self, inv: Invocation, reason: str) -> None:
        """Never dispatched: a record of its own, marked skipped."""
        planned = self.record.planned_ids.pop(inv.id, None)
        start = recording.skipped_record(
            inv, planned or new_id(), self.record.run_id, utcnow(), planned is not None
        )
        self.record.starts.append(start)
        self.resolutions.resolve(inv.id, "skipped", start.id, {}, None, reason)

    def blocked(self, inv: Invocation, reason: str) -> None:
        """Dispatched but cannot run (an input's producer failed): skipped, kept as an error."""
        self.skipped(inv, reason)
        self.errors[inv.id] = (None, reason)

    def cached_hit(self, node: str, step_run_id: str, outputs: dict[str, KnownArtifact]) -> None:
        self.cached.add(node)
        self.observers.emit("step_cached", node)
        self.resolutions.resolve(node, "cached", step_run_id, outputs)

    def never_started(self, node: str, task: StepTask) -> None:
        """Withdrawn from the executor before its body started (the run stopped)."""
        self.record.finishes.append(
            StepFinish(task.step_run_id, "skipped", start_time=None, end_time=utcnow())
        )
        self.resolutions.resolve(
            node, "skipped", task.step_run_id, {}, None, "not run: the run stopped first"
        )

    def finished(self, node: str, result: StepResult) -> None:
        self.record.finishes.append(recording.finish_record(result, self.record.run_id))
        duration = (result.end_time - result.start_time).total_seconds()
        if result.succeeded:
            outputs = recording.known_outputs(result)
            self.builder.outputs[node] = outputs
            self.observers.emit("step_finished", node, duration, None)
            self.resolutions.resolve(node, "completed", result.step_run_id, outputs)
            return
        self.errors[node] = (result.error, result.error_text)
        self.builder.failed.add(node)
        self.observers.emit("step_finished", node, duration, result.error)
        self.resolutions.resolve(
            node, "failed", result.step_run_id, {}, result.error, result.error_text
        )

    def given_up(
        self,
        node: str,
        task: StepTask,
        status: str,
        error: BaseException | None,
        text: str,
        started: datetime | None,
    ) -> None:
        """No longer waited for (timeout, fail_fast, end of a stop's grace): recorded now."""
        now = utcnow()
        self.record.finishes.append(
            StepFinish(task.step_run_id, status, start_time=started, end_time=now, exception=text)
        )
        if status == "failed":
            self.errors[node] = (error, text)
            self.builder.failed.add(node)
            duration = (now - started).total_seconds() if started else 0.0
            self.observers.emit("step_finished", node, duration, error)
        self.resolutions.resolve(node, status, task.step_run_id, {}, error, text)
