"""How each way a step can end is written down: records for the next flush, the artifacts
dependents will read, the error kept for the run's outcome, the console line and the handle
the dynamic pipeline function waits on; likewise the answers to split requests, and the run's
outcome at its end. No scheduling decisions here (see `execution/core/`).

Invariant: every record goes into the run's per-turn batch (`RunRecord`), and every handle is
settled only when that batch is flushed (`Resolutions.release`).
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime
from typing import Any

from fanflow.exceptions import StepExecutionException, StepTimeoutError
from fanflow.execution import recording
from fanflow.execution.core import RunScheduler
from fanflow.execution.core import commands as cmd
from fanflow.execution.dispatch import TaskBuilder
from fanflow.execution.in_flight import InFlight
from fanflow.execution.known import KnownArtifact, Resolutions, SplitRequest
from fanflow.execution.messages import ratio_text
from fanflow.execution.observers import ObserverGroup
from fanflow.execution.run_record import RunRecord
from fanflow.execution.run_setup import RunOutcome, final_status
from fanflow.execution.state import NodeStatus
from fanflow.execution.worker import SplitTask, StepResult, StepTask
from fanflow.ids import new_ordered_id, utcnow
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
        self.ratio_failures: list[cmd.RatioBroken] = []

    def dispatched(
        self, invocations: list[Invocation]
    ) -> tuple[list[tuple[str, bool]], list[StepTask]]:
        """Dispatched invocations: their start records (for the next flush), and which ended
        at once (node, succeeded: a cache hit, or blocked by a failed input) and which tasks
        go to the executor."""
        ended: list[tuple[str, bool]] = []
        runnable = []
        for inv in invocations:
            upstream = self.builder.blocked_by(inv)
            if upstream is None:
                runnable.append(inv)
                continue
            # it needs the output of a failed branch that its map tolerated: it cannot run
            self.blocked(inv, f"not run: `{upstream}` failed")
            ended.append((inv.id, False))
        record = self.record
        prepared = self.builder.prepare(
            runnable,
            run_id=record.run_id,
            run_name=record.run_name,
            run_start=record.run_start,
            now=utcnow(),
        )
        record.starts.extend(p.start for p in prepared)
        tasks = []
        for p in prepared:
            if p.hit is not None:
                self.cached_hit(p.inv.id, p.hit)
                ended.append((p.inv.id, True))
            elif p.task is not None:
                tasks.append(p.task)
        return ended, tasks

    def skipped(self, inv: Invocation, reason: str) -> None:
        """Never dispatched: a record of its own, marked skipped."""
        self.builder.skipped(inv)
        planned = self.record.planned_ids.pop(inv.id, None)
        start = recording.skipped_record(
            inv, planned or new_ordered_id(), self.record.run_id, utcnow(), planned is not None
        )
        self.record.starts.append(start)
        self.resolutions.resolve(inv.id, "skipped", {}, None, reason)

    def blocked(self, inv: Invocation, reason: str) -> None:
        """Dispatched but cannot run (an input's producer failed): skipped, kept as an error."""
        self.skipped(inv, reason)
        self.errors[inv.id] = (None, reason)

    def cached_hit(self, node: str, outputs: dict[str, KnownArtifact]) -> None:
        self.cached.add(node)
        self.observers.emit("step_cached", node)
        self.resolutions.resolve(node, "cached", outputs)

    def never_started(self, node: str, task: StepTask) -> None:
        """Withdrawn from the executor before its body started (the run stopped)."""
        self.record.finishes.append(
            StepFinish(task.step_run_id, "skipped", start_time=None, end_time=utcnow())
        )
        self.resolutions.resolve(node, "skipped", {}, None, "not run: the run stopped first")

    def finished(self, node: str, result: StepResult) -> None:
        self.record.finishes.append(recording.finish_record(result, self.record.run_id))
        duration = (result.end_time - result.start_time).total_seconds()
        if result.succeeded:
            outputs = recording.known_outputs(result)
            self.builder.keep_outputs(node, outputs)
            self.observers.emit("step_finished", node, duration, None)
            self.resolutions.resolve(node, "completed", outputs)
            return
        self.errors[node] = (result.error, result.error_text)
        self.builder.failed.add(node)
        self.observers.emit("step_finished", node, duration, result.error)
        self.resolutions.resolve(node, "failed", {}, result.error, result.error_text)

    def give_up(self, node: str, command: cmd.GiveUp, flight: InFlight) -> None:
        """No longer waited for (timeout, fail_fast, end of a stop's grace): recorded now, and
        whatever its body returns later is ignored."""
        error = StepTimeoutError(command.reason) if command.timed_out else None
        task, killed, started = flight.give_up(node, error)
        if error is not None:
            note = (
                "; its process was killed"
                if killed
                else "; it keeps running in its thread until it returns (threads cannot be "
                "killed; a replacement thread takes its slot), and its result is discarded"
            )
            error.args = (f"{command.reason}{note}.",)
        text = f"{type(error).__name__}: {error}" if error else command.reason
        self.given_up(node, task, command.status, error, text, started)

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
        self.resolutions.resolve(node, status, {}, error, text)

    # --- splitting sequence artifacts for .map -------------------------------------------------

    def split_requested(self, request: SplitRequest, stopping: bool, flight: InFlight) -> None:
        if stopping:
            request.error = StepExecutionException(
                "The run is stopping after a failure; no new branches are started."
            )
            self.resolutions.later(lambda: setattr(request, "done", True))
            return
        flight.submit_split(SplitTask(request.source, self.builder.location), request)

    def split_done(self, future: Future[Any], request: SplitRequest) -> None:
        """Its items are known (and recorded with the next flush), or the split failed."""
        try:
            self.record.item_splits.append(self.builder.split_done(request, future.result()))
        except BaseException as exc:
            request.error = exc
        self.resolutions.later(lambda: setattr(request, "done", True))

    # --- the run's end ---------------------------------------------------------------------------

    def run_outcome(
        self, core: RunScheduler, error: BaseException | None
    ) -> tuple[RunOutcome, str | None]:
        """The run's outcome (status, failures, skipped steps) and the error text to record."""
        failures = [(node, *self.errors.get(node, (None, None))) for node in core.failures]
        ratio_errors = [ratio_text(r.group, core.groups[r.group]) for r in self.ratio_failures]
        status, text = final_status(core.interrupted, error, failures, ratio_errors)
        skipped = core.state.nodes_with(NodeStatus.SKIPPED)
        record = self.record
        outcome = RunOutcome(
            record.run_id, record.run_name, status.value, failures, skipped, ratio_errors
        )
        return outcome, text
