"""Paired whole-process benchmark: what live progress costs per step.

Runs the static no-op fan-out (`scenarios/fan_out_noop.py N`) and the dynamic map
(`scenarios/dynamic_map.py N`) with `FANFLOW_PROGRESS=1` and `FANFLOW_PROGRESS=0` in alternation
(on, off, off, on, ...), each run a fresh process with a fresh `FANFLOW_HOME`, and reports for
each scenario the median wall time of both and the median of the per-round ratios on/off. With
`--tty` the children's stderr is a pseudo-terminal, so the live block (rich) is drawn; otherwise
stderr is a file and the summary-line mode is measured.

Usage: python benchmarks/progress_overhead.py [--rounds 7] [--tty] [--static 2000] [--dynamic 2000]
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

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"


def run_once(script: Path, n: int, progress: str, tty: bool) -> float:
    home = tempfile.mkdtemp(prefix="fanflow-progress-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FANFLOW_")}
    env.update(FANFLOW_HOME=home, FANFLOW_PROGRESS=progress)
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
        code = process.wait()
        elapsed = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"{script.name} {n} (progress={progress}) exited with {code}")
        return elapsed
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
    args = parser.parse_args()
    scenarios = [
        ("static fan-out", SCENARIOS / "fan_out_noop.py", args.static),
        ("dynamic map", SCENARIOS / "dynamic_map.py", args.dynamic),
    ]
    print(
        f"mode: {'terminal (live block)' if args.tty else 'pipe (summary lines)'}; "
        f"{args.rounds} paired rounds after one warm-up each"
    )
    for label, script, n in scenarios:
        run_once(script, n, "1", args.tty)
        run_once(script, n, "0", args.tty)
        on: list[float] = []
        off: list[float] = []
        ratios: list[float] = []
        for round_index in range(args.rounds):
            order = ("1", "0") if round_index % 2 == 0 else ("0", "1")
            times = {mode: run_once(script, n, mode, args.tty) for mode in order}
            on.append(times["1"])
            off.append(times["0"])
            ratios.append(times["1"] / times["0"])
        per_step = (statistics.median(on) - statistics.median(off)) / n * 1e6
        print(
            f"{label} N={n}: progress on {statistics.median(on):.3f} s, off "
            f"{statistics.median(off):.3f} s (medians); on/off ratio median "
            f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
            f"difference {per_step:+.1f} us per step"
        )


if __name__ == "__main__":
    main()
