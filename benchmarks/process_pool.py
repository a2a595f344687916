"""`orchestrator="processes"` against threads and a bare `ProcessPoolExecutor`, CPU-bound.

Eight branches each spin pure Python for 0.5 s of one core (`scenarios/cpu_bound.py`). Threads
run them one at a time (the GIL); worker processes, sized to the CPU count by default, should run
them side by side and take about as long as a bare `ProcessPoolExecutor(os.cpu_count())` running
the same function, which records nothing. Every measurement is a fresh `python` process with a
fresh `FANFLOW_HOME`, timed from spawn to exit (so the processes' start-up, imports and the run's
recording are in it); the three run in turn, round after round, in a rotated order, and each
round yields its own ratios, whose medians are reported.

Usage:
    python benchmarks/process_pool.py [--rounds 5] [--branches 8] [--seconds 0.5]

Exit code 0 always: this reports figures, it gates nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import child_env  # this folder is on sys.path when a script here runs

SCRIPT = Path(__file__).resolve().parent / "scenarios" / "cpu_bound.py"
MODES = ("threads", "processes", "pool")


def wall_seconds(mode: str, branches: int, seconds: float) -> float:
    """Wall seconds of one fresh process running `cpu_bound.py` in `mode`."""
    home = Path(tempfile.mkdtemp(prefix="fanflow-procs-"))
    env = child_env(str(home / "home"))
    command = [sys.executable, str(SCRIPT), mode, "--branches", str(branches)]
    command += ["--seconds", str(seconds)]
    try:
        started = time.perf_counter()
        done = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        expected = str(sum(range(branches)))
        if done.returncode != 0 or done.stdout.strip().splitlines()[-1:] != [expected]:
            raise SystemExit(f"{mode} failed or printed the wrong total:\n{done.stderr[-2000:]}")
        return elapsed
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--branches", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.branches} branches x {args.seconds} s of CPU each")
    for mode in MODES:  # warm-up: .pyc files, the file cache
        wall_seconds(mode, 2, 0.01)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_number in range(args.rounds):
        shift = round_number % len(MODES)
        for mode in MODES[shift:] + MODES[:shift]:
            times[mode].append(wall_seconds(mode, args.branches, args.seconds))
    for mode in MODES:
        values = times[mode]
        print(
            f"{mode:9s} wall: median {statistics.median(values):.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )
    speedup = [t / p for t, p in zip(times["threads"], times["processes"], strict=True)]
    vs_pool = [p / b for p, b in zip(times["processes"], times["pool"], strict=True)]
    print(
        f"processes are faster than threads: median {statistics.median(speedup):.2f}x "
        f"(min {min(speedup):.2f}, max {max(speedup):.2f}, {len(speedup)} rounds)"
    )
    print(
        f"processes / bare pool: median {statistics.median(vs_pool):.2f}x its time "
        f"(min {min(vs_pool):.2f}, max {max(vs_pool):.2f}, {len(vs_pool)} rounds)"
    )


if __name__ == "__main__":
    main()
