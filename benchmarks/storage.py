"""Storage benchmarks: PostgreSQL vs SQLite per-step overhead, and S3 per-artifact cost.

(m) Metadata: scenario (b), `fan_out_noop.py N` (each no-op step loads one small artifact and
    records a result), as whole fresh processes for N = --small and N = --large, once with the
    default SQLite store and once with `FANFLOW_METADATA_URL` on PostgreSQL (a fresh schema per
    run in a database made for the benchmark). Per-step overhead is (T(large) - T(small)) /
    (large - small), computed within each round, and the PostgreSQL/SQLite ratio is paired by
    round. Target: PostgreSQL <= 2x SQLite.
(s) S3: a moto S3 server on 127.0.0.1 (started here). Whole processes: the same scenario with
    `FANFLOW_ARTIFACT_ROOT` on S3 vs a local folder, paired by round; the difference per step is
    one artifact read plus one written. In-process: `save_value` and `load_value` of a small
    value, per artifact, on the local store, fsspec `memory://` and S3 (reported, no target).

Usage:
    python benchmarks/storage.py [--rounds 5] [--small 20] [--large 220] [--only m,s]
        [--postgres-url postgresql+psycopg://root@127.0.0.1:5432/test] [--artifacts 200]

Needs the `postgres` and `s3` extras and `moto[server]` (all in `dev`). The exit code is 0:
this reports figures, it does not gate anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from run import child_env  # this folder is on sys.path when a script here runs

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "benchmarks" / "scenarios" / "fan_out_noop.py"
BUCKET = "fanflow-bench"
KINDS = ("wall", "cpu", "run-phase")


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def timed_run(n: int, env_extra: dict[str, str], base: Path) -> tuple[float, float, float]:
    """Wall and CPU (user + system) seconds of one fresh process running the scenario, and the
    run's own duration as fanflow logs it (start-up, imports and shutdown left out)."""
    home = Path(tempfile.mkdtemp(dir=base))
    env = child_env(str(home / "home"))
    env.update(env_extra)
    errors = home / "stderr.txt"
    with open(errors, "w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            [python(), str(SCENARIO), str(n)],
            env=env,
            cwd=str(home),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    log = errors.read_text()
    shutil.rmtree(home, ignore_errors=True)
    if process.returncode != 0:
        raise RuntimeError(f"benchmark run failed: {log[-2000:]}")
    finished = re.findall(r"has finished in `([0-9.]+)s` with status", log)
    run_phase = float(finished[-1]) if finished else float("nan")
    return elapsed, usage.ru_utime + usage.ru_stime, run_phase


def summary(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    scaled = [v * scale for v in values]
    return (
        f"median {statistics.median(scaled):8.3f}{unit}  "
        f"min {min(scaled):8.3f}{unit}  max {max(scaled):8.3f}{unit}  (n={len(scaled)})"
    )


# --- PostgreSQL --------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[tuple[str, Any]]:
    import psycopg

    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"fanflow_bench_{os.getpid()}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"

    def fresh_schema() -> str:
        schema = f"s_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return f"{url}?options=-csearch_path%3D{schema}"

    try:
        yield url, fresh_schema
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_metadata(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    """Per-step cost on each backend from the difference of two widths, paired by round."""
    figures: dict[str, dict[str, list[float]]] = {
        kind: {"sqlite": [], "postgresql": []} for kind in KINDS
    }
    ratios: dict[str, list[float]] = {kind: [] for kind in KINDS}
    span = args.large - args.small
    with postgres_database(args.postgres_url) as (_, fresh_schema):
        backends = ["sqlite", "postgresql"]
        for warm in (True, False):  # one unmeasured round first
            for round_index in range(1 if warm else args.rounds):
                order = backends if round_index % 2 == 0 else backends[::-1]
                times: dict[tuple[str, int], tuple[float, float, float]] = {}
                for n in (args.small, args.large):  # interleaved: drift hits both backends
                    for backend in order:
                        extra = (
                            {"FANFLOW_METADATA_URL": fresh_schema()}
                            if backend == "postgresql"
                            else {}
                        )
                        times[backend, n] = timed_run(n, extra, base)
                if warm:
                    continue
                for index, kind in enumerate(KINDS):
                    costs = {
                        b: (times[b, args.large][index] - times[b, args.small][index]) / span
                        for b in backends
                    }
                    for backend, cost in costs.items():
                        figures[kind][backend].append(cost)
                    ratios[kind].append(costs["postgresql"] / costs["sqlite"])
                print(
                    f"  round {round_index + 1}: "
                    + ", ".join(f"{k[0]} N={k[1]} {v[0]:.2f} s" for k, v in times.items()),
                    file=sys.stderr,
                )
    print(f"(m) per-step overhead, fan_out_noop N={args.small} vs N={args.large}")
    for kind in KINDS:
        for backend in ("sqlite", "postgresql"):
            print(f"    {kind:9} {backend:10}  {summary(figures[kind][backend], 1e3, ' ms')}")
        print(f"    {kind:9} ratio pg/sqlite (paired) {summary(ratios[kind])}")
    sqlite_wall = statistics.median(figures["wall"]["sqlite"])
    wall_ratio = statistics.median(ratios["wall"])
    if sqlite_wall <= 0 or wall_ratio <= 0:
        verdict = "INCONCLUSIVE (the machine was too noisy for a wall-time difference)"
    else:
        verdict = "PASS" if wall_ratio <= 2.0 else "FAIL"
    print(
        f"    target: wall ratio <= 2.0: {verdict} (cpu counts the client process only; "
        "run-phase is the run's own logged duration)"
    )
    return {"per_step_s": figures, "ratio": ratios}


# --- S3 ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def moto_server() -> Iterator[dict[str, Any]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [python(), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto did not start") from None
                time.sleep(0.1)
        options = {
            "key": "bench",
            "secret": "bench",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=BUCKET)
        yield options
    finally:
        process.terminate()
        process.wait(timeout=10)


def per_artifact_in_process(store: Any, count: int) -> tuple[list[float], list[float]]:
    from fanflow.artifacts.io import load_value, save_value

    writes, reads = [], []
    value = {"score": 0.5, "labels": ["a", "b"], "n": 3}
    for index in range(count):
        uri = store.uri_for("bench", str(index), uuid.uuid4().hex)
        started = time.perf_counter()
        saved = save_value(value, store, uri)
        writes.append(time.perf_counter() - started)
        started = time.perf_counter()
        load_value(saved.uri, saved.materializer, saved.data_type, store)
        reads.append(time.perf_counter() - started)
    return writes, reads


def bench_s3(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    from fanflow.artifacts.store import artifact_store_for

    results: dict[str, Any] = {}
    with moto_server() as options:
        print(f"(s) per artifact in one process ({args.artifacts} small values each)")
        stores = {
            "local": artifact_store_for(str(base / "local-artifacts")),
            "memory": artifact_store_for(f"memory://bench/{uuid.uuid4().hex}"),
            "s3 (moto)": artifact_store_for(f"s3://{BUCKET}/{uuid.uuid4().hex}", options),
        }
        for label, store in stores.items():
            per_artifact_in_process(store, 5)  # warm up: imports, connections
            writes, reads = per_artifact_in_process(store, args.artifacts)
            results[label] = {"write_s": writes, "read_s": reads}
            print(f"    {label:10} write {summary(writes, 1e3, ' ms')}")
            print(f"    {label:10} read  {summary(reads, 1e3, ' ms')}")

        extra_s3 = {
            "FANFLOW_ARTIFACT_STORAGE_OPTIONS": json.dumps(options),
        }
        differences: list[float] = []
        for warm in (True, False):
            for round_index in range(1 if warm else args.rounds):
                root = f"s3://{BUCKET}/{uuid.uuid4().hex}"
                s3, _, _ = timed_run(
                    args.small * 5, {**extra_s3, "FANFLOW_ARTIFACT_ROOT": root}, base
                )
                local, _, _ = timed_run(args.small * 5, {}, base)
                if not warm:
                    differences.append((s3 - local) / (args.small * 5))
                    print(
                        f"  round {round_index + 1}: s3 {s3:.2f} s, local {local:.2f} s",
                        file=sys.stderr,
                    )
        print(
            f"(s) whole process, fan_out_noop N={args.small * 5}: S3 minus local, per step "
            "(one artifact read + one written)"
        )
        print(f"    {summary(differences, 1e3, ' ms')}")
        results["whole_process_extra_per_step_s"] = differences
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=220)
    parser.add_argument("--artifacts", type=int, default=200)
    parser.add_argument("--only", default="m,s")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FANFLOW_BENCH_POSTGRES_URL")
        or "postgresql+psycopg://root@127.0.0.1:5432/test",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    base = Path(tempfile.mkdtemp(prefix="fanflow-storage-bench-"))
    payload: dict[str, Any] = {}
    try:
        if "m" in chosen:
            payload["metadata"] = bench_metadata(args, base)
        if "s" in chosen:
            payload["s3"] = bench_s3(args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
