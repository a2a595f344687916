"""Dashboard benchmark: run-page first paint and branch-table pages for a run with one wide map.

The run (N branches of a dynamic map, a few failing near the end) is built once into a cached
home, `.bench-homes/dashboard-N/`, and reused by later invocations. Each round then starts a
fresh dashboard server process (cold caches, as a user's first visit), and measures:

- first paint: in headless Chromium, from navigation start to the map's node drawn with its
  counts (the page's first useful paint), and to the timeline drawn;
- the run API (`/api/runs/ID`), cold (first request of the process) and warm;
- branch-table pages over HTTP: by index (first and a deep page), by status, by duration
  (ascending, descending, deep), failed only; and in the browser, a click on "Next" until the
  new rows are shown.

Usage:
    python benchmarks/dashboard.py                  # N = 10,000 (builds in ~20 s the first time)
    python benchmarks/dashboard.py --with-100k      # also N = 100,000 (builds in minutes, once)
    python benchmarks/dashboard.py --rounds 7 --json /tmp/dashboard.json

Beside each request's wall time, the server process's CPU time for it is reported (summed over
its threads, from /proc): on a loaded machine it is the steadier figure.

Targets (100,000 branches): first paint <= 1 s, each branch-table page <= 200 ms. Medians are
reported; the exit code is always 0. The server and Chromium helpers are shared with the
dashboard's tests (`tests/ui/dashboard_harness.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "benchmarks" / "scenarios" / "dashboard_run.py"
sys.path.insert(0, str(ROOT / "tests" / "ui"))
from dashboard_harness import CHROMIUM, CHROMIUM_ARGS, serve_in_process  # noqa: E402


def build(home: Path, size: int, python: str) -> str:
    """The id of the cached run in `home`, building it first if needed."""
    db = home / "fanflow.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT id FROM pipeline_runs WHERE status != 'running' ORDER BY created DESC"
            ).fetchone()
            if row:
                return str(row[0])
    home.mkdir(parents=True, exist_ok=True)
    print(f"building a {size:,}-branch run in {home} (once) ...", file=sys.stderr)
    started = time.monotonic()
    env = {**os.environ, "FANFLOW_HOME": str(home), "FANFLOW_PROGRESS": "0"}
    subprocess.run(
        [python, str(SCENARIO), str(size)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"  built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return build(home, size, python)


def start_server(home: Path, python: str) -> tuple[subprocess.Popen[bytes], str]:
    return serve_in_process(home, python, dict(os.environ))


def cpu_seconds(pid: int) -> float:
    """CPU time the process's threads have used so far (Linux, nanosecond resolution; the
    requests run on worker threads): on a loaded machine the server's CPU per request is
    steadier than its wall time."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                    total += int(handle.read().split()[0])
            except OSError:  # the thread ended meanwhile
                continue
    except OSError:
        return float("nan")
    return total / 1e9


def timed_get(url: str, pid: int) -> tuple[float, float]:
    """Wall time of one GET, and the server's CPU time for it."""
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read()
    return time.perf_counter() - started, cpu_seconds(pid) - cpu


def branch_queries(size: int) -> dict[str, str]:
    deep = max(1, size // 50 // 2)
    return {
        "index, page 1": "sort=index&page=1",
        f"index, page {deep:,}": f"sort=index&page={deep}",
        "status, page 1": "sort=status&page=1",
        "duration asc, page 1": "sort=duration&page=1",
        "duration desc, page 1": "sort=duration&desc=1&page=1",
        f"duration, page {deep:,}": f"sort=duration&page={deep}",
        "failed only": "status=failed",
    }


def measure(size: int, rounds: int, python: str, home_base: Path) -> dict[str, list[float]]:
    home = home_base / f"dashboard-{size}"
    run_id = build(home, size, python)
    samples: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        samples.setdefault(name, []).append(seconds)

    def add_get(name: str, url: str, pid: int) -> None:
        wall, cpu = timed_get(url, pid)
        add(name, wall)
        add(f"  {name}: server CPU", cpu)

    browser = playwright = None
    try:
        from playwright.sync_api import sync_playwright

        if os.path.exists(CHROMIUM):
            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except ImportError:
        print("playwright is not installed: browser figures skipped", file=sys.stderr)
    try:
        for number in range(rounds):
            print(f"  N={size:,} round {number + 1}/{rounds}", file=sys.stderr)
            proc, base = start_server(home, python)
            run_api = f"{base}/api/runs/{run_id}"
            try:
                if browser is not None:
                    page = browser.new_page(viewport={"width": 1360, "height": 900})
                    cpu = cpu_seconds(proc.pid)
                    started = time.perf_counter()
                    page.goto(f"{base}/#/run/{run_id}")
                    page.wait_for_selector(".dag .node.map .counts")
                    add(
                        "first paint: map node with counts (browser, cold server)",
                        time.perf_counter() - started,
                    )
                    add("  server CPU until first paint", cpu_seconds(proc.pid) - cpu)
                    page.wait_for_selector(".timeline svg", timeout=60_000)
                    add("timeline drawn (browser, cold server)", time.perf_counter() - started)
                    page.click(".dag .node.map")
                    page.wait_for_selector("#branch-table tbody tr[data-index='0']")
                    started = time.perf_counter()
                    page.click("#branch-next")
                    page.wait_for_selector("#branch-table tbody tr[data-index='50']")
                    add(
                        "branch table: click Next to rows shown (browser)",
                        time.perf_counter() - started,
                    )
                    page.close()
                else:
                    add_get("run API, quick form, cold server", f"{run_api}?durations=0", proc.pid)
                add_get("run API, warm", run_api, proc.pid)
                add_get("timeline API, warm", f"{base}/api/runs/{run_id}/timeline", proc.pid)
                for label, query in branch_queries(size).items():
                    url = f"{base}/api/runs/{run_id}/groups/process/branches?{query}"
                    add_get(f"branch page API: {label}", url, proc.pid)
            finally:
                proc.terminate()
                proc.wait(30)
    finally:
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
    return samples


def report(size: int, samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows = []
    print(f"\nN = {size:,} branches (medians over {max(len(v) for v in samples.values())} rounds)")
    print(f"{'measure':<62} {'median':>9} {'min':>9} {'max':>9}")
    for name, values in samples.items():
        med, low, high = statistics.median(values), min(values), max(values)
        print(f"{name:<62} {med * 1000:>7.0f}ms {low * 1000:>7.0f}ms {high * 1000:>7.0f}ms")
        rows.append({"size": size, "measure": name, "median_s": med, "samples_s": values})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="branches of the default run")
    parser.add_argument("--with-100k", action="store_true", help="also the 100,000-branch run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=None, help="interpreter for the server and builds")
    parser.add_argument("--home-base", type=Path, default=ROOT / ".bench-homes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    python = args.python or sys.executable
    sizes = [args.size] + ([100_000] if args.with_100k and args.size != 100_000 else [])
    rows = []
    for size in sizes:
        rows += report(size, measure(size, args.rounds, python, args.home_base))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
