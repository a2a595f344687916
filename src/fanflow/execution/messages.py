"""What travels on the orchestrator's queue (typed, never raw tuples), and small conversions.

Executors' callbacks post `Done`/`BodyStarted`, a dynamic pipeline function posts `Add`,
`SplitRequest` and scheduler events (`StopRequested`, `Closed`); signal handlers post
`Interrupted`. Each is put with one `SimpleQueue.put`, which is safe from any thread and from a
signal handler.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fanflow.execution.core import NodeSpec
from fanflow.execution.core.events import Event
from fanflow.execution.core.scheduler import MapGroupTally
from fanflow.execution.known import InvocationHandle, SplitRequest
from fanflow.spec import Invocation


@dataclass(frozen=True, slots=True)
class Done:
    """A future the executor settled (a step's result, a split's, or a cancellation)."""

    future: Future[Any]
    seq: int = 0


@dataclass(frozen=True, slots=True)
class BodyStarted:
    """The executor reported that the body behind `future` began, at monotonic time `at`."""

    future: Future[Any]
    at: float
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Add:
    """Invocations for the live run, with the handles the pipeline function waits on."""

    invocations: list[Invocation]
    handles: dict[str, InvocationHandle]


Message = Done | BodyStarted | Add | SplitRequest | Event


def node_spec(inv: Invocation) -> NodeSpec:
    config = inv.step.config
    ratio = config.min_success_ratio if inv.map_group is not None else None
    return NodeSpec(
        inv.id,
        tuple(inv.upstream),
        inv.step.name,
        config.max_concurrency,
        config.timeout,
        inv.map_group,
        ratio,
        tuple(sorted(config.resources.items())) if config.resources else (),
    )


def ratio_text(group: str, tally: MapGroupTally) -> str:
    """Why a map that tolerates failed branches failed the run, with the ratio it reached."""
    return (
        f"map `{group}`: {tally.failed} of {tally.total} branches failed; success ratio "
        f"{tally.ratio:.0%} is below min_success_ratio={tally.min_success_ratio}"
    )


def merged(quiet: list[BodyStarted], items: list[Message]) -> list[Message]:
    """Starts that did not wake the loop, put back among the queue's messages in the order the
    executor reported them (`seq`), so "has started" never follows its own "has finished"."""
    quiet.sort(key=lambda started: started.seq)
    out: list[Message] = []
    index = 0
    for item in items:
        if isinstance(item, (Done, BodyStarted)):
            while index < len(quiet) and quiet[index].seq < item.seq:
                out.append(quiet[index])
                index += 1
        out.append(item)
    out.extend(quiet[index:])
    return out
