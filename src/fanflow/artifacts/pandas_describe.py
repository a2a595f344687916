"""`DataFrame.describe().to_csv()`, the pandas materializer's visualization, computed quickly.

pandas' `describe()` costs about 2 ms even for a three-row frame (it builds a Series per column
and concatenates them), which would make saving many small DataFrames half again as slow. For
the common case — every column `int64` or `float64`, string column labels — the same table is
computed here with NumPy, mirroring pandas' own algorithms (`nanops.nanmean`/`nanvar`, linear
`np.percentile` over the non-missing values) and its CSV formatting, so the text is identical;
`tests/artifacts/test_pandas_describe.py` checks that against pandas on generated frames.
Anything else (other dtypes, a column that is all missing, bottleneck in use) goes to pandas.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
from typing import Any

ROWS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


@functools.cache
def _bottleneck_present() -> bool:
    # pandas computes mean/std/min/max with bottleneck when it is installed: then only pandas
    # itself gives pandas' exact digits.
    return importlib.util.find_spec("bottleneck") is not None


def describe_csv(data: Any) -> str:
    """The CSV text of `data.describe()` (a DataFrame or Series), as pandas writes it."""
    fast = _numeric_describe(data)
    return fast if fast is not None else data.describe().to_csv()


def _column_stats(values: Any) -> list[float] | None:
    import numpy as np

    if values.dtype.kind == "f":
        mask = np.isnan(values)
        count = int(values.size - mask.sum())
        if count == 0:
            return None
        filled = np.where(mask, 0.0, values) if count != values.size else values
        present = values[~mask] if count != values.size else values
    else:
        mask = None
        count = int(values.size)
        filled = values.astype(np.float64)
        present = values
    mean = filled.sum(dtype=np.float64) / count
    if count > 1:
        squares = (mean - filled) ** 2
        if mask is not None:
            np.putmask(squares, mask, 0)
        std = float(np.sqrt(squares.sum(dtype=np.float64) / (count - 1)))
    else:
        std = float("nan")
    q25, q50, q75 = np.percentile(present, [25.0, 50.0, 75.0])
    return [
        float(count),
        float(mean),
        std,
        float(present.min()),
        float(q25),
        float(q50),
        float(q75),
        float(present.max()),
    ]


def _numeric_describe(data: Any) -> str | None:
    import numpy as np
    import pandas as pd

    if type(data) is not pd.DataFrame or len(data) == 0:
        return None
    if pd.get_option("compute.use_bottleneck") and _bottleneck_present():
        return None
    columns = data.columns
    if type(columns) is not pd.Index or len(columns) == 0:
        return None
    if not all(isinstance(label, str) for label in columns):
        return None
    table: list[list[float]] = []
    for position in range(len(columns)):
        column = data.iloc[:, position]
        if column.dtype not in (np.dtype("int64"), np.dtype("float64")):
            return None
        stats = _column_stats(column.to_numpy())
        if stats is None:
            return None
        table.append(stats)
    cells = np.array(table, dtype=np.float64).T  # rows: the statistics; columns: the columns
    text = cells.astype(str)
    text[np.isnan(cells)] = ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["", *columns])
    for name, row in zip(ROWS, text.tolist(), strict=True):
        writer.writerow([name, *row])
    return out.getvalue()
