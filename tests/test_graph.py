"""Graph helpers over `{node: upstream nodes}` mappings (`fanflow.graph`)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanflow.graph import find_cycle, layered_order, layers, topological_order

Edges = Mapping[str, Iterable[str]]


def assert_valid_cycle(edges: Edges, cycle: list[str] | None) -> None:
    """A closed path `[a, b, ..., a]` in which each node is an upstream of the next."""
    assert cycle is not None
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1  # no node twice (besides closing the loop)
    for upstream, downstream in itertools.pairwise(cycle):
        assert upstream in set(edges[downstream]), (upstream, downstream)


def assert_respects_edges(edges: Edges, order: list[str]) -> None:
    assert sorted(order) == sorted(edges)
    position = {node: index for index, node in enumerate(order)}
    for node, upstreams in edges.items():
        for upstream in upstreams:
            if upstream in position:
                assert position[upstream] < position[node], (upstream, node)


def chain(length: int) -> dict[str, list[str]]:
    return {f"n{i}": ([f"n{i - 1}"] if i else []) for i in range(length)}


# --- find_cycle -----------------------------------------------------------------------------------


def test_self_loop() -> None:
    edges = {"a": ["a"], "b": []}
    assert find_cycle(edges) == ["a", "a"]


def test_two_cycle() -> None:
    edges = {"a": ["b"], "b": ["a"]}
    cycle = find_cycle(edges)
    assert_valid_cycle(edges, cycle)
    assert set(cycle or []) == {"a", "b"}
    assert len(cycle or []) == 3


def test_long_cycle_behind_an_acyclic_prefix() -> None:
    edges: dict[str, list[str]] = {"start": [], "x0": ["start"]}
    for i in range(1, 50):
        edges[f"x{i}"] = [f"x{i - 1}"]
    edges["x0"].append("x49")  # closes x0 -> x1 -> ... -> x49 -> x0
    cycle = find_cycle(edges)
    assert_valid_cycle(edges, cycle)
    assert set(cycle or []) == {f"x{i}" for i in range(50)}


def test_cycle_only_reachable_from_a_later_root() -> None:
    edges = {"ok1": [], "ok2": ["ok1"], "c1": ["c3", "ok2"], "c2": ["c1"], "c3": ["c2"]}
    cycle = find_cycle(edges)
    assert_valid_cycle(edges, cycle)
    assert set(cycle or []) == {"c1", "c2", "c3"}


@pytest.mark.parametrize(
    "edges",
    [
        {},
        {"a": []},
        {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]},  # diamond
        {"a": [], "b": ["a", "a"]},  # duplicate upstream
        {"b": ["a"], "a": []},  # upstream listed after its dependent
        {"a": ["not-a-node"], "b": ["a", "also-missing"]},  # unknown upstreams are ignored
    ],
    ids=["empty", "single", "diamond", "duplicate", "reversed", "unknown-upstreams"],
)
def test_acyclic_graphs_have_no_cycle(edges: Edges) -> None:
    assert find_cycle(edges) is None


def test_upstreams_may_be_any_iterable_collection() -> None:
    edges = {"a": set(), "b": ("a",), "c": frozenset({"b"})}
    assert find_cycle(edges) is None
    assert topological_order(edges) == ["a", "b", "c"]
    cyclic = {"a": ("c",), "b": {"a"}, "c": frozenset({"b"})}
    assert_valid_cycle(cyclic, find_cycle(cyclic))


# --- topological_order ----------------------------------------------------------------------------


def test_topological_order_respects_edges() -> None:
    edges = {
        "report": ["train", "evaluate"],
        "evaluate": ["train", "split"],
        "train": ["split"],
        "split": ["load"],
        "load": [],
    }
    order = topological_order(edges)
    assert_respects_edges(edges, order)
    assert order == ["load", "split", "train", "evaluate", "report"]


def test_topological_order_keeps_insertion_order_for_independent_nodes() -> None:
    edges = {"z": [], "a": [], "m": [], "b": ["z"]}
    assert topological_order(edges) == ["z", "a", "m", "b"]


def test_topological_order_ignores_unknown_upstreams() -> None:
    edges = {"a": ["ghost"], "b": ["a"]}
    assert topological_order(edges) == ["a", "b"]


@pytest.mark.parametrize(
    "edges",
    [{"a": ["a"]}, {"a": ["b"], "b": ["a"]}, {"a": [], "b": ["a", "d"], "c": ["b"], "d": ["c"]}],
    ids=["self-loop", "two-cycle", "cycle-after-root"],
)
def test_topological_order_raises_on_cycles(edges: Edges) -> None:
    with pytest.raises(ValueError, match="cycle"):
        topological_order(edges)


# --- layers and ZenML's listing order -------------------------------------------------------------


def test_layers_are_longest_path_depths() -> None:
    edges = {"a": [], "b": ["a"], "c": ["b"], "d": ["a", "c"], "e": []}
    assert layers(edges) == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 0}


def test_layers_ignore_upstreams_that_are_not_nodes() -> None:
    edges = {"b": ["a-not-recorded-yet"], "c": ["b"]}
    assert layers(edges) == {"b": 0, "c": 1}


def test_layers_raise_on_cycles() -> None:
    with pytest.raises(ValueError):
        layers({"a": ["b"], "b": ["a"]})


def test_layered_order_for_thirty_branches_sorts_ids_as_strings() -> None:
    branches = [f"process_{i}" for i in range(30)]
    edges: dict[str, list[str]] = {"load": []}
    for name in branches:
        edges[name] = ["load"]
    edges["combine"] = list(branches)
    order = layered_order(edges)
    assert order[0] == "load"
    assert order[-1] == "combine"
    assert order[1:5] == ["process_0", "process_1", "process_10", "process_11"]
    assert order[1:-1] == sorted(branches)
    assert order.index("process_2") == order.index("process_19") + 1


def test_layered_order_sorts_within_each_layer_only() -> None:
    edges = {"z_root": [], "a_child": ["z_root"], "b_root": [], "a_grandchild": ["a_child"]}
    assert layered_order(edges) == ["b_root", "z_root", "a_child", "a_grandchild"]


def test_layered_order_of_an_empty_graph() -> None:
    assert layered_order({}) == []
    assert layers({}) == {}
    assert topological_order({}) == []


# --- scale ----------------------------------------------------------------------------------------


def test_hundred_thousand_node_chain_without_recursion() -> None:
    size = 100_000
    edges = chain(size)
    assert find_cycle(edges) is None
    order = topological_order(edges)
    assert order == [f"n{i}" for i in range(size)]
    depth = layers(edges)
    assert depth["n0"] == 0
    assert depth[f"n{size - 1}"] == size - 1
    assert len(layered_order(edges)) == size


def test_hundred_thousand_node_cycle_is_found() -> None:
    size = 100_000
    edges = chain(size)
    edges["n0"] = [f"n{size - 1}"]
    cycle = find_cycle(edges)
    assert cycle is not None
    assert len(cycle) == size + 1
    assert_valid_cycle(edges, cycle)
    with pytest.raises(ValueError):
        topological_order(edges)


def test_wide_fan_out_fan_in() -> None:
    width = 20_000
    edges: dict[str, list[str]] = {"src": []}
    edges.update({f"w{i}": ["src"] for i in range(width)})
    edges["sink"] = [f"w{i}" for i in range(width)]
    assert find_cycle(edges) is None
    depth = layers(edges)
    assert depth["sink"] == 2
    assert layered_order(edges)[-1] == "sink"


# --- property tests -------------------------------------------------------------------------------


@st.composite
def random_dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """Nodes get a hidden rank; upstreams always have a lower rank, names are shuffled."""
    size = draw(st.integers(min_value=0, max_value=30))
    names = draw(
        st.lists(
            st.text("abcxyz_0123456789", min_size=1, max_size=4),
            min_size=size,
            max_size=size,
            unique=True,
        )
    )
    edges: dict[str, list[str]] = {}
    for rank, name in enumerate(names):
        upstreams = draw(st.lists(st.sampled_from(names[:rank]), max_size=4)) if rank else []
        edges[name] = upstreams
    order = draw(st.permutations(list(edges)))
    return {name: edges[name] for name in order}


@settings(max_examples=200, deadline=None)
@given(random_dags())
def test_property_random_dags(edges: dict[str, list[str]]) -> None:
    assert find_cycle(edges) is None
    order = topological_order(edges)
    assert_respects_edges(edges, order)
    depth = layers(edges)
    for node, upstreams in edges.items():
        expected = 1 + max(depth[u] for u in upstreams) if upstreams else 0
        assert depth[node] == expected
    listed = layered_order(edges)
    assert listed == sorted(edges, key=lambda node: (depth[node], node))
    assert_respects_edges(edges, listed)


@settings(max_examples=200, deadline=None)
@given(random_dags(), st.randoms(use_true_random=False))
def test_property_a_back_edge_makes_a_cycle(
    edges: dict[str, list[str]], rng: random.Random
) -> None:
    order = topological_order(edges)
    if not order:
        return
    # Make an early node depend on a later one (or on itself): that closes a cycle exactly when
    # the later node can reach back to the early one, which is always true for a self loop.
    late_index = rng.randrange(len(order))
    early_index = rng.randrange(late_index + 1)
    early, late = order[early_index], order[late_index]
    reachable = _downstream_closure(edges, early)
    cyclic = {node: list(upstreams) for node, upstreams in edges.items()}
    cyclic[early].append(late)
    cycle = find_cycle(cyclic)
    if late in reachable:
        assert_valid_cycle(cyclic, cycle)
        with pytest.raises(ValueError):
            topological_order(cyclic)
    else:
        assert cycle is None
        assert_respects_edges(cyclic, topological_order(cyclic))


def _downstream_closure(edges: Edges, start: str) -> set[str]:
    dependents: dict[str, list[str]] = {node: [] for node in edges}
    for node, upstreams in edges.items():
        for upstream in upstreams:
            dependents[upstream].append(node)
    seen = {start}
    frontier = [start]
    while frontier:
        for child in dependents[frontier.pop()]:
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen
