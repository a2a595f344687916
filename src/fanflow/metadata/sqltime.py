"""Step durations in SQL, one expression per dialect, for the reads and the index serving them.

`seconds_between(start, end)` appears both in the reads of `summaries.py` (a map group's branches
sorted by duration, their p50 and max) and in `schema.ix_step_runs_group_duration`, an index on
that very expression. SQLite uses an index on an expression only for a query naming the same
expression, so both build it from here; the migration that created the index wrote its text out
(`r0006_dashboard_indexes.DURATION_SQL`), and a test holds the two equal: changing the expression
needs a new migration.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class epoch_seconds(FunctionElement[float]):
    """Seconds since 1970 of a DateTime column, as a float."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # SQLite's date functions keep milliseconds only (and round to them), while branch durations
    # are often shorter: whole seconds of the text's first 19 characters (rounded, so exact),
    # plus the stored text's own fraction (".ffffff" from character 20).
    (arg,) = list(element.clauses)
    value = compiler.process(arg, **kw)
    return (
        f"(ROUND((julianday(substr({value}, 1, 19)) - 2440587.5) * 86400.0)"
        f" + CAST(substr({value}, 20) AS REAL))"
    )


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"EXTRACT(EPOCH FROM {compiler.process(arg, **kw)})"


class seconds_between(FunctionElement[float]):
    """`end - start` in seconds (float), exact to the microsecond."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # Most branches start and end within one minute: then the difference of the "SS.ffffff"
    # tails is the answer, with no date parsing (sorting 100,000 durations is mostly this).
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    fallback = compiler.process(epoch_seconds(element.clauses.clauses[1]), **kw)
    fallback_start = compiler.process(epoch_seconds(element.clauses.clauses[0]), **kw)
    return (
        f"(CASE WHEN substr({end}, 1, 16) = substr({start}, 1, 16)"
        f" THEN CAST(substr({end}, 18) AS REAL) - CAST(substr({start}, 18) AS REAL)"
        f" ELSE {fallback} - {fallback_start} END)"
    )


@compiles(seconds_between, "postgresql")
def _between_postgresql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})))"
