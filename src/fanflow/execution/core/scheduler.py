"""The run's decisions as a pure state machine: `RunScheduler.handle(events) -> commands`.

Readiness lives in `SchedulerState` (counters of unfinished upstreams, a ready queue); this
object adds everything else the run decides, so that all of it can be tested with a fake clock:

- the dispatch window: at most `window` invocations are dispatched and not yet finished;
- per-step `max_concurrency`: a ready invocation of a step at its limit stays ready (held aside
  in `SchedulerState`), it is never marked running before it can start;
- declared resources, when the executor runs steps on this machine (`limit_resources`, from
  `FANFLOW_RESOURCES`): a step holds its `resources=` amounts from dispatch to its end; one
  whose needs do not fit the free amounts is held like a step at its `max_concurrency`, while
  ready steps that fit go ahead; one that could never fit fails the run as it joins it;
- failure policies: `continue_on_failure` (only dependents are skipped), `stop_on_failure`
  (nothing new starts; dispatched work whose body has not started is cancelled; running steps
  finish), `fail_fast` (as stop, and running steps are given up on at once);
- partial failure of a map: a failed branch of a map with `min_success_ratio` is tolerated (its
  dependents still run, without it) while the group's ratio can still hold; the failure that
  breaks the ratio fails the run like any other failure;
- deadlines: a step's timeout counts from the moment its body started (`StepStarted.at`), never
  while it waited for a slot; a stop with a grace period gives up on steps still running at its
  end.

Invariants: every node reaches exactly one end (finished, failed, skipped, given up); commands
for one node are never repeated; the scheduler reads no clock: time arrives with events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fanflow.enums import ExecutionMode
from fanflow.execution.core.commands import Cancel, Command, Dispatch, GiveUp, RatioBroken, Skip
from fanflow.execution.core.events import (
    Closed,
    Event,
    Interrupted,
    NodeSpec,
    StepFinished,
    StepNeverStarted,
    StepsAdded,
    StepStarted,
    StopRequested,
    Tick,
)
from fanflow.execution.core.resources import ResourcePool
from fanflow.execution.state import NodeStatus, SchedulerState
from fanflow.execution.tables import compact

RESOURCES_KEY = "\0resources"
"""The key ready steps waiting for declared resources are held under (no step has this name)."""


@dataclass(slots=True)
class MapGroupTally:
    """How the branches of one map that tolerates failures are doing."""

    total: int
    min_success_ratio: float
    failed: int = 0
    broken: bool = False

    def holds_with(self, failed: int) -> bool:
        return (self.total - failed) >= self.min_success_ratio * self.total - 1e-9

    @property
    def ratio(self) -> float:
        return (self.total - self.failed) / self.total if self.total else 1.0


class RunScheduler:
    """Decides what a run does next; see the module docstring."""

    def __init__(
        self,
        policy: ExecutionMode,
        window: int,
        *,
        depth_first: bool = False,
        closed: bool = True,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.policy = ExecutionMode(policy)
        self.window = window
        self.state = SchedulerState(depth_first=depth_first)
        self.specs: dict[str, NodeSpec] = {}
        self.in_flight: dict[str, float | None] = {}  # node -> when its body started
        self.deadlines: dict[str, float] = {}
        self.running_by_step: dict[str, int] = {}
        self.groups: dict[str, MapGroupTally] = {}
        self.failures: list[str] = []  # failures that fail the run, in order
        self.tolerated: list[str] = []  # failed branches within their map's ratio
        self.given_up: set[str] = set()
        self.stopping = False
        self.interrupted = False
        self.closed = closed
        self.stop_deadline: float | None = None
        self.resources: ResourcePool | None = None

    def limit_resources(self, limits: Mapping[str, float] | None) -> None:
        """Count declared resources against `limits` (this machine's `FANFLOW_RESOURCES`);
        None leaves placement to the executor (a Dask cluster places steps on its workers).
        Called before any step joins the run."""
        self.resources = None if limits is None else ResourcePool(limits)

    # --- the one entry point ---------------------------------------------------------------------

    def handle(self, events: Event | Iterable[Event]) -> list[Command]:
        """Apply events in order, then fill the dispatch window once."""
        batch = [events] if isinstance(events, _EVENT_TYPES) else list(events)  # type: ignore[arg-type]
        commands: list[Command] = []
        for event in batch:
            commands.extend(self._apply(event))
        commands.extend(self._fill())
        return commands

    def _apply(self, event: Event) -> list[Command]:
        if isinstance(event, StepFinished):
            return self._finished(event.node, event.ok, event.at)
        if isinstance(event, StepStarted):
            return self._started(event.node, event.at)
        if isinstance(event, StepsAdded):
            return self._add(event.nodes)
        if isinstance(event, StepNeverStarted):
            if event.node not in self.in_flight:
                return []  # not dispatched, or already ended
            self.in_flight.pop(event.node)
            self._release(event.node)
            self.state.abandon(event.node)
            return []
        if isinstance(event, Tick):
            return self._expire(event.now)
        if isinstance(event, Interrupted):
            self.interrupted = True
            return self._stop(event.at, event.grace)
        if isinstance(event, StopRequested):
            return self._stop(event.at, event.grace)
        if isinstance(event, Closed):
            self.closed = True
            return []
        raise TypeError(f"not a scheduler event: {event!r}")

    # --- queries ---------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Nothing runs, nothing can start, nothing more will be added."""
        return self.closed and not self.in_flight and not self.state.ready_count

    def next_deadline(self) -> float | None:
        """When the next `Tick` is due (a timeout or the end of a stop's grace period)."""
        candidates = list(self.deadlines.values())
        if self.stop_deadline is not None and self.in_flight:
            candidates.append(self.stop_deadline)
        return min(candidates) if candidates else None

    def skip_reason(self) -> str:
        if self.failures:
            return f"not run: upstream step(s) failed ({', '.join(self.failures)})"
        return "not run: the run stopped"

    # --- transitions -----------------------------------------------------------------------------

    def _add(self, nodes: tuple[NodeSpec, ...]) -> list[Command]:
        pool = self.resources
        if pool is not None:  # refuse what could never start before any of them is added
            for spec in nodes:
                error = spec.resources and pool.problem(
                    spec.id, spec.step or spec.id, spec.resources
                )
                if error:
                    raise error
        for spec in nodes:
            self.specs[spec.id] = spec
        self._count_groups(nodes)
        skipped = self.state.add((spec.id, spec.upstream) for spec in nodes)
        if self.stopping:
            skipped.extend(self.state.skip_unstarted())
        return self._skip(skipped)

    def _count_groups(self, nodes: tuple[NodeSpec, ...]) -> None:
        for spec in nodes:
            if spec.map_group is None or spec.min_success_ratio is None:
                continue
            tally = self.groups.get(spec.map_group)
            if tally is None:
                self.groups[spec.map_group] = MapGroupTally(1, spec.min_success_ratio)
            else:
                tally.total += 1

    def _started(self, node: str, at: float) -> list[Command]:
        if node not in self.in_flight or self.in_flight[node] is not None:
            return []  # ended already (a late report), or reported twice
        self.in_flight[node] = at
        timeout = self.specs[node].timeout
        if timeout is not None:
            self.deadlines[node] = at + timeout
        return []

    def _finished(self, node: str, ok: bool, at: float) -> list[Command]:
        if node not in self.in_flight:
            return []  # given up on earlier: its late result changes nothing
        self.in_flight.pop(node)
        self._release(node)
        if ok:
            self.state.complete(node)
            del self.specs[node]  # nothing more is decided about a completed node
            return []
        return self._failed(node, at)

    def _failed(self, node: str, at: float) -> list[Command]:
        spec = self.specs[node]
        commands: list[Command] = []
        tally = self.groups.get(spec.map_group) if spec.map_group is not None else None
        if tally is not None and tally.broken:
            tally.failed += 1
        elif tally is not None:
            if tally.holds_with(tally.failed + 1):
                tally.failed += 1
                self.tolerated.append(node)
                self.state.complete(node)  # its dependents run without it
                return []
            tally.failed += 1
            tally.broken = True
            commands.append(
                RatioBroken(
                    spec.map_group or "",
                    tally.total - tally.failed,
                    tally.total,
                    tally.min_success_ratio,
                )
            )
        self.failures.append(node)
        commands.extend(self._skip(self.state.fail(node)))
        if self.policy is ExecutionMode.STOP_ON_FAILURE:
            commands.extend(self._stop(at, None))
        elif self.policy is ExecutionMode.FAIL_FAST:
            commands.extend(self._stop(at, 0.0))
        return commands

    def _stop(self, at: float, grace: float | None) -> list[Command]:
        commands: list[Command] = []
        self.stopping = True
        commands.extend(self._skip(self.state.skip_unstarted()))
        waiting = tuple(node for node, started in self.in_flight.items() if started is None)
        if waiting:
            commands.append(Cancel(waiting))
        if grace is not None:
            deadline = at + grace
            self.stop_deadline = min(deadline, self.stop_deadline or deadline)
            commands.extend(self._expire(at))
        return commands

    def _expire(self, now: float) -> list[Command]:
        commands: list[Command] = []
        for node, deadline in list(self.deadlines.items()):
            if deadline <= now and node in self.in_flight:
                timeout = self.specs[node].timeout
                commands.append(
                    GiveUp(
                        (node,),
                        "failed",
                        f"Step `{node}` exceeded its timeout of {timeout} s and was marked as "
                        "failed",
                        timed_out=True,
                    )
                )
                commands.extend(self._give_up(node, failed=True, at=now))
        if self.stop_deadline is not None and now >= self.stop_deadline and self.in_flight:
            nodes = tuple(self.in_flight)
            for node in nodes:
                self._give_up(node, failed=False, at=now)
            commands.append(GiveUp(nodes, "stopped", "stopped before it finished"))
        return commands

    def _give_up(self, node: str, *, failed: bool, at: float) -> list[Command]:
        self.in_flight.pop(node)
        self.given_up.add(node)
        self._release(node)
        if failed:
            return self._failed(node, at)
        self.state.abandon(node)
        return []

    def _release(self, node: str) -> None:
        self.deadlines.pop(node, None)
        spec = self.specs[node]
        if spec.max_concurrency is not None:
            self.running_by_step[spec.step] -= 1
            self.state.release(spec.step)
        pool = self.resources
        if spec.resources and pool is not None:
            pool.give(spec.resources)
            self._requeue_for_resources(pool, [name for name, _ in spec.resources])

    def _requeue_for_resources(self, pool: ResourcePool, freed: list[str]) -> None:
        """Held steps that fit what is free now go back in line, oldest first; steps behind a
        big request that does not fit yet may go ahead of it. Each put back is counted against a
        scratch copy of the free amounts, so one freed GPU wakes one step, not all of them."""
        free = dict(pool.free)

        def accept(node: str) -> bool | None:
            if pool.exhausted(free, freed):
                return None
            needs = self.specs[node].resources
            if not pool.fits(needs, free):
                return False
            for name, amount in needs:
                free[name] -= amount
            return True

        self.state.release_where(RESOURCES_KEY, accept)

    def _skip(self, nodes: list[str]) -> list[Command]:
        return [Skip(tuple(nodes), self.skip_reason())] if nodes else []

    # --- dispatching -----------------------------------------------------------------------------

    def _fill(self) -> list[Command]:
        if self.stopping:
            return []
        capacity = self.window - len(self.in_flight)
        if capacity <= 0 or not self.state.ready_count:
            return []
        taken = self.state.take(capacity, self._hold)
        for node in taken:
            self.in_flight[node] = None
        return [Dispatch(tuple(taken))] if taken else []

    def _hold(self, node: str) -> str | None:
        """None when `node` may start now (its step's slot and resources are then taken); else
        the key it waits under until a slot or resources are released."""
        spec = self.specs[node]
        limit = spec.max_concurrency
        pool = self.resources if spec.resources else None
        if limit is None and pool is None:
            return None
        running = self.running_by_step.get(spec.step, 0)
        if limit is not None and running >= limit:
            return spec.step
        if pool is not None:
            if not pool.fits(spec.resources):
                return RESOURCES_KEY
            pool.take(spec.resources)
        if limit is not None:
            self.running_by_step[spec.step] = running + 1
        return None

    def compact(self) -> None:
        """Give back the table memory of nodes that finished (called between turns)."""
        self.state.compact()
        compact(self.specs, self.in_flight, self.deadlines, self.given_up)

    def status(self, node: str) -> NodeStatus:
        return self.state.status(node)


_EVENT_TYPES = (
    StepsAdded,
    StepStarted,
    StepFinished,
    StepNeverStarted,
    StopRequested,
    Interrupted,
    Tick,
    Closed,
)
