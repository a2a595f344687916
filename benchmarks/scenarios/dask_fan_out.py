"""Scenario (h) baseline: the shape of `fan_out_int.py` in `dask.delayed`, recording nothing.

One source task fanned out to N tasks that each return ``value + i``, computed with Dask's
threaded scheduler (its default for `dask.delayed`). Nothing is saved or recorded: this is what
a fan-out costs an engine that only schedules. Dask is not a dependency of fanflow; install it
(``pip install dask``) to run this baseline. Without it the script says so on stderr and exits
with status 3, so the driver reports the baseline as missing rather than as fast. Prints the
last task's result (``N``), as `fan_out_int.py` does.

Usage: python dask_fan_out.py N
"""

from __future__ import annotations

import argparse
import sys

MISSING_EXIT = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of fan-out tasks")
    args = parser.parse_args()
    try:
        import dask
    except ImportError:
        print("dask is not installed: `pip install dask` to run the Dask baseline", file=sys.stderr)
        sys.exit(MISSING_EXIT)

    @dask.delayed
    def source() -> int:
        return 1

    @dask.delayed
    def branch(value: int, offset: int) -> int:
        return value + offset

    value = source()
    branches = [branch(value, i) for i in range(args.n)]
    results = dask.compute(*branches, scheduler="threads")
    print(results[-1])


if __name__ == "__main__":
    main()
