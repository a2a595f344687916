"""The pure scheduler core: typed events in, typed commands out, no clock, thread or database.

`RunScheduler` (scheduler.py) owns everything a run decides: which invocations may start
(readiness, the dispatch window, per-step `max_concurrency`), what a failure does (the run's
failure policy, partial-failure ratios of maps), deadlines (step timeouts, the stop grace period)
and the stop logic. The orchestrator (`execution/runner.py`) is the I/O shell around it: it turns
futures and signals into `events`, executes the `commands`, and records what happened.
"""

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
from fanflow.execution.core.scheduler import RunScheduler

__all__ = [
    "Cancel",
    "Closed",
    "Command",
    "Dispatch",
    "Event",
    "GiveUp",
    "Interrupted",
    "NodeSpec",
    "RatioBroken",
    "RunScheduler",
    "Skip",
    "StepFinished",
    "StepNeverStarted",
    "StepStarted",
    "StepsAdded",
    "StopRequested",
    "Tick",
]
