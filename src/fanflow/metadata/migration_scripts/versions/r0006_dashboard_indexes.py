"""An index on step durations within a map group, for the dashboard's reads of huge maps.

`ix_step_runs_group_duration` on (run_id, map_group, <end_time - start_time in seconds>,
map_index, status, start_time, end_time) lets a page of branches sorted by duration, and a
group's p50 and maximum duration, walk an index instead of sorting every branch. The duration is
an expression, not a column, so no writer has to keep it and no row is rewritten. `status` serves
the filtered reads (the p50 of the branches that ran); the two times let PostgreSQL answer from
the index alone (its planner looks for an expression's columns, not the expression, when it
considers an index-only scan). Additive only: the schema version stays 2, and fanflow 0.1
ignores the index.

The expression is written out per dialect exactly as `fanflow.metadata.sqltime.seconds_between`
compiles it (SQLite uses an index on an expression only for that same expression); a test keeps
the two equal.

Revision ID: 0006_dashboard_indexes
Revises: 0005_hook_invocation_outputs
"""

from __future__ import annotations

from alembic import op

revision = "0006_dashboard_indexes"
down_revision = "0005_hook_invocation_outputs"
branch_labels = None
depends_on = None

NAME = "ix_step_runs_group_duration"


def _epoch_sqlite(column: str) -> str:
    return (
        f"(ROUND((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400.0)"
        f" + CAST(substr({column}, 20) AS REAL))"
    )


DURATION_SQL = {
    "sqlite": (
        "(CASE WHEN substr(end_time, 1, 16) = substr(start_time, 1, 16)"
        " THEN CAST(substr(end_time, 18) AS REAL) - CAST(substr(start_time, 18) AS REAL)"
        f" ELSE {_epoch_sqlite('end_time')} - {_epoch_sqlite('start_time')} END)"
    ),
    "postgresql": "(EXTRACT(EPOCH FROM (end_time - start_time)))",
}


def upgrade() -> None:
    # IF NOT EXISTS, not a look at the inspector: SQLAlchemy does not reflect indexes on
    # expressions, and a store may have this one already (made by a build between revisions).
    expression = DURATION_SQL[op.get_bind().dialect.name]
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} "
        f"ON step_runs (run_id, map_group, {expression}, map_index, status, start_time, end_time)"
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="step_runs")
