"""What a metadata store is, read without changing it: its revision, its pre-migration schema
version, how messages name it; and the lock that serialises schema changes.

Shared by `engine.py` (the fast path of opening a store) and `migrations.py` (upgrades), so
neither imports the other at module level.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from fanflow.exceptions import SchemaVersionError
from fanflow.metadata import revisions, schema

SQLITE_BUSY_TIMEOUT_S = 30.0
SCHEMA_LOCK_SCOPE = 0x0FA4F10  # first key of the PostgreSQL advisory lock for schema changes


def sqlite_path(url: str) -> str | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path or None


def describe(url: str) -> str:
    """How messages name a store: the SQLite file, or the URL with any password hidden."""
    path = sqlite_path(url)
    if path:
        return f"the SQLite file {path}"
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = "(an unparsable URL)"
    return f"the database {shown}"


def read_revision(conn: Connection) -> str | None:
    if not conn.dialect.has_table(conn, revisions.VERSION_TABLE):
        return None
    raw = conn.execute(select(revisions.version_table.c.version_num)).scalar()
    return str(raw) if raw is not None else None


def read_legacy_version(conn: Connection) -> int | None:
    """The schema version of a store made before migrations (fanflow 0.1 wrote version 1)."""
    if not conn.dialect.has_table(conn, schema.schema_info.name):
        return None
    raw = conn.execute(
        select(schema.schema_info.c.value).where(schema.schema_info.c.key == "schema_version")
    ).scalar()
    return int(raw) if raw is not None else None


def newer(url: str, found: str) -> SchemaVersionError:
    return SchemaVersionError(
        f"{describe(url)} was written by a newer fanflow ({found}; this fanflow understands up "
        f"to revision {revisions.HEAD}, schema version {schema.SCHEMA_VERSION}). Upgrade "
        "fanflow to use it; it was not modified."
    )


def check_revision(revision: str, url: str) -> None:
    if revision not in revisions.KNOWN:
        raise newer(url, f"schema revision {revision!r}")


def schema_lock(conn: Connection) -> None:
    """Serialise schema creation and upgrades between processes, until the transaction ends.

    SQLite: the write transaction itself (BEGIN IMMEDIATE) already excludes every other writer.
    PostgreSQL: a transaction-level advisory lock, keyed by the current schema, so two
    orchestrators starting on a new or old database at once create or upgrade it once.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%(scope)s, hashtext(current_schema()))",
            {"scope": SCHEMA_LOCK_SCOPE},
        )
