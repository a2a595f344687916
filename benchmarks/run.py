"""Whole-process benchmarks for fanflow: wall time and peak RSS of fresh `python` processes.

Why whole processes: what a user waits for is `python my_pipeline.py` from start to exit, which
includes interpreter start-up, imports, creating the store, tracing, running and shutting down.
Timing a function inside a warm interpreter hides most of that, so every measurement here is a
fresh child process with a fresh, empty FANFLOW_HOME.

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

The exit code is always 0: this reports figures, it does not gate anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "benchmarks" / "scenarios"
EXAMPLE = ROOT / "examples" / "fan_out_fan_in.py"

# Backgrounds the real command (stdout discarded, stderr inherited) and prints its pid, then
# exits, so the command's parent is a freshly exec'd shell, not this (larger) driver.
TRAMPOLINE = '"$@" </dev/null >/dev/null & echo $!'
PR_SET_CHILD_SUBREAPER = 36


# --- what to run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One command line that is timed, once per round."""

    key: str
    label: str
    argv: tuple[str, ...]  # arguments after the interpreter
    slow: bool = False  # slow variants default to fewer rounds (--slow-runs)
    warmup: bool = True  # False when another variant already warms the same code


@dataclass(frozen=True)
class Target:
    """An upper bound on a median, with the text printed in the table."""

    limit: float
    text: str

    def verdict(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        return "PASS" if value <= self.limit else "FAIL"


@dataclass(frozen=True)
class Derived:
    """A figure computed from several variants' times within one round."""

    key: str
    label: str
    needs: tuple[str, ...]
    compute: Callable[[dict[str, float]], float]
    unit: str  # "s", "ms" or "x"
    target: Target | None = None


@dataclass(frozen=True)
class Scenario:
    letter: str
    title: str
    variants: tuple[str, ...]
    derived: tuple[Derived, ...] = ()
    targets: dict[str, Target] = field(default_factory=dict)


def _script(name: str, *args: str) -> tuple[str, ...]:
    return (str(SCENARIOS / name), *args)


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
)


# --- running one child ----------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float
    exit_code: int
    stderr_tail: str = ""


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


def child_env(home: str) -> dict[str, str]:
    """The caller's environment minus any FANFLOW_* setting, plus a fresh FANFLOW_HOME.

    A stray FANFLOW_ORCHESTRATOR or FANFLOW_MAX_PARALLELISM in the shell would silently change
    what is measured, so every run starts from the defaults.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FANFLOW_")}
    env["FANFLOW_HOME"] = home
    return env


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def run_once(python: str, argv: Sequence[str], trampoline: bool) -> Sample:
    """Start one fresh process with an empty FANFLOW_HOME; time it until it has been reaped."""
    home = tempfile.mkdtemp(prefix="fanflow-bench-")
    err_path = Path(home) / "stderr.txt"
    command = [python, *argv]
    try:
        with open(err_path, "wb") as err:
            env = child_env(str(Path(home) / "home"))
            start = time.perf_counter()
            if trampoline:
                shell = subprocess.Popen(
                    ["/bin/sh", "-c", TRAMPOLINE, "sh", *command],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    env=env,
                    cwd=home,
                )
                out, _ = shell.communicate()
                if not out.strip().isdigit():  # the shell itself failed; nothing to reap
                    return Sample(time.perf_counter() - start, 0.0, -1, _tail(err_path))
                pid = int(out.strip())
            else:
                child = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                    cwd=home,
                )
                pid = child.pid
            try:
                _, status, usage = os.wait4(pid, 0)
            except BaseException:
                os.kill(pid, signal.SIGKILL)
                os.wait4(pid, 0)
                raise
            elapsed = time.perf_counter() - start
            if not trampoline:
                child.returncode = os.waitstatus_to_exitcode(status)
        code = os.waitstatus_to_exitcode(status)
        return Sample(elapsed, maxrss_mb(usage), code, _tail(err_path) if code else "")
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- summaries ------------------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if abs(value) >= 1 else f"{value * 1000:.1f} ms"
    if unit == "ms":
        return f"{value:.3f} ms"
    return f"{value:.3f}"


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
    parser = argparse.ArgumentParser(description="Whole-process benchmarks for fanflow.")
    parser.add_argument("--runs", type=int, default=7, help="measured rounds (default 7)")
    parser.add_argument(
        "--slow-runs",
        type=int,
        default=None,
        help="measured rounds for slow scenarios (c); default min(3, --runs)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (1)")
    parser.add_argument(
        "--only", default="a,b,c,d,e", help="comma-separated scenario letters (default all)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument(
        "--python",
        default=default_python(),
        help="interpreter for the children (default: this one, or .venv's if this one "
        "cannot import fanflow)",
    )
    args = parser.parse_args(argv)
    args.python = resolve_python(args.python)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.slow_runs is None:
        args.slow_runs = min(3, args.runs)
    if args.slow_runs < 1:
        parser.error("--slow-runs must be at least 1")
    wanted = {part.strip() for part in args.only.split(",") if part.strip()}
    known = {s.letter for s in SCENARIO_LIST}
    if not wanted or wanted - known:
        parser.error(f"--only takes letters from {','.join(sorted(known))}")
    args.only = wanted
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [s for s in SCENARIO_LIST if s.letter in args.only]
    keys: list[str] = []
    for scenario in scenarios:
        keys.extend(k for k in scenario.variants if k not in keys)
    rounds_for = {k: args.slow_runs if VARIANTS[k].slow else args.runs for k in keys}
    trampoline = enable_subreaper()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    python_version = child_python_version(args.python)
    load_before = load_average()
    started = dt.datetime.now(dt.timezone.utc)
    log(
        f"fanflow benchmarks: {len(keys)} variants, {args.runs} rounds "
        f"({args.slow_runs} for slow ones) after {args.warmup} warm-up"
    )

    for w in range(args.warmup):
        for key in keys:
            if not VARIANTS[key].warmup:
                continue
            sample = run_once(args.python, VARIANTS[key].argv, trampoline)
            status = "" if sample.exit_code == 0 else f"  EXIT {sample.exit_code}"
            log(f"  warm-up {w + 1}  {key:<14} {sample.seconds:8.3f} s{status}")

    samples: dict[str, list[Sample]] = {k: [] for k in keys}
    for r in range(max(rounds_for.values())):
        todo = [k for k in keys if r < rounds_for[k]]
        shift = r % len(todo)
        for key in todo[shift:] + todo[:shift]:  # rotate so no variant always goes first
            sample = run_once(args.python, VARIANTS[key].argv, trampoline)
            samples[key].append(sample)
            status = "" if sample.exit_code == 0 else f"  EXIT {sample.exit_code}"
            log(
                f"  round {r + 1}  {key:<14} {sample.seconds:8.3f} s "
                f"{sample.peak_rss_mb:7.1f} MB{status}"
            )
    load_after = load_average()

    def ok_times(key: str) -> list[float]:
        return [s.seconds for s in samples[key] if s.exit_code == 0]

    # Per-variant rows.
    targets: dict[str, Target] = {}
    for scenario in scenarios:
        targets.update(scenario.targets)
    variant_rows = []
    variant_json: dict[str, Any] = {}
    for key in keys:
        times = ok_times(key)
        rss = [s.peak_rss_mb for s in samples[key] if s.exit_code == 0]
        stats = summary(times)
        failures = [s for s in samples[key] if s.exit_code != 0]
        target = targets.get(key)
        verdict = target.verdict(stats["median"] if stats else None) if target else "info"
        if failures:
            verdict += f" ({len(failures)} failed)"
        variant_rows.append(
            [
                VARIANTS[key].label,
                fmt_value(stats["median"] if stats else None, "s"),
                fmt_value(stats["min"] if stats else None, "s"),
                fmt_value(stats["max"] if stats else None, "s"),
                f"{max(rss):.1f}" if rss else "-",
                target.text if target else "-",
                verdict,
            ]
        )
        variant_json[key] = {
            "label": VARIANTS[key].label,
            "command": [args.python, *VARIANTS[key].argv],
            "seconds": [s.seconds for s in samples[key]],
            "peak_rss_mb": [s.peak_rss_mb for s in samples[key]],
            "exit_codes": [s.exit_code for s in samples[key]],
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
            rounds = min(len(samples[k]) for k in d.needs)
            for r in range(rounds):
                picked = {k: samples[k][r] for k in d.needs}
                if all(s.exit_code == 0 for s in picked.values()):
                    per_round.append(d.compute({k: s.seconds for k, s in picked.items()}))
            stats = summary(per_round)
            verdict = d.target.verdict(stats["median"] if stats else None) if d.target else "info"
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
                "per_round": per_round,
                "summary": stats,
                "target": {"limit": d.target.limit, "text": d.target.text} if d.target else None,
                "verdict": verdict,
            }

    header = [
        f"fanflow whole-process benchmarks  {started:%Y-%m-%d %H:%M:%S} UTC",
        f"python {python_version} ({args.python})  {platform.platform()}  "
        f"cpus={os.cpu_count()}  git={git_state()}",
        f"rounds: {args.runs} (slow: {args.slow_runs}) after {args.warmup} warm-up;  "
        f"load avg before: {load_before}  after: {load_after}",
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
            ["scenario", "median", "min", "max", "peak RSS MB", "target", "verdict"],
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
            if s.exit_code != 0:
                print(f"\n{key} exited {s.exit_code}; end of its stderr:\n{s.stderr_tail}")
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
            "load_average_before": load_before,
            "load_average_after": load_after,
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
