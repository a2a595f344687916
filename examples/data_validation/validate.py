"""Data validation across sources: every CSV and Parquet file in a folder is validated in its own
branch; a bad source fails only its branch, and one report step receives the partial results
(a `MapResults`) and names the sources that failed.

python examples/data_validation/validate.py                         # 12 generated sources, 5 bad
python examples/data_validation/validate.py --sources 40 --bad 5 --rows 50000
python examples/data_validation/validate.py --data-dir my_exports   # your own files
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd

from fanflow import pipeline, step

REQUIRED = {"order_id": "int64", "customer": "int64", "amount": "float64", "country": "object"}

# What goes wrong with exported files, one kind per bad source.
PROBLEMS = ["missing column", "duplicate ids", "negative amounts", "empty ids", "not a table"]


def make_sources(folder: Path, count: int, bad: int, rows: int) -> None:
    """Write `count` sources, alternating CSV and Parquet; `bad` of them have one problem each."""
    rng = np.random.default_rng(7)
    bad_at = set(np.linspace(1, count - 1, bad, dtype=int).tolist()) if bad else set()
    for i in range(count):
        start = i * rows
        table = pd.DataFrame(
            {
                "order_id": np.arange(start, start + rows, dtype="int64"),
                "customer": rng.integers(0, 10_000, rows),
                "amount": rng.gamma(2.0, 25.0, rows).round(2),
                "country": rng.choice(np.array(["DE", "FR", "NL", "US"]), rows),
            }
        )
        problem = PROBLEMS[sorted(bad_at).index(i) % len(PROBLEMS)] if i in bad_at else None
        suffix = "parquet" if i % 2 else "csv"
        path = folder / f"export_{i:03d}.{suffix}"
        if problem == "not a table":
            path.write_bytes(b"\x00\x01 this file was cut off mid-transfer")
            continue
        if problem == "missing column":
            table = table.drop(columns=["country"])
        elif problem == "duplicate ids":
            table.loc[rows // 2 :, "order_id"] = start
        elif problem == "negative amounts":
            table.loc[: rows // 10, "amount"] *= -1
        elif problem == "empty ids":
            table["order_id"] = table["order_id"].astype("Int64")
            table.loc[: rows // 20, "order_id"] = pd.NA
        if suffix == "csv":
            table.to_csv(path, index=False)
        else:
            table.to_parquet(path, index=False)


@step
def discover(data_dir: str) -> list[str]:
    """The sources to check, found at run time: the fan-out's width comes from the folder."""
    folder = Path(data_dir)
    return sorted(str(p) for p in folder.iterdir() if p.suffix in {".csv", ".parquet"})


@step(allow_failures=True)
def validate(source: str) -> Annotated[dict, "profile"]:
    """One source: read it, check schema and rules, and return its profile or raise."""
    path = Path(source)
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as error:
        raise ValueError(f"{path.name}: cannot be read as {path.suffix[1:]}: {error}") from error
    missing = sorted(set(REQUIRED) - set(table.columns))
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {missing}")
    problems = []
    if table["order_id"].isna().any():
        problems.append(f"{int(table['order_id'].isna().sum())} rows without order_id")
    if table["order_id"].duplicated().any():
        problems.append(f"{int(table['order_id'].duplicated().sum())} duplicate order_id values")
    if (table["amount"] < 0).any():
        problems.append(f"{int((table['amount'] < 0).sum())} negative amounts")
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    return {
        "source": path.name,
        "rows": len(table),
        "amount": round(float(table["amount"].sum()), 2),
    }


@step
def report(profiles: list[dict], sources: list[str]) -> Annotated[dict, "report"]:
    """The fan-in of a map that allows failures gets a `fanflow.MapResults`: the profiles of the
    branches that passed, in branch order, and `.failed_indices` naming the others."""
    failed = [Path(sources[i]).name for i in profiles.failed_indices]  # type: ignore[attr-defined]
    return {
        "passed": [profile["source"] for profile in profiles],
        "failed": failed,
        "rows": sum(profile["rows"] for profile in profiles),
    }


@pipeline(dynamic=True, enable_cache=False)
def validate_sources(data_dir: str) -> None:
    sources = discover(data_dir)
    profiles = validate.map(sources)
    report(profiles, sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="validate these files instead of generated ones")
    parser.add_argument("--sources", type=int, default=12)
    parser.add_argument("--bad", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--orchestrator", default="local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = scratch
            make_sources(Path(scratch), args.sources, args.bad, args.rows)
        run = validate_sources.with_options(orchestrator=args.orchestrator)(data_dir=data_dir)
        result = run.steps["report"].output.load()
    print(
        f"{len(result['passed'])} sources passed ({result['rows']:,} rows), "
        f"{len(result['failed'])} failed: {', '.join(result['failed']) or '-'}"
    )
    failed = [s for s in run.steps.values() if s.step_name == "validate" and s.status == "failed"]
    for step_run in sorted(failed, key=lambda s: s.map_index):
        print(f"  {step_run.name}: {step_run.exception_info.message}")
    ratio = run.run_metadata.get("map_success_ratio")
    print(f"run status: {run.status.value}, share of sources that passed: {ratio}")


if __name__ == "__main__":
    main()
