"""Batch processing: a generated table of a million rows is split on a worker into a number of
chunks decided at run time, each chunk is transformed in its own branch, and a fan-in
concatenates the results. The orchestrating process never loads the table: its peak memory
stays the same whatever the table's size.

python examples/batch_processing/batch.py                           # 1,000,000 rows
python examples/batch_processing/batch.py --rows 50000 --chunk-rows 10000
python examples/batch_processing/batch.py --orchestrator local      # threads: data in-process
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from typing import Annotated

import numpy as np
import pandas as pd

from fanflow import pipeline, step, unmapped


@step
def generate(rows: int, seed: int = 0) -> Annotated[pd.DataFrame, "transactions"]:
    """A synthetic table of card transactions (stored as Parquet)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer": rng.integers(0, 50_000, rows),
            "amount": rng.gamma(2.0, 30.0, rows).round(2),
            "currency": rng.choice(np.array(["EUR", "USD", "GBP"]), rows),
            "hour": rng.integers(0, 24, rows),
        }
    )


@step
def split(table: pd.DataFrame, chunk_rows: int) -> list[pd.DataFrame]:
    """Runs on a worker: the number of chunks comes from the data, not from the pipeline."""
    count = max(1, math.ceil(len(table) / chunk_rows))
    return [table.iloc[i * chunk_rows : (i + 1) * chunk_rows] for i in range(count)]


@step
def transform(chunk: pd.DataFrame, rates: dict[str, float]) -> pd.DataFrame:
    """Per chunk: convert to EUR and flag night-time spending well above the chunk's median."""
    out = chunk.copy()
    out["amount_eur"] = out["amount"] * out["currency"].map(rates)
    threshold = 4 * out["amount_eur"].median()
    out["suspicious"] = (out["amount_eur"] > threshold) & (out["hour"] < 6)
    return out


@step
def concatenate(chunks: list[pd.DataFrame]) -> Annotated[pd.DataFrame, "processed"]:
    """The fan-in: every chunk's result, in chunk order."""
    return pd.concat(chunks, ignore_index=True)


@step
def summarize(processed: pd.DataFrame) -> Annotated[dict, "summary"]:
    return {
        "rows": len(processed),
        "total_eur": round(float(processed["amount_eur"].sum()), 2),
        "suspicious": int(processed["suspicious"].sum()),
        "table_mb": round(float(processed.memory_usage(deep=True).sum()) / 2**20, 1),
        "worker_peak_mb": round(peak_rss_mb(resource.RUSAGE_SELF)),
    }


@pipeline(dynamic=True, enable_cache=False)
def batch(rows: int = 1_000_000, chunk_rows: int = 100_000) -> None:
    table = generate(rows)
    chunks = split(table, chunk_rows)  # a step output holding a list: mapped without loading it
    processed = transform.map(chunks, rates=unmapped({"EUR": 1.0, "USD": 0.92, "GBP": 1.17}))
    summarize(concatenate(processed))


def peak_rss_mb(who: int) -> float:
    """Peak resident memory of this process (RUSAGE_SELF) or its largest child, in MiB."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--orchestrator", default="processes", help="processes or local")
    parser.add_argument("--workers", type=int, default=2, help="worker processes or threads")
    args = parser.parse_args()
    started = time.perf_counter()
    run = batch.with_options(orchestrator=args.orchestrator, max_parallelism=args.workers)(
        rows=args.rows, chunk_rows=args.chunk_rows
    )
    seconds = time.perf_counter() - started
    branches = sum(1 for s in run.steps.values() if s.step_name == "transform")
    summary = run.steps["summarize"].output.load()
    print(
        f"{summary['rows']:,} rows in {branches} chunks ({args.orchestrator}), {seconds:.1f} s: "
        f"{summary['suspicious']:,} suspicious, {summary['total_eur']:,.2f} EUR in total"
    )
    print(f"the processed table: {summary['table_mb']} MiB")
    print(f"peak memory, orchestrating process: {peak_rss_mb(resource.RUSAGE_SELF):.0f} MiB")
    if args.orchestrator == "processes":
        print(f"peak memory, the worker that summarized: {summary['worker_peak_mb']} MiB")


if __name__ == "__main__":
    main()
