"""Artifact sizes as 64-bit integers: PostgreSQL's INTEGER stops at 2 GiB.

Also raises the schema version to 2, so fanflow 0.1 (which predates migrations and knows only
version 1) refuses the upgraded store instead of writing to it. On SQLite the column change is a
batch operation (the table is rebuilt by copy); SQLite's INTEGER was 64-bit already.

Revision ID: 0002_artifact_size_bigint
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_artifact_size_bigint"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

_info = sa.table("fanflow_schema", sa.column("key", sa.String), sa.column("value", sa.String))


def _set_schema_version(value: str) -> None:
    op.execute(_info.update().where(_info.c.key == "schema_version").values(value=value))


def upgrade() -> None:
    with op.batch_alter_table("artifact_versions") as batch:
        batch.alter_column(
            "size", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True
        )
    _set_schema_version("2")


def downgrade() -> None:
    with op.batch_alter_table("artifact_versions") as batch:
        batch.alter_column(
            "size", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True
        )
    _set_schema_version("1")
