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
- ready nodes are taken in declaration order (the order nodes were added), which makes the
  sequential mode run steps in the order they were declared; with `depth_first=True` deeper
  nodes go first (a chained map runs `g[i]` as soon as `f[i]` is done instead of after every
  `f[j]`), so intermediate results do not pile up;
- a ready node that `take` may not start yet (its step is at its `max_concurrency`) stays READY,
  held aside under a key until `release(key)`: RUNNING always means really started;
- a completed node keeps only its status (and its depth): its dependents list, its counter and
  its place in the declaration order are released, because a wide map would otherwise hold them
  for every finished branch until the run ends. Nodes added later that depend on it only need
  to know it completed. A completed map branch (`map:<group>:<index>`) keeps not even that: it
  is one byte in its group's table, and its group keeps the deepest depth of its branches.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from enum import Enum

from fanflow.execution.tables import compact
from fanflow.spec import MAP_BRANCH_PREFIX, split_branch_id


class NodeStatus(str, Enum):
    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


_DONE = (NodeStatus.COMPLETED, NodeStatus.FAILED, NodeStatus.SKIPPED)


def _distinct(upstream: Iterable[str]) -> tuple[str, ...]:
    """The upstream ids once each, in their order. A strictly increasing tuple (what an
    invocation carries: sorted, distinct) is taken as it is, without building a set of a
    fan-in's million ids."""
    if isinstance(upstream, tuple) and all(
        before < after for before, after in itertools.pairwise(upstream)
    ):
        return upstream
    return tuple(dict.fromkeys(upstream))


def _as_list(dependents: str | list[str] | None) -> list[str]:
    if dependents is None:
        return []
    return [dependents] if isinstance(dependents, str) else dependents


class SchedulerState:
    __slots__ = (
        "_added",
        "_branch_depth",
        "_completed_branches",
        "_dependents",
        "_depth",
        "_depth_first",
        "_held",
        "_order",
        "_pending",
        "_ready",
        "_ready_count",
        "_running",
        "_status",
        "_unfinished",
    )

    def __init__(self, *, depth_first: bool = False) -> None:
        self._status: dict[str, NodeStatus] = {}
        self._pending: dict[str, int] = {}
        # A node's dependents: one as a plain id (every branch of a map feeding one fan-in),
        # several as a list; a one-item list would cost ~80 bytes per branch.
        self._dependents: dict[str, str | list[str]] = {}
        self._order: dict[str, int] = {}  # declaration order of nodes not completed yet
        self._added = 0
        self._depth: dict[str, int] = {}
        self._depth_first = depth_first
        self._ready: list[tuple[int, int, str]] = []
        self._held: dict[str, deque[str]] = {}
        self._ready_count = 0
        self._running = 0
        self._unfinished = 0
        # Completed map branches, by group: byte `index` is 1 once branch `index` completed.
        self._completed_branches: dict[str, bytearray] = {}
        self._branch_depth: dict[str, int] = {}  # the deepest completed branch, by group

    # --- building ------------------------------------------------------------------------------

    def add(self, nodes: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
        """Add nodes with their upstreams; returns the nodes skipped on arrival.

        Upstreams may be other nodes of the same call (in any order) or nodes added earlier.
        """
        items = [(node, _distinct(upstream)) for node, upstream in nodes]
        for node, _ in items:
            if self._status_of(node) is not None:
                raise ValueError(f"node {node!r} was added twice")
            self._status[node] = NodeStatus.WAITING
            self._order[node] = self._added
            self._added += 1
            self._unfinished += 1
        for node, upstream in items:
            unknown = [parent for parent in upstream if self._status_of(parent) is None]
            if unknown:
                raise ValueError(f"node {node!r} depends on unknown node(s) {unknown}")
        if self._depth_first:
            self._assign_depths(items)
        skipped: list[str] = []
        for node, upstream in items:
            count = 0
            for parent in upstream:
                parent_status = self._status_of(parent)
                if parent_status is NodeStatus.COMPLETED:
                    continue
                dependents = self._dependents.get(parent)
                if dependents is None:
                    self._dependents[parent] = node
                elif isinstance(dependents, str):
                    self._dependents[parent] = [dependents, node]
                else:
                    dependents.append(node)
                if parent_status in (NodeStatus.FAILED, NodeStatus.SKIPPED):
                    count = -1
                elif count >= 0:
                    count += 1
            if count > 0:
                self._pending[node] = count
            if count < 0:
                skipped.extend(self._skip_from(node))
            elif count == 0 and self._status[node] is NodeStatus.WAITING:
                self._make_ready(node)
        return skipped

    def _assign_depths(self, items: list[tuple[str, tuple[str, ...]]]) -> None:
        # Items usually arrive in call order (upstreams first), so one pass settles most.
        pending = list(items)
        while pending:
            deferred = []
            for node, upstream in pending:
                deepest, waiting = -1, False
                for parent in upstream:  # no list: a fan-in's upstream may be a million long
                    depth = self._depth_of(parent)
                    if depth is None:
                        waiting = True
                        break
                    deepest = max(deepest, depth)
                if waiting:
                    deferred.append((node, upstream))
                    continue
                self._depth[node] = 1 + deepest
            if len(deferred) == len(pending):  # a cycle; compile-time checks prevent it
                for node, _ in deferred:
                    self._depth[node] = 0
                return
            pending = deferred

    def _make_ready(self, node: str) -> None:
        self._status[node] = NodeStatus.READY
        self._pending.pop(node, None)
        depth = self._depth.get(node, 0) if self._depth_first else 0
        heapq.heappush(self._ready, (-depth, self._order[node], node))
        self._ready_count += 1

    # --- transitions ----------------------------------------------------------------------------

    def take(self, limit: int, hold: Callable[[str], str | None] | None = None) -> list[str]:
        """Up to `limit` ready nodes, now RUNNING, in FIFO order.

        `hold(node)` may return a key to keep a node READY but aside (its step is at its own
        concurrency limit); `release(key)` puts one such node back in line.
        """
        taken: list[str] = []
        while self._ready and len(taken) < limit:
            node = heapq.heappop(self._ready)[2]
            if self._status[node] is not NodeStatus.READY:
                continue  # skipped while queued
            if hold is not None:
                key = hold(node)
                if key is not None:
                    self._held.setdefault(key, deque()).append(node)
                    continue
            self._ready_count -= 1
            self._status[node] = NodeStatus.RUNNING
            taken.append(node)
        self._running += len(taken)
        return taken

    def release(self, key: str) -> None:
        """One node held under `key` (if any is still READY) goes back in line."""
        held = self._held.get(key)
        while held:
            node = held.popleft()
            if self._status[node] is NodeStatus.READY:
                depth = self._depth.get(node, 0) if self._depth_first else 0
                heapq.heappush(self._ready, (-depth, self._order[node], node))
                return

    def release_where(self, key: str, accept: Callable[[str], bool | None]) -> None:
        """Held nodes under `key` for which `accept(node)` is True go back in line, in the order
        they were held; False keeps a node held; None stops the scan (nothing more can go)."""
        held = self._held.get(key)
        if not held:
            return
        kept: deque[str] = deque()
        while held:
            node = held.popleft()
            if self._status[node] is not NodeStatus.READY:
                continue  # skipped while held
            verdict = accept(node)
            if verdict is None:
                kept.append(node)
                break
            if verdict:
                depth = self._depth.get(node, 0) if self._depth_first else 0
                heapq.heappush(self._ready, (-depth, self._order[node], node))
            else:
                kept.append(node)
        kept.extend(held)
        self._held[key] = kept

    def complete(self, node: str) -> list[str]:
        """Mark a running node completed; returns the dependents that became ready."""
        self._finish(node, NodeStatus.COMPLETED)
        self._order.pop(node, None)
        newly_ready: list[str] = []
        for child in _as_list(self._dependents.pop(node, None)):
            if self._status[child] is not NodeStatus.WAITING:
                continue
            left = self._pending[child] - 1
            if left == 0:
                self._make_ready(child)
                newly_ready.append(child)
            else:
                self._pending[child] = left
        if node.startswith(MAP_BRANCH_PREFIX):
            self._forget_branch(node)
        return newly_ready

    def _forget_branch(self, node: str) -> None:
        """A completed map branch becomes one byte of its group's table."""
        group, index = split_branch_id(node)
        if group is None:
            return
        del self._status[node]
        depth = self._depth.pop(node, 0)
        if depth > self._branch_depth.get(group, -1):
            self._branch_depth[group] = depth
        table = self._completed_branches.get(group)
        if table is None:
            table = self._completed_branches[group] = bytearray()
        if index >= len(table):
            table.extend(bytes(max(index + 1 - len(table), len(table))))
        table[index] = 1

    def _completed_branch(self, node: str) -> bool:
        if not node.startswith(MAP_BRANCH_PREFIX) or not self._completed_branches:
            return False
        group, index = split_branch_id(node)
        table = self._completed_branches.get(group) if group is not None else None
        return table is not None and index < len(table) and table[index] == 1

    def _status_of(self, node: str) -> NodeStatus | None:
        status = self._status.get(node)
        if status is None and self._completed_branch(node):
            return NodeStatus.COMPLETED
        return status

    def _depth_of(self, node: str) -> int | None:
        depth = self._depth.get(node)
        if depth is None and self._completed_branch(node):
            group, _ = split_branch_id(node)
            return self._branch_depth.get(group or "", 0)
        return depth

    def fail(self, node: str) -> list[str]:
        """Mark a running node failed; returns every dependent that can now never run."""
        self._finish(node, NodeStatus.FAILED)
        skipped: list[str] = []
        for child in _as_list(self._dependents.get(node)):
            skipped.extend(self._skip_from(child))
        return skipped

    def abandon(self, node: str) -> None:
        """A node taken for running that never started (the run stopped first): SKIPPED."""
        if self._status.get(node) is not NodeStatus.RUNNING:
            raise ValueError(f"node {node!r} is {self._status.get(node)}, not running")
        self._status[node] = NodeStatus.SKIPPED
        self._running -= 1
        self._unfinished -= 1

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
        self._held.clear()
        self._ready_count = 0
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
                self._ready_count -= 1  # its heap entry is dropped when popped
            self._status[node] = NodeStatus.SKIPPED
            self._unfinished -= 1
            skipped.append(node)
            stack.extend(_as_list(self._dependents.get(node)))
        return skipped

    # --- queries --------------------------------------------------------------------------------

    def compact(self) -> None:
        """Give back the table memory of nodes no longer waiting (see `execution/tables.py`)."""
        compact(self._pending, self._dependents, self._order, self._held, self._status, self._depth)

    def status(self, node: str) -> NodeStatus:
        status = self._status_of(node)
        if status is None:
            raise KeyError(node)
        return status

    def __contains__(self, node: object) -> bool:
        return isinstance(node, str) and self._status_of(node) is not None

    @property
    def ready_count(self) -> int:
        return self._ready_count

    @property
    def running_count(self) -> int:
        return self._running

    @property
    def done(self) -> bool:
        return self._unfinished == 0

    def nodes_with(self, status: NodeStatus) -> list[str]:
        nodes = [node for node, current in self._status.items() if current is status]
        if status is NodeStatus.COMPLETED:
            for group, table in self._completed_branches.items():
                nodes.extend(
                    f"{MAP_BRANCH_PREFIX}{group}:{index}"
                    for index, done in enumerate(table)
                    if done
                )
        return nodes
