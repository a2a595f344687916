"""What travels on the orchestrator's queue (typed, never raw tuples), the queue itself
(`Inbox`), and small conversions.

Executors' callbacks post `Done`/`BodyStarted`, a dynamic pipeline function posts `Add`,
`SplitRequest` and scheduler events (`StopRequested`, `Closed`); signal handlers post
`Interrupted`. Each is put with one `SimpleQueue.put`, which is safe from any thread and from a
signal handler.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fanflow.execution.core import NodeSpec
from fanflow.execution.core.events import Event
from fanflow.execution.core.scheduler import MapGroupTally
from fanflow.execution.executors.local_resources import counted_needs
from fanflow.execution.known import InvocationHandle, MapBranches, SplitRequest
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
    branches: MapBranches | None = None  # a dynamic map's branches: their one handle table
    # The map call raised after adding this many branches: the rest will never come.
    branches_end: int | None = None


Message = Done | BodyStarted | Add | SplitRequest | Event


def node_spec(inv: Invocation, limits: Mapping[str, float] | None) -> NodeSpec:
    """The core's view of an invocation; `limits` are the executor's `resource_limits`."""
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
        counted_needs(inv.step.name, config.resources, config.resources_from_settings, limits),
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


class Inbox:
    """The orchestrator's queue. A body start whose step has no deadline does not wake the
    loop (tiny steps then cost no extra turns): it waits aside and is merged back, in the order
    the executor reported it, with the next turn's messages."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._quiet: deque[BodyStarted] = deque()
        self._seq = itertools.count()  # next() is atomic: orders reports from every thread

    def put(self, message: Message) -> None:
        """Any thread, or a signal handler (one `SimpleQueue.put`)."""
        self._queue.put(message)

    def done(self, future: Future[Any]) -> None:
        self._queue.put(Done(future, next(self._seq)))

    def started(self, future: Future[Any], wake: bool) -> None:
        started = BodyStarted(future, time.monotonic(), next(self._seq))
        if wake:
            self._queue.put(started)
        else:
            self._quiet.append(started)

    def drain(self, block: bool = False, wake_at: float | None = None) -> list[Message]:
        """Everything posted so far; with `block`, wait for one message first (until the
        monotonic time `wake_at` at most, when given)."""
        items: list[Message] = []
        if block:
            try:
                timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
                items.append(self._queue.get(timeout=timeout))
            except queue.Empty:
                pass
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        quiet = self._quiet
        if quiet:
            return merged([quiet.popleft() for _ in range(len(quiet))], items)
        return items
