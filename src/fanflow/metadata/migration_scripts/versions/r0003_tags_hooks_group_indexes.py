"""Artifact version tags, hook invocations, and indexes for map groups and artifact consumers.

Additive only (new tables and indexes), so the schema version stays 2. Stores made by builds
between fanflow 0.1 and migrations may already have some of these (they were created on open
then); each is created only when missing.

Revision ID: 0003_tags_hooks_group_indexes
Revises: 0002_artifact_size_bigint
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_tags_hooks_group_indexes"
down_revision = "0002_artifact_size_bigint"
branch_labels = None
depends_on = None

ID = sa.String(32)

INDEXES = (
    ("ix_step_runs_group_index", "step_runs", ["run_id", "map_group", "map_index"]),
    (
        "ix_step_runs_group_times",
        "step_runs",
        ["run_id", "map_group", "status", "map_index", "start_time", "end_time"],
    ),
    ("ix_step_run_inputs_artifact", "step_run_inputs", ["artifact_version_id"]),
)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "artifact_version_tags" not in tables:
        op.create_table(
            "artifact_version_tags",
            sa.Column(
                "artifact_version_id", ID, sa.ForeignKey("artifact_versions.id"), primary_key=True
            ),
            sa.Column("tag", sa.String(255), primary_key=True),
        )
        op.create_index("ix_artifact_version_tags_tag", "artifact_version_tags", ["tag"])
    if "hook_invocations" not in tables:
        op.create_table(
            "hook_invocations",
            sa.Column("id", ID, primary_key=True),
            sa.Column("run_id", ID, sa.ForeignKey("pipeline_runs.id"), nullable=False),
            sa.Column("step_run_id", ID, sa.ForeignKey("step_runs.id"), nullable=True),
            sa.Column("hook_type", sa.String(32), nullable=False),
            sa.Column("name", sa.String(512), nullable=False),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("start_time", sa.DateTime, nullable=False),
            sa.Column("end_time", sa.DateTime, nullable=False),
            sa.Column("exception", sa.Text, nullable=True),
            sa.Column("attempt", sa.Integer, nullable=True),
        )
        op.create_index("ix_hook_invocations_run", "hook_invocations", ["run_id", "start_time"])
    for name, table, columns in INDEXES:
        existing = {index["name"] for index in inspector.get_indexes(table)}
        if name not in existing:
            op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("hook_invocations")
    op.drop_table("artifact_version_tags")
