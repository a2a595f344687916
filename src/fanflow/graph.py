"""Graph algorithms over `{node: upstream nodes}` mappings.

Invariants: pure functions over plain mappings, linear in nodes + edges, no recursion (a
100,000-node chain must not hit Python's recursion limit). Upstream names that are not nodes of
the mapping are ignored by `layers` (a running run shows only the steps recorded so far).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as a closed path `[a, b, ..., a]`, or None when the graph is acyclic."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(edges, white)
    for root in edges:
        if color[root] != white:
            continue
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(root, [u for u in edges[root] if u in color])]
        color[root] = grey
        path.append(root)
        while stack:
            node, pending = stack[-1]
            if pending:
                nxt = pending.pop()
                if color[nxt] == grey:
                    start = path.index(nxt)
                    return [*path[start:], nxt][::-1]
                if color[nxt] == white:
                    color[nxt] = grey
                    path.append(nxt)
                    stack.append((nxt, [u for u in edges[nxt] if u in color]))
            else:
                color[node] = black
                path.pop()
                stack.pop()
    return None


def topological_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Kahn's algorithm; ties keep the mapping's insertion order. Raises ValueError on a cycle."""
    remaining = {node: 0 for node in edges}
    dependents: dict[str, list[str]] = {node: [] for node in edges}
    for node, upstream in edges.items():
        for parent in set(upstream):
            if parent in remaining:
                remaining[node] += 1
                dependents[parent].append(node)
    ready = deque(node for node, count in remaining.items() if count == 0)
    order: list[str] = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for child in dependents[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    if len(order) != len(remaining):
        raise ValueError("graph has a cycle")
    return order


def layers(edges: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Depth of each node: 0 for nodes without (known) upstreams, else 1 + deepest upstream."""
    depth: dict[str, int] = {}
    for node in topological_order(edges):
        upstream = [depth[parent] for parent in edges[node] if parent in depth]
        depth[node] = 1 + max(upstream) if upstream else 0
    return depth


def layered_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """ZenML's listing order: by layer, and by id compared as strings within a layer."""
    depth = layers(edges)
    return sorted(depth, key=lambda node: (depth[node], node))
