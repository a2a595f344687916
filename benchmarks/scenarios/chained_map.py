"""Scenario (g): two chained maps, ``g.map(f.map(xs))``, over N items, then a reducer.

`items` returns N integers; `first.map` makes one branch per item, `second.map` one branch per
result of the first map (branch i may start as soon as `first`'s branch i is done), and
`reduce_sum` receives the second map's results. `first` and `second` return their input
unchanged, so all time spent is the engine's. Caching is off. The script prints the sum, which
must be ``sum(range(N))``; the driver checks it.

Usage: python chained_map.py N
"""

from __future__ import annotations

import argparse

from fanflow import pipeline, step


@step
def items(n: int) -> list[int]:
    return list(range(n))


@step
def first(x: int) -> int:
    return x


@step
def second(x: int) -> int:
    return x


@step
def reduce_sum(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def chained_map(n: int = 1000):
    xs = items(n)
    b = second.map(first.map(xs))
    reduce_sum(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of items; each map makes N branches")
    args = parser.parse_args()
    run = chained_map(n=args.n)
    print(run.steps["reduce_sum"].output.load())


if __name__ == "__main__":
    main()
