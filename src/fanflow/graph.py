"""Graph algorithms over `{node: upstream nodes}` mappings, on the standard library's `graphlib`.

Invariants: pure functions over plain mappings, linear in nodes + edges, no recursion (a
100,000-node chain must not hit Python's recursion limit; `graphlib` is iterative). Upstream names
that are not nodes of the mapping are ignored (a running run shows only the steps recorded so
far). Among nodes that are ready together, the mapping's insertion order is kept.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable, Mapping


def _sorter(edges: Mapping[str, Iterable[str]]) -> graphlib.TopologicalSorter[str]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node in edges:  # every node first, so ties follow the mapping's order
        sorter.add(node)
    for node, upstream in edges.items():
        known = [parent for parent in upstream if parent in edges]
        if known:
            sorter.add(node, *known)
    return sorter


def _acyclic(edges: Mapping[str, Iterable[str]]) -> bool:
    """Kahn's count, in plain loops: checking every traced pipeline costs no call per node."""
    waiting = dict.fromkeys(edges, 0)
    children: dict[str, list[str]] = {}
    for node, upstream in edges.items():
        for parent in upstream:
            if parent in waiting:
                waiting[node] += 1
                children.setdefault(parent, []).append(node)
    ready = [node for node, count in waiting.items() if not count]
    done = 0
    while ready:
        done += 1
        for child in children.get(ready.pop(), ()):
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    return done == len(waiting)


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as a closed path `[a, b, ..., a]` (each node an upstream of the next), or None
    when the graph is acyclic."""
    if _acyclic(edges):
        return None
    try:
        _sorter(edges).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def topological_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Upstreams before dependents; ties keep the mapping's order. Raises ValueError on a cycle
    (`graphlib.CycleError` is a ValueError)."""
    try:
        return list(_sorter(edges).static_order())
    except graphlib.CycleError as exc:
        raise ValueError(f"graph has a cycle: {' -> '.join(exc.args[1])}") from None


def layers(edges: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Depth of each node: 0 for nodes without (known) upstreams, else 1 + deepest upstream."""
    depth: dict[str, int] = {}
    for node in topological_order(edges):
        upstream = [depth[parent] for parent in edges[node] if parent in depth]
        depth[node] = 1 + max(upstream) if upstream else 0
    return depth


_MAP_BRANCH = re.compile(r"(map:.+:)(\d+)")


def id_order_key(node: str) -> tuple[str, int]:
    """Ids compare as strings, except that the branches of one map (`map:<group>:<index>`)
    compare by index, so `map:train:2` comes before `map:train:10`."""
    branch = _MAP_BRANCH.fullmatch(node)
    if branch is None:
        return (node, -1)
    return (branch.group(1), int(branch.group(2)))


def layered_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """ZenML's listing order: by layer, then by id within a layer (map branches by index)."""
    depth = layers(edges)
    return sorted(depth, key=lambda node: (depth[node], id_order_key(node)))
