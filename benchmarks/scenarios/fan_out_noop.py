"""Scenario (b): one source step fanned out to N no-op steps, caching off.

Run twice, with N = 100 and N = 1000, in fresh processes; the difference divided by 900 is the
engine's cost per step with import time, store creation and run setup cancelled out. Each no-op
step takes the source's output as a real data input (as the fan-out example does), so the figure
includes recording the step, loading one small artifact and recording a `None` result.
``--wiring after`` orders the fan-out with ``after=`` instead, so no artifact is loaded and the
figure is pure scheduling and bookkeeping.

Usage: python fan_out_noop.py N [--wiring input|after]
"""

from __future__ import annotations

import argparse

from fanflow import pipeline, step


@step
def source() -> int:
    """The fan-out root; its tiny output is what every branch loads."""
    return 1


@step
def noop_with_input(value: int) -> None:
    """Does nothing with its input: all time spent here is the engine's."""
    return None


@step
def source_none() -> None:
    """The fan-out root for ``--wiring after``: no output, so nothing is saved or loaded."""
    return None


@step
def noop() -> None:
    """Does nothing at all: all time spent here is the engine's."""
    return None


@pipeline(enable_cache=False)
def fan_out_noop_input(n: int) -> None:
    """Static fan-out: the loop runs while tracing, so the graph has N + 1 invocations."""
    value = source()
    for i in range(n):
        noop_with_input(value, id=f"noop_{i}")


@pipeline(enable_cache=False)
def fan_out_noop_after(n: int) -> None:
    """Same shape as `fan_out_noop_input`, with ordering-only edges."""
    source_none()
    for i in range(n):
        noop(id=f"noop_{i}", after="source_none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of fan-out steps")
    parser.add_argument("--wiring", choices=("input", "after"), default="input")
    args = parser.parse_args()
    chosen = fan_out_noop_input if args.wiring == "input" else fan_out_noop_after
    chosen(n=args.n)


if __name__ == "__main__":
    main()
