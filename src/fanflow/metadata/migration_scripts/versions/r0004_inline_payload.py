"""Small step outputs stored in their artifact version's record (`inline_payload`).

Additive only (one nullable column), so the schema version stays 2: fanflow 0.1 already refuses
version 2. Rows recorded before this revision keep NULL (their values are files, as before). On
SQLite the column is added through a batch operation, like every change to this table.

Revision ID: 0004_inline_payload
Revises: 0003_tags_hooks_group_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_inline_payload"
down_revision = "0003_tags_hooks_group_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("artifact_versions")}
    if "inline_payload" in columns:
        return
    with op.batch_alter_table("artifact_versions") as batch:
        batch.add_column(sa.Column("inline_payload", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    versions = sa.table("artifact_versions", sa.column("inline_payload", sa.LargeBinary()))
    held = op.get_bind().execute(
        sa.select(sa.func.count()).where(versions.c.inline_payload.is_not(None))
    ).scalar()
    if held:
        # Dropping the column would lose these values: nothing else holds them.
        raise RuntimeError(
            f"Cannot downgrade below 0004_inline_payload: {held} artifact version(s) hold "
            "their value only inline in the metadata store, and the older schema has no place "
            "for it. Delete those runs first (fanflow runs delete) or keep this revision."
        )
    with op.batch_alter_table("artifact_versions") as batch:
        batch.drop_column("inline_payload")
