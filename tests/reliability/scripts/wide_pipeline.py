"""A wide pipeline for crash and interrupt tests: each step appends its name to a ledger file.

python wide_pipeline.py LEDGER WIDTH SLEEP [dynamic]
"""

import os
import sys
import time

from fanflow import pipeline, step

LEDGER = os.environ.get("LEDGER", "ledger.txt")


def _mark(name: str) -> None:
    with open(LEDGER, "a") as handle:
        handle.write(name + "\n")


@step(enable_cache=False)
def source(width: int) -> list[int]:
    _mark("source")
    return list(range(width))


@step(enable_cache=False)
def work(value: int, pause: float) -> int:
    time.sleep(pause)
    _mark(f"work {value}")
    return value * value


@step(enable_cache=False)
def combine(values: list[int]) -> int:
    _mark("combine")
    return sum(values)


@step(enable_cache=False)
def pick(values: list[int], index: int) -> int:
    return values[index]


@pipeline(enable_cache=False)
def wide_static(width: int = 20, pause: float = 0.05):
    items = source(width)
    combine([work(pick(items, i, id=f"pick_{i}"), pause, id=f"work_{i}") for i in range(width)])


@pipeline(dynamic=True, enable_cache=False)
def wide_dynamic(width: int = 20, pause: float = 0.05):
    from fanflow import unmapped

    combine(work.map(source(width), unmapped(pause)))


if __name__ == "__main__":
    chosen = {"static": wide_static, "dynamic": wide_dynamic}[sys.argv[1]]
    chosen(width=int(sys.argv[2]), pause=float(sys.argv[3]))
