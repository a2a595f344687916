"""The artifact versions a hook call stored (`run_hook(..., store_return=True)`).

Additive only (one new table), so the schema version stays 2.

Revision ID: 0005_hook_invocation_outputs
Revises: 0004_inline_payload
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_hook_invocation_outputs"
down_revision = "0004_inline_payload"
branch_labels = None
depends_on = None

ID = sa.String(32)


def upgrade() -> None:
    if "hook_invocation_outputs" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "hook_invocation_outputs",
        sa.Column(
            "hook_invocation_id", ID, sa.ForeignKey("hook_invocations.id"), primary_key=True
        ),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column(
            "artifact_version_id", ID, sa.ForeignKey("artifact_versions.id"), primary_key=True
        ),
    )


def downgrade() -> None:
    op.drop_table("hook_invocation_outputs")
