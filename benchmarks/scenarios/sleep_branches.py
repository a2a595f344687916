"""Scenario (c): independent branches that each sleep, run in parallel or one at a time.

Sleeping stands in for I/O-bound work (downloads, remote calls): it releases the GIL, so in the
default (thread-pool) mode eight 1-second branches should finish in about one second, while the
sequential mode must take about eight. Both modes run the same script so the ratio between them
isolates the scheduling, not the imports.

Usage: python sleep_branches.py {local,sequential} [--branches 8] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from fanflow import pipeline, step


@step
def sleeper(seconds: float) -> None:
    """Blocks without using CPU, like a step waiting on the network."""
    time.sleep(seconds)


def branches(count: int, seconds: float) -> None:
    """Pipeline body: `count` independent invocations with no edges between them."""
    for i in range(count):
        sleeper(seconds=seconds, id=f"branch_{i}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("local", "sequential"))
    parser.add_argument("--branches", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    # "local" is the default mode, so it is left unset: the benchmark measures what a user
    # gets without configuring anything.
    options: dict[str, Any] = {"enable_cache": False}
    if args.mode == "sequential":
        options["orchestrator"] = "sequential"
    sleep_branches = pipeline(name="sleep_branches", **options)(branches)
    sleep_branches(count=args.branches, seconds=args.seconds)


if __name__ == "__main__":
    main()
