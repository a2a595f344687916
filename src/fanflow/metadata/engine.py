"""Opening a metadata database: engines, SQLite tuning, schema creation and version checks.

Invariants:
- one engine per database URL per process (engines are cached; a forked child makes its own);
- SQLite runs in WAL mode with `synchronous=NORMAL` and a 30 s busy timeout; write transactions
  start with `BEGIN IMMEDIATE`, so two writers queue instead of failing on a lock upgrade;
- a store is checked once per process: a newer schema version is refused, a database holding
  other tables but no fanflow schema is refused, and a file that is not a database is refused,
  each with a message saying which file and what to do;
- per-dialect code lives here and in `insert_ignore`; everything else is dialect-neutral Core.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from fanflow.exceptions import MetadataStoreError, SchemaVersionError
from fanflow.metadata import jsonio, schema

SQLITE_BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "fanflow_write"

_engines: dict[str, Engine] = {}
_checked: set[str] = set()
_lock = threading.Lock()
_engine_pid = os.getpid()
_exit_hook_registered = False


def _sqlite_path(url: str) -> str | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path or None


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=8,
            max_overflow=64,
            json_serializer=jsonio.dumps,
            json_deserializer=jsonio.loads,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(
        url,
        pool_size=8,
        max_overflow=32,
        pool_pre_ping=True,
        json_serializer=jsonio.dumps,
        json_deserializer=jsonio.loads,
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN so writers can ask for BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        _retry_while_locked(cursor, "PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _retry_while_locked(cursor: Any, statement: str) -> None:
    """Switching to WAL needs a moment of exclusive access, which SQLite's busy timeout does
    not wait for; when another process is creating the store at the same instant, retry."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            cursor.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def _sqlite_on_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _skip_collection_at_exit() -> None:
    """Interpreter shutdown spends ~30 ms garbage-collecting SQLAlchemy's many long-lived objects
    (a fifth of a short pipeline's whole run). Freezing them at exit skips that sweep; objects
    still alive then are reclaimed by the process ending, as they would be anyway."""
    import atexit
    import gc

    atexit.register(gc.freeze)


def get_engine(url: str) -> Engine:
    """The process-wide engine for `url`, with the schema checked (and created if new)."""
    global _engine_pid, _exit_hook_registered
    engine = _engines.get(url)
    if engine is not None and _engine_pid == os.getpid() and url in _checked:
        return engine
    with _lock:
        if _engine_pid != os.getpid():
            for stale in _engines.values():
                stale.dispose(close=False)
            _engines.clear()
            _checked.clear()
            _engine_pid = os.getpid()
        engine = _engines.get(url)
        if not _exit_hook_registered:
            _exit_hook_registered = True
            _skip_collection_at_exit()
        if engine is None:
            engine = _make_engine(url)
            _engines[url] = engine
        if url not in _checked:
            try:
                _ensure_schema(engine, url)
            except MetadataStoreError:
                _engines.pop(url, None)
                engine.dispose()
                raise
            _checked.add(url)
    return engine


def dispose_all() -> None:
    """Close every cached engine (tests switch stores between cases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _checked.clear()


def write_connection(engine: Engine) -> Connection:
    """A connection whose transactions take the write lock up front (SQLite: BEGIN IMMEDIATE)."""
    return engine.connect().execution_options(**{WRITE_OPTION: True})


def _describe(url: str) -> str:
    path = _sqlite_path(url)
    return f"the SQLite file {path}" if path else f"the database {url}"


def _ensure_schema(engine: Engine, url: str) -> None:
    try:
        with engine.connect() as conn:
            version = _read_version(conn)
    except DBAPIError as exc:
        if "locked" in str(exc.orig):
            raise MetadataStoreError(
                f"{_describe(url)} stayed locked by another process for more than "
                f"{SQLITE_BUSY_TIMEOUT_S:.0f} s; try again when it is done."
            ) from exc
        raise MetadataStoreError(
            f"Cannot open {_describe(url)} as a fanflow metadata store: {exc.orig}. The file may "
            "be corrupted or not a database at all; move it away (or point FANFLOW_HOME / "
            "FANFLOW_METADATA_URL elsewhere) and run again to start a fresh store."
        ) from exc
    if version is None:
        _create_schema(engine, url)
        return
    _check_version(version, url)


def _read_version(conn: Connection) -> int | None:
    if not conn.dialect.has_table(conn, schema.schema_info.name):
        return None
    raw = conn.execute(
        select(schema.schema_info.c.value).where(schema.schema_info.c.key == "schema_version")
    ).scalar()
    return int(raw) if raw is not None else None


def _check_version(version: int, url: str) -> None:
    if version > schema.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{_describe(url)} was written by a newer fanflow (schema version {version}; this "
            f"fanflow understands up to {schema.SCHEMA_VERSION}). Upgrade fanflow to use it; it "
            "was not modified."
        )


def _create_schema(engine: Engine, url: str) -> None:
    try:
        with write_connection(engine) as conn:
            version = _read_version(conn)
            if version is not None:  # another process created it meanwhile
                _check_version(version, url)
                conn.rollback()
                return
            existing = inspect(conn).get_table_names()
            if existing:
                raise MetadataStoreError(
                    f"{_describe(url)} holds tables ({', '.join(sorted(existing)[:5])}) but no "
                    "fanflow schema: it belongs to something else. Refusing to write to it; "
                    "point FANFLOW_HOME or FANFLOW_METADATA_URL at a fanflow store."
                )
            schema.metadata.create_all(conn, checkfirst=False)  # the database is empty
            conn.execute(
                schema.schema_info.insert(),
                [{"key": "schema_version", "value": str(schema.SCHEMA_VERSION)}],
            )
            conn.commit()
    except OperationalError as exc:
        raise MetadataStoreError(
            f"Cannot create the fanflow schema in {_describe(url)}: {exc.orig}"
        ) from exc


def insert_ignore(
    conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """INSERT rows, silently skipping those that collide on `keys` (per dialect)."""
    if not rows:
        return
    name = conn.dialect.name
    statement: Any
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    elif name == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    else:  # pragma: no cover - other dialects are not supported yet
        raise MetadataStoreError(f"Unsupported metadata database dialect {name!r}")
    conn.execute(statement, rows)
