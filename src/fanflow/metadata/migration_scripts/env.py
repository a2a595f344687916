"""Alembic's environment for fanflow's migrations: always online, on a connection we hand in.

This directory is data for Alembic (it loads these files by path), not an importable package.

`fanflow.metadata.migrations` opens the connection, takes the schema lock and begins the
transaction before Alembic runs, so every migration of one upgrade commits (or rolls back)
together with the revision stamp. SQLite runs in batch mode: its ALTER TABLE cannot change
columns or constraints, so Alembic rebuilds such tables by copy.
"""

from __future__ import annotations

from alembic import context

from fanflow.metadata import schema

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "fanflow's migrations run through fanflow.metadata.migrations.upgrade(url), "
        "not through the alembic command line."
    )

context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
