"""The orchestrator: the I/O shell around the scheduler core, and the single writer of a run.

One loop. Each turn it drains its queue of typed messages (finished futures, body-start reports,
invocations added by a dynamic pipeline function, split requests, stop requests), turns them
into scheduler events (with the current time), lets `RunScheduler` decide, executes the
commands it returns (dispatch, record skips, cancel, give up), writes everything in one
transaction and only then hands new work to the executor and wakes whoever waits. All
decisions (readiness, limits, failure policies, timeouts, stops) live in `execution/core/`.

Invariants:
- a step is recorded (`running` or `cached`) before its body starts, and its result is
  committed before any dependent is dispatched, so a step that reads the Client sees its
  upstreams' outputs;
- workers never write metadata; everything they produce comes back in a `StepResult`;
- whatever happens (a step fails, the orchestrator raises, Ctrl-C, SIGTERM), the run ends with
  a final status and every finished step's record intact.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

from fanflow.artifacts.store import ArtifactStore, artifact_store_for
from fanflow.config import Settings
from fanflow.enums import ExecutionMode, ExecutionStatus
from fanflow.execution import leftovers
from fanflow.execution.core import RunScheduler
from fanflow.execution.core import commands as cmd
from fanflow.execution.core import events as ev
from fanflow.execution.dispatch import TaskBuilder
from fanflow.execution.executors import Executor, default_parallelism, executor_class
from fanflow.execution.in_flight import InFlight
from fanflow.execution.known import MapBranches, Resolutions, SplitRequest
from fanflow.execution.live import LiveRunApi
from fanflow.execution.messages import Add, BodyStarted, Done, Inbox, Message, node_spec
from fanflow.execution.observers import ObserverGroup, ensure_console_logging
from fanflow.execution.outcomes import StepOutcomes
from fanflow.execution.progress import default_observers
from fanflow.execution.run_record import RunRecord
from fanflow.execution.run_setup import RunDescription, RunOutcome
from fanflow.execution.supervision import graceful_interrupts, stop_grace_period
from fanflow.execution.tables import compact
from fanflow.execution.worker import StoreLocation, execute_step, execute_step_portable
from fanflow.metadata.store import MetadataStore
from fanflow.spec import Invocation


class Orchestrator(LiveRunApi):
    """Runs one pipeline run to the end and records everything it does."""

    def __init__(
        self,
        description: RunDescription,
        settings: Settings,
        *,
        unlisted: bool = False,
        observers: Sequence[Any] | None = None,
        reuse: dict[str, tuple[str, dict[str, Any]]] | None = None,
        original_run_id: str | None = None,
    ) -> None:
        policy = ExecutionMode(description.failure_policy)
        self.description = description
        self.settings = settings
        self.store = MetadataStore(settings.metadata_url)
        self.artifact_store: ArtifactStore = artifact_store_for(
            settings.artifact_root, settings.artifact_storage_options
        )
        self.mode = description.options.orchestrator or settings.orchestrator
        self.executor_cls: type[Executor] = executor_class(self.mode)
        self.max_parallelism = (
            description.options.max_parallelism
            or settings.max_parallelism
            or default_parallelism(self.mode)
        )
        ensure_console_logging(settings.logging_verbosity)
        self.observers = ObserverGroup(
            list(observers) if observers is not None else default_observers()
        )
        self.record = RunRecord(self.store, description, unlisted, original_run_id)
        # Replaced by the executor's own dispatch window once it exists (`open`).
        self.window = max(1, self.max_parallelism)
        self.resource_limits: dict[str, float] | None = None  # the executor's, once open
        self.core = RunScheduler(
            policy, self.window, depth_first=description.dynamic, closed=not description.dynamic
        )
        # Invocations not dispatched yet; a dispatched one lives on in its task, if anywhere.
        self.invocations: dict[str, Invocation] = {}
        self.builder = TaskBuilder(
            self.store,
            self.artifact_store,
            StoreLocation.of(settings.artifact_root, settings.artifact_storage_options),
            description,
            reuse or {},
        )
        self.builder.planned_ids = self.record.planned_ids
        self._step_function = (
            execute_step_portable if self.executor_cls.ships_functions_by_value else execute_step
        )
        self.resolutions = Resolutions()
        self.builder.groups = self.resolutions.groups
        self.events = Inbox()
        self.outcomes = StepOutcomes(self.record, self.builder, self.observers, self.resolutions)
        self.loop_error: BaseException | None = None
        self._flight: InFlight | None = None
        # Only dynamic runs record what they add: a static run's plan is in its spec.
        self._pending = self.record.pending if description.dynamic else None

    # --- what the run's callers use -------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def run_name(self) -> str:
        return self.record.run_name

    @property
    def interrupted(self) -> bool:
        return self.core.interrupted

    def run_static(self, invocations: Sequence[Invocation]) -> RunOutcome:
        """Run a fully known set of invocations in the calling thread."""
        self.open(len(invocations))
        try:
            self._turn([Add(list(invocations), {})])
            with graceful_interrupts(self.interrupt):
                self._loop()
        except BaseException as exc:
            self._abandon()
            self.close(exc)
            raise
        return self.close()

    def start_dynamic(self) -> threading.Thread:
        """Open the run and start the loop in a background thread."""
        self.open()
        thread = threading.Thread(target=self._dynamic_loop, name="fanflow-orchestrator")
        thread.daemon = True
        thread.start()
        return thread

    def interrupt(self) -> None:
        """First Ctrl-C or SIGTERM: stop starting steps; running ones get a grace period.
        Signal-safe (one `SimpleQueue.put`)."""
        self.events.put(ev.Interrupted(time.monotonic(), stop_grace_period()))

    # --- run lifecycle ---------------------------------------------------------------------------

    def open(self, step_count: int | None = None) -> None:
        """Record the run as started and start the executor."""
        # The executor first: it may size itself (a cluster's worker threads) and it sets the
        # dispatch window; a cluster that cannot be reached fails the call before any record.
        executor = self.executor_cls(self.max_parallelism, self.settings)
        self.max_parallelism = executor.max_parallelism
        self.window = self.core.window = executor.dispatch_window
        self.resource_limits = executor.resource_limits
        self.core.limit_resources(executor.resource_limits)
        executor.watch_starts(self._body_started)
        try:
            self.record.create(self.mode, self.max_parallelism)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self.observers.emit("run_started", self.run_name, self.description.name, step_count)
        self._flight = InFlight(executor, self._step_function, self._future_done)
        self.record.start_heartbeat(self.artifact_store)

    def close(self, error: BaseException | None = None) -> RunOutcome:
        """Record the run's final status."""
        leftovers.end_of_run(self.artifact_store, self.run_id)
        self.record.stop_heartbeat()
        if self._flight is not None:
            # Steps given up on (timeouts, fail_fast) may still occupy threads: do not wait.
            self._flight.executor.shutdown(wait=not self._flight.abandoned)
        outcome, text = self.outcomes.run_outcome(self.core, error)
        self.record.finish(ExecutionStatus(outcome.status), text, self.core.groups)
        self.observers.emit("run_finished", self.run_name, outcome.status, self.record.elapsed())
        return outcome

    def _dynamic_loop(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported to the pipeline thread
            self.loop_error = exc
            with contextlib.suppress(BaseException):
                self._abandon()
        finally:
            self.resolutions.end_all(self.loop_error)

    def _abandon(self) -> None:
        """The loop itself broke (or a second Ctrl-C): record what finished, give up on what
        runs, skip the rest; start nothing and wait for nothing."""
        with contextlib.suppress(Exception):  # best effort: the run is already ending
            self._turn(self.events.drain(), [ev.StopRequested(time.monotonic(), 0.0)])
            self._flush()
        if self._flight is not None:
            self._flight.executor.shutdown(wait=False)

    # --- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._flush()
            if self.core.finished:
                return
            self._turn(self.events.drain(block=True, wake_at=self.core.next_deadline()))

    def _turn(self, items: list[Message], extra: Sequence[ev.Event] = ()) -> None:
        """Messages become scheduler events; the core's commands run until none follow."""
        assert self._flight is not None
        now = time.monotonic()
        events: list[ev.Event] = []
        for item in items:
            if isinstance(item, Done):
                events.extend(self._finished(item.future, now))
            elif isinstance(item, BodyStarted):
                node = self._flight.body_started(item.future)
                if node is not None:
                    self.observers.emit("step_started", node)
                    events.append(ev.StepStarted(node, item.at))
            elif isinstance(item, Add):
                events.append(self._add(item))
            elif isinstance(item, SplitRequest):
                self.outcomes.split_requested(item, self.core.stopping, self._flight)
            elif isinstance(item, ev.Interrupted):
                self.observers.emit("run_stopping", "Interrupted", item.at + item.grace)
                events.append(item)
            else:
                events.append(item)
        events.extend(extra)
        events.append(ev.Tick(now))
        while events:
            events = self._execute(self.core.handle(events))

    def _add(self, item: Add) -> ev.StepsAdded:
        assert self._flight is not None
        self._flight.executor.check_shippable(item.invocations)  # before any of them runs
        self.resolutions.handles.update(item.handles)
        if item.branches is not None:
            self._map_added(item.branches, item.branches_end)
        for inv in item.invocations:
            self.invocations[inv.id] = inv
        self.builder.added(item.invocations)
        if self._pending is not None:
            self._pending.update((inv.id, inv) for inv in item.invocations)
        self.observers.emit("steps_added", [inv.id for inv in item.invocations])
        limits = self.resource_limits
        return ev.StepsAdded(tuple(node_spec(inv, limits) for inv in item.invocations))

    def _map_added(self, branches: MapBranches, end: int | None) -> None:
        """A dynamic map's branch table arrives with its first chunk; `end` says the map call
        raised after adding that many branches (the rest are settled as never added)."""
        group = branches.group
        if group not in self.resolutions.groups:
            self.resolutions.groups[group] = branches
            self.observers.emit("map_declared", group, len(branches))
        if end is not None:
            self.observers.emit("map_declared", group, end)
            reason = "not added: the `.map(...)` call raised before it added this branch"
            self.resolutions.later(partial(branches.settle_rest, None, end, reason))

    # --- executing the core's commands ---------------------------------------------------------

    def _execute(self, commands: list[cmd.Command]) -> list[ev.Event]:
        assert self._flight is not None
        follow_up: list[ev.Event] = []
        for command in commands:
            if isinstance(command, cmd.Dispatch):
                follow_up.extend(self._dispatch(command.nodes))
            elif isinstance(command, cmd.Skip):
                for node in command.nodes:
                    self.outcomes.skipped(self._take(node), command.reason)
            elif isinstance(command, cmd.Cancel):
                for node in command.nodes:
                    self._flight.cancel(node)
            elif isinstance(command, cmd.GiveUp):
                for node in command.nodes:
                    self.outcomes.give_up(node, command, self._flight)
            elif isinstance(command, cmd.RatioBroken):
                self.outcomes.ratio_failures.append(command)
        return follow_up

    def _dispatch(self, nodes: tuple[str, ...]) -> list[ev.Event]:
        assert self._flight is not None
        ended, tasks = self.outcomes.dispatched([self._take(node) for node in nodes])
        if tasks:
            self._flush()  # recorded before any of them runs
            for task in tasks:
                self._flight.submit(task)
        now = time.monotonic()
        return [ev.StepFinished(node, ok, now) for node, ok in ended]

    def _take(self, node: str) -> Invocation:
        """An invocation leaves the pending table (dispatched or skipped); its map's table
        counts it, which lets a wide map's next branches be added."""
        inv = self.invocations.pop(node)
        if inv.map_group is not None:
            branches = self.resolutions.groups.get(inv.map_group)
            if branches is not None:
                branches.released += 1
        return inv

    # --- the executor's callbacks (its threads: they only post messages) ----------------------

    def _body_started(self, future: Future[Any]) -> None:
        """A start with a deadline wakes the loop (its clock must be armed); others wait for
        the loop's next turn."""
        flight = self._flight
        self.events.started(future, wake=flight is not None and flight.has_deadline(future))

    def _future_done(self, future: Future[Any]) -> None:
        if self.core.policy is not ExecutionMode.CONTINUE_ON_FAILURE and self._flight:
            self._flight.withdraw_queued_after(future)
        self.events.done(future)

    def _finished(self, future: Future[Any], now: float) -> list[ev.Event]:
        assert self._flight is not None
        request = self._flight.take_split(future)
        if request is not None:
            self.outcomes.split_done(future, request)
            return []
        settled = self._flight.settle(future)
        if settled is None:  # given up on earlier: its late result is ignored
            return []
        node, task, result = settled
        if result is None:  # withdrawn before its body started
            self.outcomes.never_started(node, task)
            return [ev.StepNeverStarted(node)]
        self.outcomes.finished(node, result)
        return [ev.StepFinished(node, result.succeeded, now)]

    # --- recording -------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write what this turn produced in one transaction, then release it to the world."""
        self.record.flush()
        self.resolutions.release()
        self.observers.emit("turn_finished")
        self._compact_tables()

    def _compact_tables(self) -> None:
        """Tables that held every pending branch of a wide map give their memory back."""
        self.core.compact()
        self.builder.compact()
        compact(
            self.invocations,
            self.resolutions.handles,
            self.record.pending,
            self.record.planned_ids,
        )
