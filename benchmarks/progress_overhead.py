"""Paired whole-process benchmark: what live progress costs per step.

Runs the static no-op fan-out (`scenarios/fan_out_noop.py N`) and the dynamic map
(`scenarios/dynamic_map.py N`) with `FANFLOW_PROGRESS=1` and `FANFLOW_PROGRESS=0`, at N and at
N/10, in rotating order, each run a fresh process with a fresh `FANFLOW_HOME`. Within each round
the per-step cost is (T(N) - T(N/10)) / (0.9 N) for progress on and off, which cancels fixed costs
(interpreter start, imports such as rich's, store creation); the ratio on/off of these per-step
costs is summarised over rounds (median, min, max), for wall time and for CPU time (user + sys of
the child, less sensitive to other load on the machine). With `--tty` the children's stderr is a
pseudo-terminal, so the live block (rich) is drawn; otherwise stderr is discarded and the
summary-line mode is measured.

Usage: python benchmarks/progress_overhead.py [--rounds 9] [--tty] [--only static|dynamic]
       [--static 2000] [--dynamic 2000]
"""

from __future__ import annotations

import argparse
import os
import pty
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import child_env  # this folder is on sys.path when a script here runs

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"


def run_once(script: Path, n: int, progress: str, tty: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process."""
    home = tempfile.mkdtemp(prefix="fanflow-progress-bench-")
    env = child_env(home)
    env["FANFLOW_PROGRESS"] = progress
    leader = follower = None
    try:
        if tty:
            leader, follower = pty.openpty()
            stderr: int = follower
        else:
            stderr = subprocess.DEVNULL
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(script), str(n)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        if leader is not None:
            os.close(follower)  # type: ignore[arg-type]
            follower = None
            while True:  # drain the terminal so the child never blocks on a full buffer
                try:
                    if not os.read(leader, 65536):
                        break
                except OSError:
                    break
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(
                f"{script.name} {n} (progress={progress}) exited with {process.returncode}"
            )
        return elapsed, usage.ru_utime + usage.ru_stime
    finally:
        for fd in (leader, follower):
            if fd is not None:
                os.close(fd)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--static", type=int, default=2000, help="fan-out width")
    parser.add_argument("--dynamic", type=int, default=2000, help="map width")
    parser.add_argument("--tty", action="store_true", help="stderr on a pseudo-terminal")
    parser.add_argument(
        "--only", choices=["static", "dynamic"], help="measure only one of the two scenarios"
    )
    args = parser.parse_args()
    scenarios = [
        ("static fan-out", SCENARIOS / "fan_out_noop.py", args.static),
        ("dynamic map", SCENARIOS / "dynamic_map.py", args.dynamic),
    ]
    if args.only is not None:
        scenarios = [s for s in scenarios if s[0].startswith(args.only)]
    print(
        f"mode: {'terminal (live block)' if args.tty else 'pipe (summary lines)'}; "
        f"{args.rounds} paired rounds after one warm-up each"
    )
    for label, script, n in scenarios:
        small = max(1, n // 10)
        variants = [(mode, width) for mode in ("1", "0") for width in (n, small)]
        for mode, width in variants:
            run_once(script, width, mode, args.tty)
        ratios: dict[str, list[float]] = {"wall": [], "cpu": []}
        per_step: dict[tuple[str, str], list[float]] = {}
        for round_index in range(args.rounds):
            shift = round_index % len(variants)
            order = variants[shift:] + variants[:shift]
            measured = {v: run_once(script, v[1], v[0], args.tty) for v in order}
            for which, column in (("wall", 0), ("cpu", 1)):
                cost = {
                    mode: (measured[(mode, n)][column] - measured[(mode, small)][column])
                    / (n - small)
                    for mode in ("1", "0")
                }
                per_step.setdefault((which, "1"), []).append(cost["1"])
                per_step.setdefault((which, "0"), []).append(cost["0"])
                if cost["0"] > 0:
                    ratios[which].append(cost["1"] / cost["0"])
        for which in ("wall", "cpu"):
            on = statistics.median(per_step[(which, "1")]) * 1e6
            off = statistics.median(per_step[(which, "0")]) * 1e6
            r = ratios[which]
            print(
                f"{label} N={n} vs {small}, {which}: per step on {on:.0f} us, off {off:.0f} us "
                f"(medians); ratio on/off median {statistics.median(r):.3f} "
                f"(min {min(r):.3f}, max {max(r):.3f}, {len(r)} rounds)"
            )


if __name__ == "__main__":
    main()
