"""Per-step engine overhead of two fanflow source trees, measured in pairs (CPU time).

Compares a baseline checkout (`--base`, e.g. a `git worktree` of an older commit) with this one
(or `--new`) on the static no-op fan-out (scenario b) and, optionally, the dynamic map
(scenario f). Every measurement is a fresh `python` process with a fresh, empty
`FANFLOW_HOME`, timed by its own CPU time (user + system, from `os.wait4`), which other load
on the machine disturbs far less than wall time. The two trees run in turn, round after round
(base, new, base, new, ...), and each round yields one ratio, so slow drift of the machine
affects both sides alike; the medians are reported.

- static: per step = (T(N=1000) - T(N=100)) / 900, which cancels start-up, imports and run
  set-up;
- dynamic (`--dynamic N`): per branch = T(map of N) / N (includes the fixed cost; use a large N).

Usage:
    python benchmarks/paired_overhead.py --base ../fanflow-base [--rounds 7] [--dynamic 10000]
        [--static int]

The interpreter that runs this script runs both trees (`PYTHONPATH=<tree>/src` first), so both
see the same installed dependencies. Exit code 0 always: this reports figures, it gates nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from run import child_env  # this folder is on sys.path when a script here runs

HERE = Path(__file__).resolve().parent.parent


def cpu_seconds(tree: Path, scenario: str, *args: str) -> float:
    """CPU seconds (user + system) of one fresh process running a scenario of `tree`."""
    home = Path(tempfile.mkdtemp(prefix="fanflow-pair-"))
    env = child_env(str(home / "home"))
    env["PYTHONPATH"] = str(tree / "src")
    script = tree / "benchmarks" / "scenarios" / scenario
    try:
        with open(home / "output.txt", "wb") as output:
            process = subprocess.Popen(
                [sys.executable, str(script), *args],
                cwd=home,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            text = (home / "output.txt").read_text(errors="replace")[-2000:]
            raise SystemExit(f"{script} {' '.join(args)} failed:\n{text}")
        return usage.ru_utime + usage.ru_stime
    finally:
        shutil.rmtree(home, ignore_errors=True)


STATIC_SCENARIOS = {"noop": "fan_out_noop.py", "int": "fan_out_int.py"}


def per_step(tree: Path, scenario: str = "fan_out_noop.py") -> float:
    """Milliseconds of CPU per step of a static fan-out: no-op steps (scenario b, input wiring)
    or steps returning an int that is saved and recorded (scenario h)."""
    large = cpu_seconds(tree, scenario, "1000")
    small = cpu_seconds(tree, scenario, "100")
    return (large - small) / 900 * 1000


def per_branch(tree: Path, n: int) -> float:
    """Milliseconds of CPU per branch of a dynamic map over `n` items (scenario f)."""
    return cpu_seconds(tree, "dynamic_map.py", str(n)) / n * 1000


def report(name: str, base: list[float], new: list[float]) -> None:
    ratios = [n / b for b, n in zip(base, new, strict=True)]
    print(
        f"{name}: base {statistics.median(base):.4f} ms, new {statistics.median(new):.4f} ms, "
        f"new/base {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max "
        f"{max(ratios):.3f}, {len(ratios)} pairs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the baseline source tree")
    parser.add_argument("--new", type=Path, default=HERE, help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dynamic", type=int, default=0, help="also a dynamic map of N items")
    parser.add_argument("--no-static", action="store_true", help="only the dynamic map")
    parser.add_argument(
        "--static",
        choices=sorted(STATIC_SCENARIOS),
        default="noop",
        help="the static fan-out's steps: no-op (default) or returning a saved int",
    )
    args = parser.parse_args()
    for tree in (args.base, args.new):
        cpu_seconds(tree, "fan_out_noop.py", "100")  # warm-up: .pyc files, the file cache
    if not args.no_static:
        base, new = [], []
        scenario = STATIC_SCENARIOS[args.static]
        for _ in range(args.rounds):
            base.append(per_step(args.base, scenario))
            new.append(per_step(args.new, scenario))
        report(f"static {args.static} fan-out, CPU per step", base, new)
    if args.dynamic:
        base, new = [], []
        for _ in range(args.rounds):
            base.append(per_branch(args.base, args.dynamic))
            new.append(per_branch(args.new, args.dynamic))
        report(f"dynamic map of {args.dynamic}, CPU per branch", base, new)


if __name__ == "__main__":
    main()
