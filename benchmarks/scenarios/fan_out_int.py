"""Scenario (h): one source step fanned out to N steps that each return a small int, caching off.

The headline per-step figure: every branch loads the source's output, returns ``value + i`` and
that int is saved as an artifact and recorded, as a real fan-out branch's result is. Run with
N = 100 and N = 1000 in fresh processes; (T(1000) - T(100)) / 900 is the cost per step with
import time, store creation and run setup cancelled out. ``dask_fan_out.py`` runs the same shape
with `dask.delayed`, recording nothing, as the baseline. The script prints the result of the
last branch (``N``), which the driver checks.

Usage: python fan_out_int.py N
"""

from __future__ import annotations

import argparse

from fanflow import pipeline, step


@step
def source() -> int:
    """The fan-out root; its tiny output is what every branch loads."""
    return 1


@step
def branch(value: int, offset: int) -> int:
    """Returns a small int, which the engine saves and records."""
    return value + offset


@pipeline(enable_cache=False)
def fan_out_int(n: int) -> None:
    """Static fan-out: the loop runs while tracing, so the graph has N + 1 invocations."""
    value = source()
    for i in range(n):
        branch(value, offset=i, id=f"branch_{i}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of fan-out steps")
    args = parser.parse_args()
    run = fan_out_int(n=args.n)
    print(run.steps[f"branch_{args.n - 1}"].output.load())


if __name__ == "__main__":
    main()
