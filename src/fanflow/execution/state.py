"""Scheduler state: which invocations may start now. Pure, no threads, no I/O.

Each node keeps a counter of unfinished upstreams; when a node completes, the counters of its
dependents go down and those reaching zero join the ready queue. Nothing is ever rescanned, so
one completion costs O(its dependents). Nodes can be added while a run is going on (dynamic
pipelines): an upstream that already completed does not count, one that failed or was skipped
makes the new node skipped at once.

Invariants:
- a node is READY only when every upstream is COMPLETED;
- a node is in exactly one status; transitions go WAITING -> READY -> RUNNING -> COMPLETED |
  FAILED, or WAITING/READY -> SKIPPED (an upstream failed, or the run stopped starting work);
- the ready queue is FIFO in the order nodes became ready (insertion order for initial roots),
  which makes the sequential mode run steps in the order they were declared.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import Enum


class NodeStatus(str, Enum):
    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


_DONE = (NodeStatus.COMPLETED, NodeStatus.FAILED, NodeStatus.SKIPPED)


class SchedulerState:
    __slots__ = ("_dependents", "_pending", "_ready", "_running", "_status", "_unfinished")

    def __init__(self) -> None:
        self._status: dict[str, NodeStatus] = {}
        self._pending: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {}
        self._ready: deque[str] = deque()
        self._running = 0
        self._unfinished = 0

    # --- building ------------------------------------------------------------------------------

    def add(self, nodes: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
        """Add nodes with their upstreams; returns the nodes skipped on arrival.

        Upstreams may be other nodes of the same call (in any order) or nodes added earlier.
        """
        items = [(node, tuple(dict.fromkeys(upstream))) for node, upstream in nodes]
        for node, _ in items:
            if node in self._status:
                raise ValueError(f"node {node!r} was added twice")
            self._status[node] = NodeStatus.WAITING
            self._dependents.setdefault(node, [])
            self._unfinished += 1
        for node, upstream in items:
            unknown = [parent for parent in upstream if parent not in self._status]
            if unknown:
                raise ValueError(f"node {node!r} depends on unknown node(s) {unknown}")
        skipped: list[str] = []
        for node, upstream in items:
            count = 0
            for parent in upstream:
                parent_status = self._status[parent]
                if parent_status is NodeStatus.COMPLETED:
                    continue
                self._dependents[parent].append(node)
                if parent_status in (NodeStatus.FAILED, NodeStatus.SKIPPED):
                    count = -1
                elif count >= 0:
                    count += 1
            self._pending[node] = max(count, 0)
            if count < 0:
                skipped.extend(self._skip_from(node))
            elif count == 0 and self._status[node] is NodeStatus.WAITING:
                self._status[node] = NodeStatus.READY
                self._ready.append(node)
        return skipped

    # --- transitions ----------------------------------------------------------------------------

    def take(self, limit: int) -> list[str]:
        """Up to `limit` ready nodes, now RUNNING, in FIFO order."""
        taken: list[str] = []
        while self._ready and len(taken) < limit:
            node = self._ready.popleft()
            self._status[node] = NodeStatus.RUNNING
            taken.append(node)
        self._running += len(taken)
        return taken

    def complete(self, node: str) -> list[str]:
        """Mark a running node completed; returns the dependents that became ready."""
        self._finish(node, NodeStatus.COMPLETED)
        newly_ready: list[str] = []
        for child in self._dependents[node]:
            if self._status[child] is not NodeStatus.WAITING:
                continue
            self._pending[child] -= 1
            if self._pending[child] == 0:
                self._status[child] = NodeStatus.READY
                self._ready.append(child)
                newly_ready.append(child)
        return newly_ready

    def fail(self, node: str) -> list[str]:
        """Mark a running node failed; returns every dependent that can now never run."""
        self._finish(node, NodeStatus.FAILED)
        skipped: list[str] = []
        for child in self._dependents[node]:
            skipped.extend(self._skip_from(child))
        return skipped

    def skip_unstarted(self) -> list[str]:
        """Stop: every waiting or ready node becomes SKIPPED (running ones are left alone)."""
        skipped = [
            node
            for node, status in self._status.items()
            if status in (NodeStatus.WAITING, NodeStatus.READY)
        ]
        for node in skipped:
            self._status[node] = NodeStatus.SKIPPED
            self._unfinished -= 1
        self._ready.clear()
        return skipped

    def _finish(self, node: str, status: NodeStatus) -> None:
        if self._status.get(node) is not NodeStatus.RUNNING:
            raise ValueError(f"node {node!r} is {self._status.get(node)}, not running")
        self._status[node] = status
        self._running -= 1
        self._unfinished -= 1

    def _skip_from(self, start: str) -> list[str]:
        skipped: list[str] = []
        stack = [start]
        while stack:
            node = stack.pop()
            if self._status[node] not in (NodeStatus.WAITING, NodeStatus.READY):
                continue
            if self._status[node] is NodeStatus.READY:
                self._ready.remove(node)
            self._status[node] = NodeStatus.SKIPPED
            self._unfinished -= 1
            skipped.append(node)
            stack.extend(self._dependents[node])
        return skipped

    # --- queries --------------------------------------------------------------------------------

    def status(self, node: str) -> NodeStatus:
        return self._status[node]

    def __contains__(self, node: object) -> bool:
        return node in self._status

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    @property
    def running_count(self) -> int:
        return self._running

    @property
    def unfinished_count(self) -> int:
        return self._unfinished

    @property
    def done(self) -> bool:
        return self._unfinished == 0

    def nodes_with(self, status: NodeStatus) -> list[str]:
        return [node for node, current in self._status.items() if current is status]
