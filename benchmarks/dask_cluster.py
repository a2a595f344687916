"""Dask benchmarks, paired in one session on one `LocalCluster(processes=True, n_workers=2)`.

1. Dynamic no-op map, N = 1,000 and 10,000: fanflow's cost per branch (a whole run with
   `orchestrator="dask"`, every branch recorded, its output saved as an artifact) against a bare
   `client.map` of the same no-op function on the same cluster (records nothing).
   Targets: fanflow <= 2x bare, and <= 1.5 ms per branch.
2. CPU-bound: 8 branches of ~0.5 s of pure-Python work: fanflow on Dask against fanflow with
   threads and against a bare `concurrent.futures.ProcessPoolExecutor(2)`.
   Targets: dask >= 1.8x faster than threads, and within 15% of the bare process pool.

Rounds alternate the contenders so that a slow moment of the machine affects both sides of a
ratio; figures are medians over rounds. The cluster is started once, before any timing.

Usage: python benchmarks/dask_cluster.py [--rounds 3] [--sizes 1000,10000] [--skip-cpu]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor


def noop(x: int) -> int:
    return x


def spin(seconds_of_work: int) -> int:
    """Pure-Python work holding the GIL; `seconds_of_work` loop counts calibrated below."""
    total = 0
    for i in range(seconds_of_work):
        total += i * i % 7
    return total


def calibrate(target_s: float = 0.5) -> int:
    count = 200_000
    while True:
        started = time.perf_counter()
        spin(count)
        elapsed = time.perf_counter() - started
        if elapsed > 0.05:
            return int(count * target_s / elapsed)
        count *= 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()

    import distributed

    from fanflow import pipeline, step
    from fanflow.execution.executors.dask import _nanny_class

    logging.getLogger("fanflow").setLevel(logging.WARNING)
    os.environ["FANFLOW_LOGGING_VERBOSITY"] = "WARNING"
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        worker_class=_nanny_class(),
    )
    client = distributed.Client(cluster, set_as_default=False)
    os.environ["FANFLOW_DASK_ADDRESS"] = cluster.scheduler_address

    @step(enable_cache=False)
    def items(n: int) -> list[int]:
        return list(range(n))

    @step(enable_cache=False)
    def nothing(x: int) -> int:
        return x

    @step(enable_cache=False)
    def count(values: list[int]) -> int:
        return len(values)

    @pipeline(dynamic=True, enable_cache=False)
    def noop_map(n: int = 10):
        count(nothing.map(items(n)))

    @step(enable_cache=False)
    def burn(loops: int) -> int:
        return spin(loops)

    @pipeline(enable_cache=False)
    def cpu_bound(loops: int = 1):
        for i in range(8):
            burn(loops, id=f"burn_{i}")

    def fresh_home() -> None:
        os.environ["FANFLOW_HOME"] = tempfile.mkdtemp(prefix="fanflow-dask-bench-")

    def timed(fn, *a, **kw) -> float:
        started = time.perf_counter()
        fn(*a, **kw)
        return time.perf_counter() - started

    def bare_map(n: int) -> None:
        futures = client.map(noop, range(n), pure=False)
        assert client.gather(futures) == list(range(n))
        del futures

    def fanflow_map(n: int) -> None:
        fresh_home()
        run = noop_map.with_options(orchestrator="dask")(n=n)
        assert run.steps["count"].output.load() == n

    bare_map(100)  # warm both paths up
    fanflow_map(100)
    print(f"cluster: {cluster.scheduler_address}, 2 workers x 1 thread; cores: {os.cpu_count()}")
    for n in [int(s) for s in args.sizes.split(",") if s]:
        bare, ours, ratios = [], [], []
        for round_index in range(args.rounds):
            pair = [("bare", bare_map), ("fanflow", fanflow_map)]
            if round_index % 2:
                pair.reverse()
            times = {name: timed(fn, n) for name, fn in pair}
            bare.append(times["bare"] / n * 1e3)
            ours.append(times["fanflow"] / n * 1e3)
            ratios.append(times["fanflow"] / times["bare"])
        print(
            f"no-op map N={n:>6}: fanflow {statistics.median(ours):.3f} ms/branch "
            f"(target <= 1.5), bare client.map {statistics.median(bare):.3f} ms/task, "
            f"ratio {statistics.median(ratios):.2f}x (target <= 2.0); rounds={args.rounds}"
        )

    if not args.skip_cpu:
        loops = calibrate()
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(spin, [1000, 1000]))  # started before timing, like the cluster

            def bare_pool() -> None:
                list(pool.map(spin, [loops] * 8))

            def run_mode(mode: str) -> None:
                fresh_home()
                cpu_bound.with_options(orchestrator=mode)(loops=loops)

            threads, dask, pooled = [], [], []
            for _ in range(args.rounds):
                threads.append(timed(run_mode, "local"))
                dask.append(timed(run_mode, "dask"))
                pooled.append(timed(bare_pool))
        t, d, p = (statistics.median(x) for x in (threads, dask, pooled))
        print(
            f"CPU-bound 8 x 0.5 s: threads {t:.2f} s, dask {d:.2f} s, bare ProcessPoolExecutor(2) "
            f"{p:.2f} s; threads/dask {t / d:.2f}x (target >= 1.8), dask/pool {d / p:.2f} "
            f"(target <= 1.15); rounds={args.rounds}"
        )
    client.close()
    cluster.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
