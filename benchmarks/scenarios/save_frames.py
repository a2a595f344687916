"""Scenario: saving many small pandas DataFrames as step outputs.

One step returns 200 small DataFrames as 200 outputs of a map, so the cost of the pandas
materializer (Parquet, its round-trip check and the `describe()` visualization) shows in the
whole-process time. Prints how many frames were saved.

Usage: python save_frames.py
"""

from __future__ import annotations

import pandas as pd

from fanflow import pipeline, step

N = 200


@step
def make(i: int) -> pd.DataFrame:
    return pd.DataFrame({"a": [i, i + 1, i + 2], "b": [0.5, 1.5, 2.5]})


@pipeline(enable_cache=False)
def save_frames() -> None:
    make.map(list(range(N)))


if __name__ == "__main__":
    run = save_frames()
    print(len(run.steps))
