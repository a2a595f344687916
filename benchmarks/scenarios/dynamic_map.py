"""Scenario (f): a dynamic pipeline that maps one step over N items, then reduces them.

The width of the map is known only while the run goes on: `list_shards` returns N items, and
`process.map` makes one branch per item, each with an input artifact of its own split from the
list. `total` then receives every branch's result. Caching is off, so every run does the same
work. The script prints the total, which must be ``3 * sum(range(N))``; the driver checks it, so
a run that skipped or lost branches is not counted as fast.

Usage: python dynamic_map.py N
"""

from __future__ import annotations

import argparse

from fanflow import pipeline, step, unmapped


@step
def list_shards(n: int) -> list[int]:
    return list(range(n))


@step
def process(shard: int, factor: int) -> int:
    return shard * factor


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def shards_pipeline(n: int = 1000):
    shards = list_shards(n)
    results = process.map(shards, factor=unmapped(3))
    total(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of items, i.e. of map branches")
    args = parser.parse_args()
    run = shards_pipeline(n=args.n)
    print(run.steps["total"].output.load())


if __name__ == "__main__":
    main()
