"""What the scheduler core asks the orchestrator to do, as plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Hand these invocations to the executor (or complete them from the cache), in order."""

    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Skip:
    """Record these invocations as skipped: they will never run."""

    nodes: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Cancel:
    """Withdraw these dispatched invocations whose bodies have not started (best effort: one
    that starts anyway is reported as usual)."""

    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop waiting for these running invocations: record them now as `status`, kill them
    where the executor can, ignore whatever they return later."""

    nodes: tuple[str, ...]
    status: Literal["failed", "stopped"]
    reason: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class RatioBroken:
    """A map that tolerates failed branches fell below its `min_success_ratio`."""

    group: str
    succeeded: int
    total: int
    min_success_ratio: float


Command = Dispatch | Skip | Cancel | GiveUp | RatioBroken
