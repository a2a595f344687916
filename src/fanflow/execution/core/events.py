"""What can happen to a run, as plain frozen values the scheduler core reacts to.

Times are seconds on one monotonic clock chosen by the caller (the orchestrator passes
`time.monotonic()`, tests a counter); the core never reads a clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """What the scheduler needs to know about one invocation (never its code or inputs).

    `min_success_ratio` is set on branches of a map that tolerates failed branches: a failed
    branch then does not fail the run nor skip the fan-in while the group's ratio holds.
    `resources` are the step's declared `resources=` as sorted (name, amount) pairs.
    """

    id: str
    upstream: tuple[str, ...] = ()
    step: str = ""
    max_concurrency: int | None = None
    timeout: float | None = None
    map_group: str | None = None
    min_success_ratio: float | None = None
    resources: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class StepsAdded:
    """Invocations joining the run (all of a static pipeline, or a dynamic call's)."""

    nodes: tuple[NodeSpec, ...]


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A dispatched invocation's body started running at `at` (its timeout starts now)."""

    node: str
    at: float


@dataclass(frozen=True, slots=True)
class StepFinished:
    """A dispatched invocation ended: it succeeded (or was cached) or failed for good."""

    node: str
    ok: bool
    at: float


@dataclass(frozen=True, slots=True)
class StepNeverStarted:
    """A dispatched invocation was cancelled before its body started (the run stopped)."""

    node: str


@dataclass(frozen=True, slots=True)
class StopRequested:
    """Start nothing more. Running steps may finish, within `grace` seconds when given."""

    at: float
    grace: float | None = None
    reason: str = "the run stopped"


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The first Ctrl-C or SIGTERM: a stop with a grace period, and the run ends `stopped`."""

    at: float
    grace: float


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: deadlines up to `now` are due."""

    now: float


@dataclass(frozen=True, slots=True)
class Closed:
    """No more invocations will be added (the dynamic pipeline function returned)."""


Event = (
    StepsAdded
    | StepStarted
    | StepFinished
    | StepNeverStarted
    | StopRequested
    | Interrupted
    | Tick
    | Closed
)
