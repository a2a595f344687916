"""The migration revisions this fanflow knows, readable without importing Alembic.

Opening a store reads its revision from Alembic's `alembic_version` table and compares it with
`HEAD` here: an up-to-date store (the common case, on every run) costs one small query and no
Alembic import (~0.2-0.3 s). Only a store that needs upgrading loads Alembic
(`fanflow.metadata.migrations`).

Invariants:
- `KNOWN` lists every revision in `migration_scripts/versions/` in order, oldest first, and
  `HEAD` is its last (a test compares them with Alembic's own history);
- `BASELINE` is the schema of fanflow 0.1 (schema version 1), the stores made before migrations;
- a store whose revision is not in `KNOWN` was written by a newer fanflow and is refused;
- `version_table` is exactly the table Alembic itself creates, so a store stamped here is one
  Alembic recognises.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

BASELINE = "0001_baseline"
KNOWN = (
    BASELINE,
    "0002_artifact_size_bigint",
    "0003_tags_hooks_group_indexes",
    "0004_inline_payload",
    "0005_hook_invocation_outputs",
    "0006_dashboard_indexes",
)
HEAD = KNOWN[-1]

VERSION_TABLE = "alembic_version"

version_table = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
