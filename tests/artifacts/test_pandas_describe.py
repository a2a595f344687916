"""The quick `describe().to_csv()` of numeric DataFrames gives pandas' exact text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fanflow.artifacts.pandas_describe import _numeric_describe, describe_csv


def _random_frame(rng: np.random.Generator) -> pd.DataFrame:
    n = int(rng.integers(1, 40))
    columns = {}
    for j in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 4))
        if kind == 0:
            values = rng.integers(-(10**6), 10**6, n)
        elif kind == 1:
            values = rng.normal(0, 10.0 ** int(rng.integers(-5, 12)), n)
        elif kind == 2:
            values = rng.normal(size=n)
            values[rng.random(n) < 0.3] = np.nan
            values[0] = 1.5
        else:
            values = rng.integers(0, 3, n).astype(float) * 0.1
        columns['odd, "name"' if j == 1 else f"c{j}"] = values
    return pd.DataFrame(columns)


def test_numeric_frames_match_pandas_exactly() -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        frame = _random_frame(rng)
        fast = _numeric_describe(frame)
        assert fast is not None
        assert fast == frame.describe().to_csv()


def test_one_row_has_an_empty_std_like_pandas() -> None:
    frame = pd.DataFrame({"a": [3], "b": [np.nan]})
    assert describe_csv(frame) == frame.describe().to_csv()  # all-NaN `b`: pandas' own path
    single = pd.DataFrame({"a": [3.25]})
    assert _numeric_describe(single) == single.describe().to_csv()
    assert "\nstd,\n" in describe_csv(single)  # the row is there, its cell empty


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}),
        pd.DataFrame({"a": [True, False]}),
        pd.DataFrame({1: [1.0, 2.0]}),
        pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-02-01"])}),
        pd.DataFrame({"a": np.array([1, 2], dtype="int32")}),
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
    ],
)
def test_other_frames_go_to_pandas(frame: pd.DataFrame) -> None:
    assert _numeric_describe(frame) is None
    assert describe_csv(frame) == frame.describe().to_csv()


def test_a_series_goes_to_pandas() -> None:
    series = pd.Series([1.0, 2.0, 4.0], name="x")
    assert describe_csv(series) == series.describe().to_csv()
