"""Schema migrations of the metadata store (Alembic), as a small explicit API.

    from fanflow.metadata import migrations
    migrations.history()        # every revision this fanflow knows, oldest first
    migrations.current(url)     # the revision a store is at (None: empty database)
    migrations.pending(url)     # what `upgrade` would apply, oldest first
    migrations.upgrade(url)     # bring a store up to date (opening a store does this too)
    migrations.upgrade_sql(url) # the SQL `upgrade` would run there, changing nothing

One history serves SQLite and PostgreSQL; its scripts ship inside the package (`versions/`), so
no alembic.ini is needed. Opening a store upgrades it automatically (`engine.py`); this module is
for seeing and applying migrations explicitly, and it is the only one that imports Alembic.

Invariants:
- an upgrade runs in one transaction that holds `store_state.schema_lock` (PostgreSQL advisory lock;
  on SQLite the write lock of BEGIN IMMEDIATE), re-reads the revision under it, and commits the
  schema changes together with the new revision: two processes upgrading at once upgrade once;
- a fanflow 0.1 store (tables, schema version 1, no `alembic_version`) is stamped
  `revisions.BASELINE` in that same transaction and upgraded from there;
- a store at a revision this fanflow does not know is refused, never touched;
- SQLite upgrades run with foreign-key enforcement off (batch mode rebuilds tables by copy, which
  SQLite's foreign keys would otherwise block) and end with `PRAGMA foreign_key_check`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from fanflow.exceptions import MetadataStoreError
from fanflow.metadata import revisions
from fanflow.metadata.store_state import (
    SQLITE_BUSY_TIMEOUT_S,
    describe,
    newer,
    read_legacy_version,
    read_revision,
    schema_lock,
    sqlite_path,
)

__all__ = ["Revision", "current", "history", "pending", "upgrade", "upgrade_sql"]


@dataclass(frozen=True, slots=True)
class Revision:
    """One migration: its id, the one it follows, and what it changes (its docstring's line)."""

    revision: str
    down_revision: str | None
    description: str


def _config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    location = resources.files("fanflow.metadata") / "migration_scripts"
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def history() -> list[Revision]:
    """Every revision this fanflow knows, oldest first."""
    found = []
    for script in reversed(list(_script().walk_revisions())):
        doc = (script.doc or "").strip().splitlines()
        found.append(
            Revision(
                str(script.revision),
                None if script.down_revision is None else str(script.down_revision),
                doc[0] if doc else "",
            )
        )
    return found


def _engine(url: str) -> Engine:
    """A private engine for migrations: one connection, no pool; on SQLite, foreign keys off
    and write transactions that take the lock up front."""
    if not url.startswith("sqlite"):
        return create_engine(url, poolclass=NullPool)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def current(url: str) -> str | None:
    """The revision the store at `url` is at, without changing it.

    A fanflow 0.1 store (made before migrations) reports `revisions.BASELINE`, the schema it
    has; an empty database reports None.
    """
    path = sqlite_path(url)
    if path and path != ":memory:" and not os.path.exists(path):
        return None  # looking must not create the file
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            revision = read_revision(conn)
            if revision is None and read_legacy_version(conn) == 1:
                return revisions.BASELINE
            return revision
    finally:
        engine.dispose()


def pending(url: str) -> list[str]:
    """The revisions `upgrade(url)` would apply, oldest first."""
    at = current(url)
    if at is not None and at not in revisions.KNOWN:
        raise newer(url, f"schema revision {at!r}")
    known = [r.revision for r in history()]
    return known if at is None else known[known.index(at) + 1 :]


def upgrade(url: str, target: str = "head") -> str:
    """Upgrade the store at `url` to `target` (default: the newest revision); returns the
    revision it is at afterwards. Safe to call from several processes at once."""
    path = sqlite_path(url)
    if path and path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return _upgrade(url, target, None)


def upgrade_sql(url: str, target: str = "head") -> list[str]:
    """The SQL statements `upgrade(url, target)` would run on this store, changing nothing.

    The migrations look at the store as they go (which tables and indexes exist), so the SQL
    cannot be rendered offline: the upgrade runs for real inside a transaction that is rolled
    back (DDL is transactional on PostgreSQL and SQLite), and the statements that would change
    the store are returned, each ending in `;` with its parameters in a comment. A SQLite file
    that does not exist yet is not created: the SQL of a new store is rendered in memory.
    """
    path = sqlite_path(url)
    if path and path != ":memory:" and not os.path.exists(path):
        url = "sqlite://"
    statements: list[str] = []
    _upgrade(url, target, statements)
    return statements


_READS = ("SELECT", "PRAGMA", "BEGIN", "SHOW", "WITH")


def _upgrade(url: str, target: str, capture: list[str] | None) -> str:
    """One upgrade under the schema lock; with `capture`, record the statements that change
    the store into it and roll everything back."""
    from alembic import command

    engine = _engine(url)
    if capture is not None:

        @event.listens_for(engine, "before_cursor_execute")
        def _record(
            _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
        ) -> None:
            text = statement.strip()
            if not text or text.upper().startswith(_READS):
                return
            shown = f"{text};"
            if parameters:
                shown += f"\n-- parameters: {parameters!r}"
            capture.append(shown)

    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                schema_lock(conn)
                _adopt(conn, url)
                command.upgrade(_config(conn), target)
                if conn.dialect.name == "sqlite":
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MetadataStoreError(
                            f"Upgrading {describe(url)} would break {len(broken)} references "
                            f"(first: {tuple(broken[0])}); nothing was changed."
                        )
                revision = read_revision(conn)
            except BaseException:
                transaction.rollback()
                raise
            if capture is None:
                transaction.commit()
            else:
                transaction.rollback()
    finally:
        engine.dispose()
    return revision or ""


def _adopt(conn: Connection, url: str) -> None:
    """Under the lock: refuse what cannot be upgraded; stamp a fanflow 0.1 store as BASELINE."""
    revision = read_revision(conn)
    if revision is not None:
        if revision not in revisions.KNOWN:
            raise newer(url, f"schema revision {revision!r}")
        return
    legacy = read_legacy_version(conn)
    if legacy is None:
        tables = inspect(conn).get_table_names()
        if tables:
            raise MetadataStoreError(
                f"{describe(url)} holds tables ({', '.join(sorted(tables)[:5])}) but no "
                "fanflow schema: it belongs to something else. Refusing to migrate it."
            )
        return  # an empty database: the migrations build it from nothing
    if legacy != 1:
        raise newer(url, f"schema version {legacy}")
    revisions.version_table.create(conn)
    conn.execute(revisions.version_table.insert(), [{"version_num": revisions.BASELINE}])
