"""CPU-bound branches that hold the GIL, run by fanflow (threads or processes) or a bare pool.

Each branch spins pure Python for about `--seconds` of one core, like a model fit written in
Python: threads run such branches one at a time, worker processes in parallel. The `pool` mode
runs the same function on a bare `concurrent.futures.ProcessPoolExecutor(os.cpu_count())`, the
reference a processes orchestrator sized to the machine should match.

Usage: python cpu_bound.py {threads,processes,pool} [--branches 8] [--seconds 0.5]
Prints the sum of the branches' results, which is the same in every mode.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

from fanflow import pipeline, step


def spin(index: int, seconds: float) -> int:
    """About `seconds` of this thread's own CPU time in pure Python (`thread_time`: the
    process's CPU time would end every thread's spin early when several spin at once); returns
    `index`, so every mode prints the same total."""
    deadline = time.thread_time() + seconds
    spins = 0
    while time.thread_time() < deadline:
        for _ in range(1000):
            spins += 1
    return index


@step(enable_cache=False)
def busy(index: int, seconds: float) -> int:
    return spin(index, seconds)


@step(enable_cache=False)
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(enable_cache=False)
def cpu_bound(branches: int, seconds: float) -> None:
    total([busy(i, seconds, id=f"busy_{i}") for i in range(branches)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("threads", "processes", "pool"))
    parser.add_argument("--branches", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    if args.mode == "pool":
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            futures = [pool.submit(spin, i, args.seconds) for i in range(args.branches)]
            print(sum(f.result() for f in futures))
        return
    # No max_parallelism: what a user gets from choosing the orchestrator alone.
    run = cpu_bound.with_options(orchestrator=args.mode)(args.branches, args.seconds)
    print(run.steps["total"].output.load())


if __name__ == "__main__":
    main()
