"""Scenario (m): orchestrator memory per finished branch of a dynamic map, with tracemalloc.

Runs the map of `dynamic_map.py` (N branches, each returning a small int, then a reducer) in a
process that traces its Python allocations. When the reducer starts, every branch has finished
and only the fan-in is pending, so what the process holds then, minus what it held before the
run and minus the reducer's own loaded input list, is what the engine keeps per finished branch
(its run state, the records it has not released, caches). Threads run the steps, so the
orchestrator and the steps share this process and the figure is the engine's whole footprint.

Prints, last, for the driver to read, the bytes held per finished branch *beyond* what the
pending fan-in needs (the record of each branch's output its task carries: the known-artifact
object and the id, URI, hash and inline bytes it holds), rounded: the figure the target is
about. On standard error it also prints the whole held per branch, the fan-in's part of it,
and the peak traced during the run (when every branch was still pending). tracemalloc makes
the run several times slower; the time is not a figure here.

Usage: python map_memory.py N
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tracemalloc

from fanflow import pipeline, step, unmapped

held_at_fan_in: list[int] = []
fan_in_needs: list[int] = []


def _fan_in_inputs_size() -> int:
    """Bytes of the branch outputs' records the fan-in's task carries (each object once)."""
    from fanflow.execution.known import KnownArtifact

    seen: set[int] = set()
    total = 0
    branch_folder = f"{os.sep}process{os.sep}"  # a branch's output lives under its map's folder
    for obj in gc.get_objects():
        if isinstance(obj, KnownArtifact) and obj.item is None and branch_folder in obj.uri:
            for part in (
                obj,
                obj.id,
                obj.uri,
                obj.content_hash,
                obj.name,
                obj.inline,
            ):
                if part is not None and id(part) not in seen:
                    seen.add(id(part))
                    total += sys.getsizeof(part)
    return total


@step
def list_shards(n: int) -> list[int]:
    return list(range(n))


@step
def process(shard: int, factor: int) -> int:
    return shard * factor


@step
def total(values: list[int]) -> int:
    """The fan-in: notes what the process holds now, less this step's own input list."""
    own_input = sys.getsizeof(values) + sum(sys.getsizeof(v) for v in values if v > 256)
    held_at_fan_in.append(tracemalloc.get_traced_memory()[0] - own_input)
    fan_in_needs.append(_fan_in_inputs_size())
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def mapped(n: int = 1000):
    total(process.map(list_shards(n), factor=unmapped(3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of map branches")
    args = parser.parse_args()
    mapped(n=10)  # warm: imports, store creation and first-run caches are not per branch
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run = mapped(n=args.n)
    if run.steps["total"].output.load() != 3 * (args.n * (args.n - 1) // 2):
        sys.exit("the reducer's result is wrong; the figure would mean nothing")
    peak = tracemalloc.get_traced_memory()[1]
    per_branch = (held_at_fan_in[-1] - before) / args.n
    needs = fan_in_needs[-1] / args.n
    print(f"held at the fan-in: {(held_at_fan_in[-1] - before) / 1e6:.1f} MB", file=sys.stderr)
    print(f"held per finished branch: {per_branch:.0f} B", file=sys.stderr)
    print(f"of which the fan-in's inputs: {needs:.0f} B per branch", file=sys.stderr)
    print(f"beyond what the fan-in needs: {per_branch - needs:.0f} B per branch", file=sys.stderr)
    print(
        f"peak traced during the run: {(peak - before) / args.n:.0f} B per branch", file=sys.stderr
    )
    print(round(per_branch - needs))


if __name__ == "__main__":
    main()
