"""Many rows through one prepared statement, with SQLAlchemy's per-row work done once.

A turn of the orchestrator writes a few rows per finished step (its status, its outputs' versions
and links), and on a wide map of tiny steps that write is most of what the orchestrating thread
does. `Connection.execute(statement, rows)` re-derives, for every row, the parameter dictionary
the compiled statement needs and looks up each value's type processor; on SQLite that per-row
bookkeeping costs more than SQLite's own work on the row.

`execute_many` compiles a statement once per set of keys (cached), keeps its positional parameter
order and the bind processors SQLAlchemy itself would apply (dates as SQLite text, JSON through
the engine's serializer, custom types' `process_bind_param`), turns each row into a tuple and
hands the lot to `exec_driver_sql`. It stays inside SQLAlchemy's connection (same transaction,
events and error wrapping: a duplicate key is still an `IntegrityError`), so there is one query
layer. Anything the shortcut does not cover falls back to `Connection.execute`: other dialects
(PostgreSQL's driver batches inserts its own way), statements whose columns have Python-side
defaults, and parameters expanded at execution time.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable

Processor = Callable[[Any], Any] | None
Plan = tuple[str, list[tuple[str, Processor]]]
# Per dialect (its processors use the engine's JSON serializer), per (statement, keys of its
# rows): the SQL text and the (row key, processor) of each positional parameter, or None.
_plans: weakref.WeakKeyDictionary[Dialect, dict[tuple[Any, tuple[str, ...]], Plan | None]] = (
    weakref.WeakKeyDictionary()
)


def execute_many(conn: Connection, statement: Executable, rows: Sequence[dict[str, Any]]) -> None:
    """Execute `statement` once per row of `rows` (dicts with the same keys, in one order)."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "sqlite":
        conn.execute(statement, list(rows))
        return
    keys = tuple(rows[0])
    plans = _plans.get(dialect)
    if plans is None:
        plans = _plans[dialect] = {}
    try:
        plan = plans[statement, keys]
    except KeyError:
        plan = plans[statement, keys] = _plan(statement, keys, dialect)
    if plan is None:
        conn.execute(statement, list(rows))
        return
    sql, order = plan
    conn.exec_driver_sql(
        sql,
        [tuple([row[k] if p is None else p(row[k]) for k, p in order]) for row in rows],
    )


def _plan(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Plan | None:
    """The SQL text and the (key, processor) of each positional parameter, or None where the
    statement needs SQLAlchemy's per-execution work (defaults computed in Python, parameters
    expanded or rendered at execution)."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if compiled.positiontup is None or dialect.paramstyle != "qmark":
        return None
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None
    names = list(compiled.positiontup)
    if any(name not in keys for name in names):
        return None
    processors = compiled._bind_processors
    return compiled.string, [(name, processors.get(name)) for name in names]
