"""The orchestrator's view of work handed to the executor: which future is which invocation.

Invariants: a future is known here from `submit` until it is `take`n (its result arrived) or
`give_up` is called (its late result is then unknown here, hence ignored); the executor's
callbacks only post messages, so all bookkeeping happens in the orchestrator's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from fanflow.execution.executors import Executor
from fanflow.execution.known import SplitRequest
from fanflow.execution.worker import SplitTask, StepResult, StepTask, split_artifact
from fanflow.ids import utcnow


class InFlight:
    def __init__(
        self,
        executor: Executor,
        step_function: Callable[[StepTask], Any],
        on_done: Callable[[Future[Any]], None],
    ) -> None:
        self.executor = executor
        self._step_function = step_function
        self._on_done = on_done
        self._nodes: dict[Future[Any], str] = {}
        self._futures: dict[str, Future[Any]] = {}
        self._tasks: dict[str, StepTask] = {}
        self._started: dict[str, datetime] = {}
        self._splits: dict[Future[Any], SplitRequest] = {}
        self.abandoned = False  # some body was given up on and may still occupy a worker

    def submit(self, task: StepTask) -> None:
        future = self.executor.submit(self._step_function, task)
        self._nodes[future] = task.invocation_id
        self._futures[task.invocation_id] = future
        self._tasks[task.invocation_id] = task
        future.add_done_callback(self._on_done)

    def submit_split(self, task: SplitTask, request: SplitRequest) -> None:
        future = self.executor.submit(split_artifact, task)
        self._splits[future] = request
        future.add_done_callback(self._on_done)

    def body_started(self, future: Future[Any]) -> str | None:
        """The node whose body started (None for a split or a late report); stamps its start."""
        node = self._nodes.get(future)
        if node is not None:
            self._started[node] = utcnow()
        return node

    def has_deadline(self, future: Future[Any]) -> bool:
        """Whether the step behind `future` may have a timeout (any thread; reads only). A
        future not registered yet (its body started before `submit` returned) counts as one."""
        node = self._nodes.get(future)
        task = self._tasks.get(node) if node is not None else None
        return task is None or task.timeout is not None

    def take_split(self, future: Future[Any]) -> SplitRequest | None:
        return self._splits.pop(future, None)

    def take(self, future: Future[Any]) -> tuple[str, StepTask, datetime | None] | None:
        """A settled future's node, task and body start; None when it was given up on."""
        node = self._nodes.pop(future, None)
        if node is None:
            return None
        del self._futures[node]
        return node, self._tasks.pop(node), self._started.pop(node, None)

    def settle(self, future: Future[Any]) -> tuple[str, StepTask, StepResult | None] | None:
        """A settled step future's node, task and result (None: withdrawn before its body
        started); None when it was given up on earlier (its late result is ignored)."""
        taken = self.take(future)
        if taken is None:
            return None
        node, task, started = taken
        if future.cancelled():
            return node, task, None
        try:
            return node, task, future.result()
        except BaseException as exc:  # the worker itself broke (or its process died)
            return node, task, StepResult.broken(task, exc, started)

    def withdraw_queued_after(self, future: Future[Any]) -> None:
        """Called from the executor's thread as `future` settles: if its step failed and the
        run stops on failure, withdraw every task whose body has not started *before* that
        thread can take the next one (waiting for the orchestrator's turn would let one more
        start). A failure its map tolerates withdraws nothing. Only reads the maps (atomic
        under the GIL) and cancels futures (thread-safe)."""
        node = self._nodes.get(future)
        task = self._tasks.get(node) if node is not None else None
        if task is None or future.cancelled() or task.step.config.min_success_ratio is not None:
            return
        try:
            failed = not future.result().succeeded
        except BaseException:
            failed = True
        if failed:
            for other in list(self._nodes):
                if other is not future:
                    self.executor.cancel(other)

    def cancel(self, node: str) -> None:
        future = self._futures.get(node)
        if future is not None:
            self.executor.cancel(future)

    def give_up(
        self, node: str, error: BaseException | None
    ) -> tuple[StepTask, bool, datetime | None]:
        """Forget a running node: kill it where the executor can. Returns its task, whether it
        was killed, and when its body started."""
        future = self._futures.pop(node)
        del self._nodes[future]
        self.abandoned = True
        killed = self.executor.kill(future, error)
        return self._tasks.pop(node), killed, self._started.pop(node, None)
