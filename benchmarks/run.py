"""Whole-process benchmarks for fanflow: wall time and peak RSS of fresh `python` processes.

Why whole processes: what a user waits for is `python my_pipeline.py` from start to exit, which
includes interpreter start-up, imports, creating the store, tracing, running and shutting down.
Timing a function inside a warm interpreter hides most of that, so every measurement here is a
fresh child process with a fresh, empty FANFLOW_HOME. Those homes are created under a base
directory inside the repository (`.bench-homes/`, or `--home-base DIR`), not under the system's
temporary directory, each in an inode group of its own, and removed only after the last run:
every artifact costs a directory and a file, and how fast the file system creates them depends
on what was deleted near them recently (see `fs_probe`), which would be measured as fanflow's.

Why rounds: each round runs every selected variant once (in a rotated order), and the derived
figures (per-step overhead, parallel/sequential ratio, import cost over bare start-up) are
computed within a round, then summarised by their median. Slow drift of the machine (another
job starting, thermal throttling) then affects both sides of a ratio alike.

Why a trampoline for peak RSS: on Linux a child's `ru_maxrss` also counts the memory of the
process it was forked from (the forked copy's high-water mark survives `exec`), so a child
spawned straight from this driver can never report less than the driver's own peak. Children are
therefore started by a small `/bin/sh` that backgrounds them and exits; the driver, registered as
a "child subreaper", adopts them and collects their own rusage with `os.wait4`. Where that is not
available (not Linux), children are spawned directly and the RSS column is an upper bound.

Usage:
    python benchmarks/run.py [--runs N] [--slow-runs M] [--only a,b,...] [--json PATH]
                             [--home-base DIR] [--timeout SECONDS]
    python benchmarks/run.py --only f100k      # the opt-in 100,000-branch run (minutes)

The exit code is always 0: this reports figures, it does not gate anything.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "benchmarks" / "scenarios"
EXAMPLE = ROOT / "examples" / "fan_out_fan_in.py"
DEFAULT_HOME_BASE = ROOT / ".bench-homes"

# Backgrounds the real command (stdout to the file named by the first argument, stderr
# inherited) and prints its pid, then exits, so the command's parent is a freshly exec'd shell,
# not this (larger) driver.
TRAMPOLINE = 'out=$1; shift; "$@" </dev/null >"$out" & echo $!'
PR_SET_CHILD_SUBREAPER = 36
DEFAULT_TIMEOUT = 300.0  # seconds per run, unless the variant or --timeout says otherwise
SLOW_FS_US = 150.0  # a mkdir + file create slower than this marks the file system as slow


# --- what to run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One command line that is timed, once per round."""

    key: str
    label: str
    argv: tuple[str, ...]  # arguments after the interpreter
    slow: bool = False  # slow variants default to fewer rounds (--slow-runs)
    warmup: bool = True  # False when another variant already warms the same code
    single: bool = False  # one measured run whatever --runs says (very long variants)
    expect_stdout: str | None = None  # the last line the child must print, if checked
    timeout: float = DEFAULT_TIMEOUT  # seconds; the run is killed and counted as failed after
    reports: bool = False  # the child prints a figure of its own as its last line (Sample.reported)


@dataclass(frozen=True)
class Target:
    """An upper bound on a summary (the median unless `stat` says "max"), with its text."""

    limit: float
    text: str
    stat: str = "median"

    def verdict(self, stats: dict[str, float] | None) -> str:
        if stats is None:
            return "n/a"
        return "PASS" if stats[self.stat] <= self.limit else "FAIL"


@dataclass(frozen=True)
class Derived:
    """A figure computed from several variants' times within one round."""

    key: str
    label: str
    needs: tuple[str, ...]
    compute: Callable[[dict[str, float]], float]
    unit: str  # "s", "ms", "MB", "B" (bytes) or "x"
    target: Target | None = None
    # The Sample field passed to `compute`: "seconds" (wall), "cpu_seconds", "peak_rss_mb" or
    # "reported" (the figure a reporting variant printed).
    measure: str = "seconds"


@dataclass(frozen=True)
class Scenario:
    name: str  # what --only takes: a letter, or e.g. "f100k" for an opt-in scenario
    title: str
    variants: tuple[str, ...]
    derived: tuple[Derived, ...] = ()
    targets: dict[str, Target] = field(default_factory=dict)
    default: bool = True  # False: only run when named in --only (too long for every run)


def _script(name: str, *args: str) -> tuple[str, ...]:
    return (str(SCENARIOS / name), *args)


def _dynamic_map(n: int, **options: Any) -> Variant:
    """Scenario (f) with N branches; the child prints the reducer's result, 3 * sum(range(N))."""
    return Variant(
        f"f.n{n}",
        f"f  dynamic map N={n:,}",
        _script("dynamic_map.py", str(n)),
        expect_stdout=str(3 * (n * (n - 1) // 2)),
        **options,
    )


def _fan_out_int(n: int) -> Variant:
    """Scenario (h): N branches that each return a small int, saved and recorded."""
    return Variant(
        f"h.int{n}",
        f"h  int-returning fan-out N={n:,}",
        _script("fan_out_int.py", str(n)),
        expect_stdout=str(n),
    )


def _dask_fan_out(n: int) -> Variant:
    """Scenario (h) baseline: the same shape in dask.delayed (threads), recording nothing."""
    return Variant(
        f"h.dask{n}",
        f"h  dask.delayed fan-out N={n:,} (baseline)",
        _script("dask_fan_out.py", str(n)),
        expect_stdout=str(n),
    )


def _per_step(low: str, high: str) -> Callable[[dict[str, float]], float]:
    """(T(1000) - T(100)) / 900 in ms, from two variants' times (wall or CPU) in one round."""
    return lambda t: (t[high] - t[low]) / 900 * 1000


def _per_step_ratio(ours: tuple[str, str], theirs: tuple[str, str]) -> Callable[..., float]:
    """Our per-step cost over the baseline's, both from the same round."""
    return lambda t: (t[ours[1]] - t[ours[0]]) / (t[theirs[1]] - t[theirs[0]])


VARIANTS: dict[str, Variant] = {
    v.key: v
    for v in (
        Variant("a.seed", "a  fan_out_fan_in example", (str(EXAMPLE),)),
        Variant("b.n100", "b  no-op fan-out N=100", _script("fan_out_noop.py", "100")),
        Variant("b.n1000", "b  no-op fan-out N=1000", _script("fan_out_noop.py", "1000")),
        Variant(
            "b.after100",
            "b  no-op fan-out N=100 (after=)",
            _script("fan_out_noop.py", "100", "--wiring", "after"),
        ),
        Variant(
            "b.after1000",
            "b  no-op fan-out N=1000 (after=)",
            _script("fan_out_noop.py", "1000", "--wiring", "after"),
        ),
        Variant(
            "c.local",
            "c  8 x sleep(1), local (parallel)",
            _script("sleep_branches.py", "local"),
            slow=True,
        ),
        Variant(
            "c.sequential",
            "c  8 x sleep(1), sequential",
            _script("sleep_branches.py", "sequential"),
            slow=True,
            warmup=False,
        ),
        Variant("d.pass", "d  python -c pass (baseline)", ("-c", "pass")),
        Variant("d.import", "d  python -c 'import fanflow'", ("-c", "import fanflow")),
        Variant(
            "e.api",
            "e  import step, pipeline, ..., Client",
            (
                "-c",
                "from fanflow import step, pipeline, get_step_context; "
                "from fanflow.client import Client",
            ),
        ),
        _dynamic_map(1000),
        # f.n1000 runs the same code first, so its warm-up serves this one too.
        _dynamic_map(10_000, slow=True, warmup=False),
        _dynamic_map(100_000, single=True, warmup=False, timeout=1800.0),
        _dynamic_map(1_000_000, single=True, warmup=False, timeout=4 * 3600.0),
        _fan_out_int(100),
        _fan_out_int(1000),
        _dask_fan_out(100),
        _dask_fan_out(1000),
        Variant(
            "k.one_step",
            "k  from fanflow import ...; run a one-step pipeline",
            _script("one_step.py"),
            expect_stdout="42",
        ),
        Variant(
            "k.sqlalchemy",
            "k  import sqlalchemy + its SQLite dialect (the floor)",
            ("-c", "import sqlalchemy, sqlalchemy.dialects.sqlite"),
        ),
        Variant(
            "m.n10000",
            "m  map of 10,000 under tracemalloc (its time is no figure)",
            _script("map_memory.py", "10000"),
            single=True,
            warmup=False,
            reports=True,
            timeout=1800.0,
        ),
        Variant(
            "m.n100000",
            "m  map of 100,000 under tracemalloc (its time is no figure)",
            _script("map_memory.py", "100000"),
            single=True,
            warmup=False,
            reports=True,
            timeout=4 * 3600.0,
        ),
        Variant(
            "g.chain1000",
            "g  chained map g.map(f.map(xs)) N=1,000",
            _script("chained_map.py", "1000"),
            expect_stdout=str(1000 * 999 // 2),
        ),
    )
}

SCENARIO_LIST: tuple[Scenario, ...] = (
    Scenario(
        "a",
        "seed example end to end",
        ("a.seed",),
        targets={"a.seed": Target(0.5, "<= 0.5 s")},
    ),
    Scenario(
        "b",
        "per-step overhead",
        ("b.n100", "b.n1000", "b.after100", "b.after1000"),
        derived=(
            Derived(
                "b.per_step_ms",
                "b  per-step overhead (T1000-T100)/900",
                ("b.n100", "b.n1000"),
                lambda t: (t["b.n1000"] - t["b.n100"]) / 900 * 1000,
                "ms",
                Target(1.0, "<= 1 ms"),
            ),
            Derived(
                "b.ratio",
                "b  T(1000)/T(100)",
                ("b.n100", "b.n1000"),
                lambda t: t["b.n1000"] / t["b.n100"],
                "x",
            ),
            Derived(
                "b.after_per_step_ms",
                "b  per-step overhead, after= wiring",
                ("b.after100", "b.after1000"),
                lambda t: (t["b.after1000"] - t["b.after100"]) / 900 * 1000,
                "ms",
            ),
        ),
    ),
    Scenario(
        "c",
        "parallel vs sequential sleeping branches",
        ("c.local", "c.sequential"),
        targets={"c.local": Target(1.2, "<= 1.2 s")},
        derived=(
            Derived(
                "c.ratio",
                "c  parallel / sequential",
                ("c.local", "c.sequential"),
                lambda t: t["c.local"] / t["c.sequential"],
                "x",
                Target(0.15, "<= 0.15"),
            ),
            Derived(
                "c.local_overhead",
                "c  parallel - 1 s of sleep",
                ("c.local",),
                lambda t: t["c.local"] - 1.0,
                "s",
            ),
            Derived(
                "c.sequential_overhead",
                "c  sequential - 8 s of sleep",
                ("c.sequential",),
                lambda t: t["c.sequential"] - 8.0,
                "s",
            ),
        ),
    ),
    Scenario(
        "d",
        "import fanflow",
        ("d.pass", "d.import"),
        targets={"d.import": Target(0.150, "<= 150 ms")},
        derived=(
            Derived(
                "d.import_cost",
                "d  import fanflow - python -c pass",
                ("d.pass", "d.import"),
                lambda t: t["d.import"] - t["d.pass"],
                "s",
            ),
        ),
    ),
    Scenario(
        "e",
        "import the public API (informative)",
        ("d.pass", "e.api"),
        derived=(
            Derived(
                "e.import_cost",
                "e  public API import - python -c pass",
                ("d.pass", "e.api"),
                lambda t: t["e.api"] - t["d.pass"],
                "s",
            ),
        ),
    ),
    Scenario(
        "f",
        "dynamic map over N items, then a reducer",
        ("f.n1000", "f.n10000"),
        derived=(
            Derived(
                "f.per_branch_1k_ms",
                "f  per branch, T(1k)/1000",
                ("f.n1000",),
                lambda t: t["f.n1000"] / 1000 * 1000,
                "ms",
                Target(1.5, "<= 1.5 ms"),
            ),
            Derived(
                "f.per_branch_10k_ms",
                "f  per branch, T(10k)/10000",
                ("f.n10000",),
                lambda t: t["f.n10000"] / 10_000 * 1000,
                "ms",
                Target(1.5, "<= 1.5 ms"),
            ),
            Derived(
                "f.ratio",
                "f  T(10k)/T(1k)",
                ("f.n1000", "f.n10000"),
                lambda t: t["f.n10000"] / t["f.n1000"],
                "x",
                Target(11.0, "<= 11"),
            ),
            Derived(
                "f.marginal_ms",
                "f  marginal per branch (T10k-T1k)/9000",
                ("f.n1000", "f.n10000"),
                lambda t: (t["f.n10000"] - t["f.n1000"]) / 9000 * 1000,
                "ms",
            ),
            Derived(
                "f.rss_10k",
                "f  peak RSS at N=10k (target on max)",
                ("f.n10000",),
                lambda r: r["f.n10000"],
                "MB",
                Target(500.0, "<= 500 MB", stat="max"),
                measure="peak_rss_mb",
            ),
        ),
    ),
    Scenario(
        "g",
        "chained maps g.map(f.map(xs)) (informative)",
        ("f.n1000", "g.chain1000"),
        derived=(
            Derived(
                "g.per_branch_ms",
                "g  per map branch, T(g)/2000",
                ("g.chain1000",),
                lambda t: t["g.chain1000"] / 2000 * 1000,
                "ms",
            ),
            Derived(
                "g.second_map_ms",
                "g  second map stage, (T(g)-T(f 1k))/1000",
                ("f.n1000", "g.chain1000"),
                lambda t: (t["g.chain1000"] - t["f.n1000"]) / 1000 * 1000,
                "ms",
            ),
        ),
    ),
    Scenario(
        "f100k",
        "dynamic map over 100,000 items (opt-in, one run), against N=10,000",
        ("f.n10000", "f.n100000"),
        targets={"f.n100000": Target(math.inf, "completes")},
        default=False,
        derived=(
            Derived(
                "f100k.per_branch_ms",
                "f100k  per branch, T(100k)/100000",
                ("f.n100000",),
                lambda t: t["f.n100000"] / 100_000 * 1000,
                "ms",
                Target(0.4, "<= 0.4 ms"),
            ),
            Derived(
                "f100k.per_branch_cpu_ms",
                "f100k  per branch, CPU(100k)/100000",
                ("f.n100000",),
                lambda t: t["f.n100000"] / 100_000 * 1000,
                "ms",
                Target(0.4, "<= 0.4 ms"),
                measure="cpu_seconds",
            ),
            Derived(
                "f100k.ratio",
                "f100k  T(100k)/T(10k)",
                ("f.n10000", "f.n100000"),
                lambda t: t["f.n100000"] / t["f.n10000"],
                "x",
                Target(10.5, "<= 10.5"),
            ),
            Derived(
                "f100k.cpu_ratio",
                "f100k  CPU(100k)/CPU(10k)",
                ("f.n10000", "f.n100000"),
                lambda t: t["f.n100000"] / t["f.n10000"],
                "x",
                Target(10.5, "<= 10.5"),
                measure="cpu_seconds",
            ),
        ),
    ),
    Scenario(
        "f1m",
        "dynamic map over 1,000,000 items (opt-in, one run; ~7 minutes here, ~3 GB of disk)",
        ("f.n1000000",),
        targets={"f.n1000000": Target(math.inf, "completes")},
        default=False,
        derived=(
            Derived(
                "f1m.rss",
                "f1m  peak RSS",
                ("f.n1000000",),
                lambda r: r["f.n1000000"],
                "MB",
                Target(1024.0, "<= 1 GB", stat="max"),
                measure="peak_rss_mb",
            ),
            Derived(
                "f1m.per_branch_cpu_ms",
                "f1m  per branch, CPU/1,000,000",
                ("f.n1000000",),
                lambda t: t["f.n1000000"] / 1_000_000 * 1000,
                "ms",
                measure="cpu_seconds",
            ),
        ),
    ),
    Scenario(
        "h",
        "static fan-out whose branches return a saved, recorded int; dask.delayed as baseline",
        ("h.int100", "h.int1000", "h.dask100", "h.dask1000", "b.n100", "b.n1000"),
        derived=(
            Derived(
                "h.per_step_cpu_ms",
                "h  per step, int saved+recorded, CPU",
                ("h.int100", "h.int1000"),
                _per_step("h.int100", "h.int1000"),
                "ms",
                Target(0.35, "<= 0.35 ms"),
                measure="cpu_seconds",
            ),
            Derived(
                "h.per_step_ms",
                "h  per step, int saved+recorded, wall",
                ("h.int100", "h.int1000"),
                _per_step("h.int100", "h.int1000"),
                "ms",
                Target(0.35, "<= 0.35 ms"),
            ),
            Derived(
                "h.dask_per_step_cpu_ms",
                "h  per step, dask.delayed threads, CPU",
                ("h.dask100", "h.dask1000"),
                _per_step("h.dask100", "h.dask1000"),
                "ms",
                measure="cpu_seconds",
            ),
            Derived(
                "h.dask_per_step_ms",
                "h  per step, dask.delayed threads, wall",
                ("h.dask100", "h.dask1000"),
                _per_step("h.dask100", "h.dask1000"),
                "ms",
            ),
            Derived(
                "h.vs_dask_cpu",
                "h  fanflow / dask per step, CPU",
                ("h.int100", "h.int1000", "h.dask100", "h.dask1000"),
                _per_step_ratio(("h.int100", "h.int1000"), ("h.dask100", "h.dask1000")),
                "x",
                Target(1.0, "<= 1.0"),
                measure="cpu_seconds",
            ),
            Derived(
                "h.vs_dask",
                "h  fanflow / dask per step, wall",
                ("h.int100", "h.int1000", "h.dask100", "h.dask1000"),
                _per_step_ratio(("h.int100", "h.int1000"), ("h.dask100", "h.dask1000")),
                "x",
                Target(1.0, "<= 1.0"),
            ),
            Derived(
                "h.none_per_step_cpu_ms",
                "h  per step, None-returning (b), CPU",
                ("b.n100", "b.n1000"),
                _per_step("b.n100", "b.n1000"),
                "ms",
                measure="cpu_seconds",
            ),
        ),
    ),
    Scenario(
        "k",
        "fixed cost: a one-step pipeline script over a bare interpreter",
        ("d.pass", "k.one_step", "k.sqlalchemy"),
        derived=(
            Derived(
                "k.sqlalchemy_cpu",
                "k  import sqlalchemy + sqlite dialect - python -c pass, CPU",
                ("d.pass", "k.sqlalchemy"),
                lambda t: t["k.sqlalchemy"] - t["d.pass"],
                "s",
                measure="cpu_seconds",
            ),
            Derived(
                "k.fixed_cost_cpu",
                "k  one-step script - python -c pass, CPU",
                ("d.pass", "k.one_step"),
                lambda t: t["k.one_step"] - t["d.pass"],
                "s",
                Target(0.25, "<= 250 ms"),
                measure="cpu_seconds",
            ),
            Derived(
                "k.fixed_cost",
                "k  one-step script - python -c pass, wall",
                ("d.pass", "k.one_step"),
                lambda t: t["k.one_step"] - t["d.pass"],
                "s",
                Target(0.25, "<= 250 ms"),
            ),
        ),
    ),
    Scenario(
        "m",
        "orchestrator memory per finished branch, tracemalloc, N=10,000 (opt-in, one run)",
        ("m.n10000",),
        default=False,
        derived=(
            Derived(
                "m.bytes_10k",
                "m  bytes per finished branch beyond the fan-in's inputs, N=10k",
                ("m.n10000",),
                lambda r: r["m.n10000"],
                "B",
                Target(300.0, "<= 300 B", stat="max"),
                measure="reported",
            ),
        ),
    ),
    Scenario(
        "m100k",
        "orchestrator memory per finished branch, tracemalloc, N=100,000 (opt-in, one run)",
        ("m.n100000",),
        default=False,
        derived=(
            Derived(
                "m100k.bytes",
                "m100k  bytes per finished branch beyond the fan-in's inputs, N=100k",
                ("m.n100000",),
                lambda r: r["m.n100000"],
                "B",
                Target(300.0, "<= 300 B", stat="max"),
                measure="reported",
            ),
        ),
    ),
)


# --- running one child ----------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float
    exit_code: int
    stderr_tail: str = ""
    error: str = ""  # why a run that exited 0 still does not count (timeout, wrong output)
    others_cpu: float | None = None  # CPU seconds used by everything but the child meanwhile
    # The child's own user + system CPU seconds (its descendants' too, once reaped). On a busy
    # machine this moves far less than wall time, so the per-step figures are also given in it.
    cpu_seconds: float = 0.0
    reported: float = math.nan  # the figure the child printed, for variants that report one

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.error

    def status(self) -> str:
        if self.error:
            return f"  FAILED: {self.error}"
        return "" if self.exit_code == 0 else f"  EXIT {self.exit_code}"


def enable_subreaper() -> bool:
    """Adopt orphaned descendants, so a trampolined child can be reaped (and measured) here."""
    if not sys.platform.startswith("linux") or not os.path.exists("/bin/sh"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def maxrss_mb(usage: Any) -> float:
    """`ru_maxrss` is KiB on Linux and bytes on macOS."""
    scale = 1 if sys.platform == "darwin" else 1024
    return usage.ru_maxrss * scale / (1024 * 1024)


def busy_cpu_seconds() -> float | None:
    """CPU time the whole machine has spent not idle since boot (Linux `/proc/stat`), or None.

    Read before and after a run; minus the child's own CPU time, it is what other processes
    (another job, a test suite, the hypervisor's `steal`) used meanwhile. Counted in clock
    ticks (10 ms), so it only means something summed over several runs or for long ones.
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def our_cpu_seconds() -> float:
    """CPU time of this driver plus every child it has reaped (the run, its trampoline)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + reaped.ru_utime + reaped.ru_stime


def child_env(home: str) -> dict[str, str]:
    """The caller's environment minus any FANFLOW_* setting, plus a fresh FANFLOW_HOME.

    A stray FANFLOW_ORCHESTRATOR or FANFLOW_MAX_PARALLELISM in the shell would silently change
    what is measured, so every run starts from the defaults. PYTHONDONTWRITEBYTECODE is dropped
    too: with it set, an editable install recompiles fanflow's sources in every process (about
    100 ms), which a user's installed fanflow never does; the warm-up run writes the `.pyc`
    files instead.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FANFLOW_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["FANFLOW_HOME"] = home
    return env


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def wait_for(pid: int, timeout: float) -> tuple[int, Any, bool]:
    """Reap `pid`, killing it first if it is still running after `timeout` seconds.

    Returns (wait status, rusage, timed out). Nothing polls on an interval, so the timing is not
    rounded up: with a pidfd (Linux 5.3+) the driver sleeps in poll() until the child exits or
    the time is up; elsewhere a timer thread kills the child while the driver blocks in
    waitid(WNOWAIT), which leaves the child unreaped (so its pid cannot be reused) until the
    timer has been disarmed.
    """
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
    if pidfd is not None:
        timed_out = False
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(math.ceil(timeout * 1000)):
                timed_out = True
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        finally:
            os.close(pidfd)
        _, status, usage = os.wait4(pid, 0)
        return status, usage, timed_out

    lock = threading.Lock()
    state = {"exited": False, "timed_out": False}

    def kill() -> None:
        with lock:
            if not state["exited"]:
                state["timed_out"] = True
                os.kill(pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    finally:
        with lock:
            state["exited"] = True
        timer.cancel()
    _, status, usage = os.wait4(pid, 0)
    return status, usage, state["timed_out"]


def reap_orphans() -> int:
    """Reap processes a run left behind that have exited since (this driver, as subreaper,
    adopts them). Returns how many; a run should leave none."""
    count = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return count
        if pid == 0:
            return count
        count += 1


def last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def run_once(
    python: str,
    variant: Variant,
    trampoline: bool,
    home_base: Path,
    timeout: float | None = None,
    remove: bool = True,
) -> Sample:
    """Start one fresh process with an empty FANFLOW_HOME; time it until it has been reaped.

    The run's directory (its working directory, FANFLOW_HOME, stdout and stderr files) is
    created under `home_base`, and removed afterwards if `remove` (otherwise the caller removes
    `home_base` when every run is over; see `fs_probe` for why).
    """
    limit = variant.timeout if timeout is None else timeout
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=home_base))
    out_path = run_dir / "stdout.txt"
    err_path = run_dir / "stderr.txt"
    command = [python, *variant.argv]
    try:
        with open(err_path, "wb") as err:
            env = child_env(str(run_dir / "home"))
            busy_before = busy_cpu_seconds()
            mine_before = our_cpu_seconds()
            start = time.perf_counter()
            if trampoline:
                shell = subprocess.Popen(
                    ["/bin/sh", "-c", TRAMPOLINE, "sh", str(out_path), *command],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    env=env,
                    cwd=run_dir,
                )
                out, _ = shell.communicate()
                if not out.strip().isdigit():  # the shell itself failed; nothing to reap
                    return Sample(time.perf_counter() - start, 0.0, -1, _tail(err_path))
                pid = int(out.strip())
            else:
                with open(out_path, "wb") as out_file:
                    child = subprocess.Popen(
                        command,
                        stdin=subprocess.DEVNULL,
                        stdout=out_file,
                        stderr=err,
                        env=env,
                        cwd=run_dir,
                    )
                pid = child.pid
            try:
                status, usage, timed_out = wait_for(pid, limit)
            except BaseException:
                os.kill(pid, signal.SIGKILL)
                os.wait4(pid, 0)
                raise
            elapsed = time.perf_counter() - start
            busy_after = busy_cpu_seconds()
            mine_after = our_cpu_seconds()
            if not trampoline:
                child.returncode = os.waitstatus_to_exitcode(status)
        code = os.waitstatus_to_exitcode(status)
        error = ""
        if timed_out:
            error = f"killed after the {limit:g} s timeout"
        elif code == 0 and variant.expect_stdout is not None:
            got = last_line(out_path)
            if got != variant.expect_stdout:
                error = f"printed {got[:60]!r}, expected {variant.expect_stdout!r}"
        reported = math.nan
        if code == 0 and not error and variant.reports:
            got = last_line(out_path)
            try:
                reported = float(got)
            except ValueError:
                error = f"printed {got[:60]!r}, expected a number"
        tail = _tail(err_path) if code or error else ""
        others = None
        if busy_before is not None and busy_after is not None:
            # Minus the child's, the trampoline shell's and this driver's own CPU time.
            others = max(0.0, busy_after - busy_before - (mine_after - mine_before))
        cpu = usage.ru_utime + usage.ru_stime
        return Sample(elapsed, maxrss_mb(usage), code, tail, error, others, cpu, reported)
    finally:
        if remove:
            shutil.rmtree(run_dir, ignore_errors=True)


def spread_subdirectories(directory: Path) -> bool:
    """Ask ext2/3/4 to place each new subdirectory of `directory` in a fresh block group.

    This sets the "top of directory hierarchy" flag (`chattr +T`): the file system then places
    each run's directory, like a directory created at the root, in a group with many free
    inodes and few directories, chosen from the directory's name (random here), and everything
    the run creates inside it goes to that group. So a run does not share inode groups with
    files deleted recently near the home base (see `fs_probe`), by other jobs or by earlier
    runs. Returns False where the flag is not supported (other file systems, not Linux).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import array
        import fcntl

        fs_ioc_getflags, fs_ioc_setflags, fs_topdir_fl = 0x80086601, 0x40086602, 0x00020000
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            flags = array.array("l", [0])
            fcntl.ioctl(fd, fs_ioc_getflags, flags, True)
            flags[0] |= fs_topdir_fl
            fcntl.ioctl(fd, fs_ioc_setflags, flags, True)
            fcntl.ioctl(fd, fs_ioc_getflags, flags, True)
            return bool(flags[0] & fs_topdir_fl)
        finally:
            os.close(fd)
    except (OSError, ImportError):
        return False


def fs_probe(base: Path, count: int = 200, dirs: int = 3) -> dict[str, float] | None:
    """Microseconds to create one directory holding one empty file under `base`.

    Timed in `dirs` fresh directories (each in an inode group of its own when `base` spreads
    its subdirectories), `count` creates each; returns the median and the slowest directory's
    mean.

    That is what storing one artifact costs the file system, so it shows whether the disk under
    the homes is in a state that inflates fanflow's figures. One known cause: ext4 without a
    journal will not reuse an inode deleted less than a minute ago (six minutes while the inode
    table block is not yet written back), and looks for a free inode by scanning its group from
    the start, past every such inode. After thousands of files were deleted in a group, each
    create there can cost ~1 ms of kernel CPU instead of ~25 us. Hence `spread_subdirectories`,
    and hence the runs' directories are removed at the end, not one by one. The probe's own
    files are not deleted here either.
    """
    means = []
    try:
        for _ in range(dirs):
            where = Path(tempfile.mkdtemp(prefix="probe-", dir=base))
            start = time.perf_counter()
            for i in range(count):
                sub = where / str(i)
                sub.mkdir()
                (sub / "f").touch()
            means.append((time.perf_counter() - start) / count * 1e6)
    except OSError:
        return None
    return {"median": statistics.median(means), "max": max(means)}


# --- summaries ------------------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def others_load(samples: Sequence[Sample]) -> float | None:
    """Average number of CPUs kept busy by other processes while these samples ran."""
    known = [s for s in samples if s.others_cpu is not None]
    wall = sum(s.seconds for s in known)
    if not known or wall <= 0:
        return None
    return sum(s.others_cpu or 0.0 for s in known) / wall


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if abs(value) >= 1 else f"{value * 1000:.1f} ms"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.3f}"


def fmt_probe(probe: dict[str, float] | None) -> str:
    if probe is None:
        return "n/a"
    return f"{probe['median']:.0f} us (slowest directory {probe['max']:.0f} us)"


def probe_slow(probe: dict[str, float] | None) -> bool:
    return probe is not None and probe["median"] > SLOW_FS_US


def fmt_load(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    for row in rows:
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def git_state() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not rev:
        return "unknown"
    return f"{rev} (src modified)" if dirty else rev


def child_python_version(python: str) -> str:
    """The children's interpreter version, which may differ from the driver's."""
    try:
        done = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# --- the driver -----------------------------------------------------------------------------------


def resolve_python(python: str) -> str:
    """An absolute interpreter path: children run in a temporary directory, so a relative one
    would not be found there. Symlinks are kept, since a virtualenv is recognised by them."""
    if os.sep in python:
        return os.path.abspath(python)
    found = shutil.which(python)
    return found or python


def default_python() -> str:
    """This interpreter, unless it cannot import fanflow (e.g. a system `python3`) and the
    project's virtualenv exists: then the virtualenv's, so the obvious command just works."""
    import importlib.util

    venv = ROOT / ".venv" / "bin" / "python"
    if importlib.util.find_spec("fanflow") is None and venv.exists():
        return str(venv)
    return sys.executable


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    names = [s.name for s in SCENARIO_LIST]
    defaults = [s.name for s in SCENARIO_LIST if s.default]
    opt_in = [s.name for s in SCENARIO_LIST if not s.default]
    parser = argparse.ArgumentParser(description="Whole-process benchmarks for fanflow.")
    parser.add_argument("--runs", type=int, default=7, help="measured rounds (default 7)")
    parser.add_argument(
        "--slow-runs",
        type=int,
        default=None,
        help="measured rounds for slow variants (c, f N=10k); default min(3, --runs)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (1)")
    parser.add_argument(
        "--only",
        default=",".join(defaults),
        help=f"comma-separated scenarios (default {','.join(defaults)}; "
        f"opt-in: {','.join(opt_in)})",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument(
        "--python",
        default=default_python(),
        help="interpreter for the children (default: this one, or .venv's if this one "
        "cannot import fanflow)",
    )
    parser.add_argument(
        "--home-base",
        type=Path,
        default=DEFAULT_HOME_BASE,
        help="directory under which each run's fresh FANFLOW_HOME is created "
        f"(default {DEFAULT_HOME_BASE.relative_to(ROOT)}/ in the repository)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="if the file system probe finds creating files slow, wait up to this many "
        "seconds, probing every 15 s, for it to recover before measuring (default 0: no wait)",
    )
    parser.add_argument(
        "--remove-each-run",
        action="store_true",
        help="remove each run's directory as soon as it has been measured, instead of all of "
        "them at the end (less disk space; see README for why this is not the default)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds before a run is killed and counted as failed (default "
        f"{DEFAULT_TIMEOUT:g}; 1800 for f100k)",
    )
    args = parser.parse_args(argv)
    args.python = resolve_python(args.python)
    args.home_base = args.home_base.expanduser().resolve()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.slow_runs is None:
        args.slow_runs = min(3, args.runs)
    if args.slow_runs < 1:
        parser.error("--slow-runs must be at least 1")
    if args.settle < 0:
        parser.error("--settle must not be negative")
    if args.timeout is not None and args.timeout <= 0:
        parser.error("--timeout must be positive")
    wanted = {part.strip() for part in args.only.split(",") if part.strip()}
    if not wanted or wanted - set(names):
        parser.error(f"--only takes names from {','.join(names)}")
    args.only = wanted
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [s for s in SCENARIO_LIST if s.name in args.only]
    keys: list[str] = []
    for scenario in scenarios:
        keys.extend(k for k in scenario.variants if k not in keys)

    def rounds(variant: Variant) -> int:
        if variant.single:
            return 1
        return args.slow_runs if variant.slow else args.runs

    rounds_for = {k: rounds(VARIANTS[k]) for k in keys}
    trampoline = enable_subreaper()
    created_base = not args.home_base.exists()
    args.home_base.mkdir(parents=True, exist_ok=True)
    # Every run's directory lives in this session directory, removed (with all of them) at the
    # end; see fs_probe for why runs are not removed one by one by default.
    session = Path(tempfile.mkdtemp(prefix="session-", dir=args.home_base))
    spread = spread_subdirectories(session)
    probe_before = fs_probe(session)
    settle_until = time.monotonic() + args.settle
    while probe_slow(probe_before) and time.monotonic() + 15 <= settle_until:
        print(
            f"file system probe: {fmt_probe(probe_before)} per mkdir + file create under "
            f"{args.home_base} (slow); waiting 15 s",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(15)
        probe_before = fs_probe(session)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def measure(key: str, what: str) -> Sample:
        variant = VARIANTS[key]
        if variant.single:
            log(f"  {what}  {key:<14} running (one run, may take minutes)")
        sample = run_once(
            args.python,
            variant,
            trampoline,
            session,
            args.timeout,
            remove=args.remove_each_run,
        )
        if trampoline and (orphans := reap_orphans()):
            log(f"  note: {key} left {orphans} exited descendant process(es) behind")
        log(
            f"  {what}  {key:<14} {sample.seconds:8.3f} s "
            f"{sample.peak_rss_mb:7.1f} MB{sample.status()}"
        )
        return sample

    python_version = child_python_version(args.python)
    load_before = load_average()
    started = dt.datetime.now(dt.timezone.utc)
    log(
        f"fanflow benchmarks: {len(keys)} variants, {args.runs} rounds "
        f"({args.slow_runs} for slow ones) after {args.warmup} warm-up; "
        f"homes under {args.home_base}; file system probe: {fmt_probe(probe_before)} "
        "per mkdir + file create"
    )

    samples: dict[str, list[Sample]] = {k: [] for k in keys}
    try:
        for w in range(args.warmup):
            for key in keys:
                if VARIANTS[key].warmup:
                    measure(key, f"warm-up {w + 1}")

        for r in range(max(rounds_for.values())):
            todo = [k for k in keys if r < rounds_for[k]]
            shift = r % len(todo)
            for key in todo[shift:] + todo[:shift]:  # rotate so no variant always goes first
                samples[key].append(measure(key, f"round {r + 1}"))
    finally:
        probe_after = fs_probe(session)
        shutil.rmtree(session, ignore_errors=True)
        # Write the freed inodes back now: ext4 without a journal then shuns them for one
        # minute instead of up to six, so a suite started soon after is not slowed down.
        if hasattr(os, "sync"):
            os.sync()
        if created_base:
            with contextlib.suppress(OSError):  # only if empty, and only if this run made it
                args.home_base.rmdir()
    load_after = load_average()
    overall_others = others_load([s for key in keys for s in samples[key]])

    # Per-variant rows.
    targets: dict[str, Target] = {}
    for scenario in scenarios:
        targets.update(scenario.targets)
    variant_rows = []
    variant_json: dict[str, Any] = {}
    for key in keys:
        good = [s for s in samples[key] if s.ok]
        times = [s.seconds for s in good]
        rss = [s.peak_rss_mb for s in good]
        stats = summary(times)
        failures = [s for s in samples[key] if not s.ok]
        target = targets.get(key)
        if target is None:
            verdict = "info"
        elif stats is None and failures:
            verdict = "FAIL"
        else:
            verdict = target.verdict(stats)
        if failures:
            verdict += f" ({len(failures)} failed)"
        variant_rows.append(
            [
                VARIANTS[key].label,
                fmt_value(stats["median"] if stats else None, "s"),
                fmt_value(stats["min"] if stats else None, "s"),
                fmt_value(stats["max"] if stats else None, "s"),
                fmt_value(statistics.median([s.cpu_seconds for s in good]) if good else None, "s"),
                str(len(good)),
                f"{max(rss):.1f}" if rss else "-",
                fmt_load(others_load(samples[key])),
                target.text if target else "-",
                verdict,
            ]
        )
        variant_json[key] = {
            "label": VARIANTS[key].label,
            "command": [args.python, *VARIANTS[key].argv],
            "expect_stdout": VARIANTS[key].expect_stdout,
            "seconds": [s.seconds for s in samples[key]],
            "peak_rss_mb": [s.peak_rss_mb for s in samples[key]],
            "cpu_seconds": [s.cpu_seconds for s in samples[key]],
            "reported": [s.reported for s in samples[key]] if VARIANTS[key].reports else None,
            "exit_codes": [s.exit_code for s in samples[key]],
            "errors": [s.error for s in samples[key]],
            "others_cpu_seconds": [s.others_cpu for s in samples[key]],
            "others_load": others_load(samples[key]),
            "summary_seconds": stats,
            "peak_rss_mb_max": max(rss) if rss else None,
            "target": {"limit_seconds": target.limit, "text": target.text} if target else None,
            "verdict": verdict,
            "stderr_of_failures": [s.stderr_tail for s in failures],
        }

    # Derived figures, paired within rounds.
    derived_rows = []
    derived_json: dict[str, Any] = {}
    for scenario in scenarios:
        for d in scenario.derived:
            per_round: list[float] = []
            paired = min(len(samples[k]) for k in d.needs)
            for r in range(paired):
                picked = {k: samples[k][r] for k in d.needs}
                if all(s.ok for s in picked.values()):
                    values = {k: float(getattr(s, d.measure)) for k, s in picked.items()}
                    per_round.append(d.compute(values))
            stats = summary(per_round)
            verdict = d.target.verdict(stats) if d.target else "info"
            derived_rows.append(
                [
                    d.label,
                    fmt_value(stats["median"] if stats else None, d.unit),
                    fmt_value(stats["min"] if stats else None, d.unit),
                    fmt_value(stats["max"] if stats else None, d.unit),
                    str(len(per_round)),
                    d.target.text if d.target else "-",
                    verdict,
                ]
            )
            derived_json[d.key] = {
                "label": d.label,
                "unit": d.unit,
                "measure": d.measure,
                "per_round": per_round,
                "summary": stats,
                "target": (
                    {"limit": d.target.limit, "text": d.target.text, "on": d.target.stat}
                    if d.target
                    else None
                ),
                "verdict": verdict,
            }

    header = [
        f"fanflow whole-process benchmarks  {started:%Y-%m-%d %H:%M:%S} UTC",
        f"python {python_version} ({args.python})  {platform.platform()}  "
        f"cpus={os.cpu_count()}  git={git_state()}",
        f"rounds: {args.runs} (slow: {args.slow_runs}"
        + ("; single-run variants: 1" if any(VARIANTS[k].single for k in keys) else "")
        + f") after {args.warmup} warm-up;  "
        f"load avg before: {load_before}  after: {load_after}",
        f"FANFLOW_HOME of each run: a fresh directory under {args.home_base}, "
        + ("removed after each run" if args.remove_each_run else "all removed after the last run")
        + (
            "; each in an inode group of its own (ext4 TOPDIR flag)"
            if spread
            else "; not spread over inode groups (TOPDIR flag not supported here)"
        ),
        f"file system probe, per mkdir + file create: {fmt_probe(probe_before)} before the "
        f"runs, {fmt_probe(probe_after)} after"
        + (
            "  SLOW: figures with many artifacts are inflated (see README)"
            if probe_slow(probe_before) or probe_slow(probe_after)
            else ""
        ),
        f"others (CPUs kept busy by other processes, average over all runs): "
        f"{fmt_load(overall_others)} of {os.cpu_count()}"
        + ("  CONTAMINATED: run again on a quiet machine" if (overall_others or 0) > 0.1 else ""),
        "peak RSS: "
        + (
            "the child's own (trampolined, reaped with os.wait4)"
            if trampoline
            else "upper bound (includes this driver's own peak)"
        ),
    ]
    print("\n".join(header))
    print()
    print(
        render_table(
            [
                "scenario",
                "median",
                "min",
                "max",
                "cpu (median)",
                "runs",
                "peak RSS MB",
                "others",
                "target",
                "verdict",
            ],
            variant_rows,
        )
    )
    if derived_rows:
        print()
        print(
            render_table(
                [
                    "derived (paired per round)",
                    "median",
                    "min",
                    "max",
                    "pairs",
                    "target",
                    "verdict",
                ],
                derived_rows,
            )
        )
    for key in keys:
        for s in samples[key]:
            if not s.ok:
                reason = s.error or f"exited {s.exit_code}"
                print(f"\n{key}: {reason}; end of its stderr:\n{s.stderr_tail}")
                break

    if args.json is not None:
        payload = {
            "started_utc": started.isoformat(),
            "python": args.python,
            "python_version": python_version,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "git": git_state(),
            "runs": args.runs,
            "slow_runs": args.slow_runs,
            "warmup": args.warmup,
            "home_base": str(args.home_base),
            "remove_each_run": args.remove_each_run,
            "fs_probe_us_before": probe_before,
            "fs_probe_us_after": probe_after,
            "runs_spread_over_inode_groups": spread,
            "scenarios": [s.name for s in scenarios],
            "load_average_before": load_before,
            "load_average_after": load_after,
            "others_load": overall_others,
            "rss_method": "trampoline+subreaper" if trampoline else "direct (upper bound)",
            "variants": variant_json,
            "derived": derived_json,
        }
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(payload, indent=2) + "\n")
        except OSError as exc:
            log(f"could not write {args.json}: {exc}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    sys.exit(0)
