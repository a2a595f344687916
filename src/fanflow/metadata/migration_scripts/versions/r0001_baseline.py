"""Baseline: the schema of fanflow 0.1 (schema version 1), the stores made before migrations.

Stores made by fanflow 0.1 have these tables but no `alembic_version`; opening one stamps it with
this revision and upgrades it from here. The tables are spelled out (not taken from `schema.py`)
because this revision must keep describing version 1 when `schema.py` moves on.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(32)


def upgrade() -> None:
    info = op.create_table(
        "fanflow_schema",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_table(
        "pipelines",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.DateTime, nullable=False),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("pipeline_id", ID, sa.ForeignKey("pipelines.id"), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=True),
        sa.Column("end_time", sa.DateTime, nullable=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("spec", sa.JSON, nullable=True),
        sa.Column("run_metadata", sa.JSON, nullable=False),
        sa.Column("exception", sa.Text, nullable=True),
        sa.Column("orchestrator_pid", sa.Integer, nullable=True),
        sa.Column("orchestrator_host", sa.String(255), nullable=True),
        sa.Column("heartbeat", sa.DateTime, nullable=True),
        sa.Column("original_run_id", ID, nullable=True),
    )
    op.create_index(
        "ix_pipeline_runs_pipeline_created", "pipeline_runs", ["pipeline_id", "created"]
    )
    op.create_index("ix_pipeline_runs_created", "pipeline_runs", ["created"])
    op.create_table(
        "step_runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID, sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("step_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=True),
        sa.Column("end_time", sa.DateTime, nullable=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("upstream", sa.JSON, nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=True),
        sa.Column("code_hash", sa.String(64), nullable=True),
        sa.Column("source", sa.String(512), nullable=True),
        sa.Column("original_step_run_id", ID, nullable=True),
        sa.Column("exception", sa.Text, nullable=True),
        sa.Column("traceback", sa.Text, nullable=True),
        sa.Column("run_metadata", sa.JSON, nullable=False),
        sa.Column("map_group", sa.String(255), nullable=True),
        sa.Column("map_index", sa.Integer, nullable=True),
        sa.Column("attempts", sa.JSON, nullable=True),
        sa.Column("logs_uri", sa.Text, nullable=True),
        sa.UniqueConstraint("run_id", "name", name="uq_step_runs_run_name"),
    )
    op.create_index("ix_step_runs_cache_key", "step_runs", ["cache_key", "status"])
    op.create_table(
        "artifacts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.DateTime, nullable=False),
    )
    op.create_table(
        "artifact_versions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("artifact_id", ID, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("version_number", sa.Integer, nullable=True),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("materializer", sa.String(512), nullable=False),
        sa.Column("data_type", sa.String(512), nullable=False),
        sa.Column("artifact_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("save_type", sa.String(32), nullable=False),
        sa.Column("producer_step_run_id", ID, nullable=True),
        sa.Column("producer_run_id", ID, nullable=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("run_metadata", sa.JSON, nullable=False),
        sa.UniqueConstraint("artifact_id", "version", name="uq_artifact_versions_version"),
    )
    op.create_index(
        "ix_artifact_versions_artifact_number",
        "artifact_versions",
        ["artifact_id", "version_number"],
    )
    op.create_table(
        "step_run_inputs",
        sa.Column("step_run_id", ID, sa.ForeignKey("step_runs.id"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("is_list", sa.Boolean, nullable=False),
        sa.Column(
            "artifact_version_id", ID, sa.ForeignKey("artifact_versions.id"), nullable=False
        ),
    )
    op.create_table(
        "step_run_outputs",
        sa.Column("step_run_id", ID, sa.ForeignKey("step_runs.id"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column(
            "artifact_version_id", ID, sa.ForeignKey("artifact_versions.id"), primary_key=True
        ),
    )
    op.create_index("ix_step_run_outputs_artifact", "step_run_outputs", ["artifact_version_id"])
    op.bulk_insert(info, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    for table in (
        "step_run_outputs",
        "step_run_inputs",
        "artifact_versions",
        "artifacts",
        "step_runs",
        "pipeline_runs",
        "pipelines",
        "fanflow_schema",
    ):
        op.drop_table(table)
