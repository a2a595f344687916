"""A recorded run with one wide dynamic map, for the dashboard benchmark.

python benchmarks/scenarios/dashboard_run.py N    # N branches; a few of the last 100 fail
"""

import sys

from fanflow import pipeline, step, unmapped


@step
def list_shards(n: int) -> list[int]:
    return list(range(n))


def n_total() -> int:
    return int(sys.argv[1]) if len(sys.argv) > 1 else 1000


@step
def process(shard: int, factor: int) -> int:
    if shard >= n_total() - 100 and shard % 17 == 0:  # a few failures, near the end
        raise ValueError(f"shard {shard} is corrupt")
    return shard * factor


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def wide_map(n: int = 1000) -> None:
    shards = list_shards(n)
    results = process.map(shards, factor=unmapped(3))
    total(results)


if __name__ == "__main__":
    try:
        wide_map(n=int(sys.argv[1]))
    except Exception as exc:  # the failing branches fail the run; that is the point
        print(f"run finished with failures: {type(exc).__name__}", file=sys.stderr)
