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

import logging
import os
import threading
import time
from typing import Any

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from fanflow.config import load_settings
from fanflow.config.home import make_private_dirs
from fanflow.exceptions import (
    MetadataStoreBusyError,
    MetadataStoreError,
    MetadataStoreUnavailableError,
    SchemaVersionError,
)
from fanflow.metadata import jsonio, schema

SQLITE_BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "fanflow_write"

logger = logging.getLogger("fanflow")
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
            _make_store_dir(path)
        settings = load_settings()
        engine = create_engine(
            url,
            connect_args={
                "timeout": settings.metadata_busy_timeout_s,
                "check_same_thread": False,
            },
            pool_size=8,
            max_overflow=64,
            json_serializer=jsonio.dumps,
            json_deserializer=jsonio.loads,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        waiter = WriteLockWaiter(
            url, path, settings.metadata_busy_timeout_s, settings.metadata_lock_patience_s
        )
        event.listen(engine, "begin", waiter)
        event.listen(engine, "handle_error", _explain_storage_error(url, waiter))
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


def _make_store_dir(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        make_private_dirs(folder)
    except OSError as exc:
        raise MetadataStoreUnavailableError(
            f"Cannot create the folder {folder} for the metadata store {path}: "
            f"{exc.strerror or exc}. Point FANFLOW_HOME (or FANFLOW_METADATA_URL) at a folder "
            "this user can write."
        ) from exc


class WriteLockWaiter:
    """Starts SQLite transactions: `BEGIN` for reads, `BEGIN IMMEDIATE` for writes.

    A write transaction takes the write lock up front, so `BEGIN IMMEDIATE` is the one place a
    writer waits for another process, and nothing has happened in the transaction yet: when
    SQLite's busy timeout runs out there, retrying is always safe. It retries with backoff,
    logging that it waits, for `patience_s` more; then it raises `MetadataStoreBusyError`
    naming the store. Recording is therefore never lost (or a run failed) because another
    process held the lock for a while.

    Before writes it also checks that the database file is still the one opened (at most once
    per `FILE_CHECK_INTERVAL_S`, and always before a run's final status, see
    `check_store_file`): a file deleted (or replaced) under a running process would otherwise
    take its writes silently into an unlinked inode, and a run would be reported `completed`
    with its records gone.
    """

    FILE_CHECK_INTERVAL_S = 1.0

    def __init__(
        self, url: str, path: str | None, busy_timeout_s: float, patience_s: float
    ) -> None:
        self.url = url
        self.path = path if path and path != ":memory:" else None
        self.busy_timeout_s = busy_timeout_s
        self.patience_s = patience_s
        self.identity: tuple[int, int] | None = None
        self._checked_at = 0.0

    def remember_file(self) -> None:
        if self.path is not None:
            info = os.stat(self.path)
            self.identity = (info.st_dev, info.st_ino)

    def __call__(self, connection: Connection) -> None:
        if not connection.get_execution_options().get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN")
            return
        started = time.monotonic()
        if started - self._checked_at >= self.FILE_CHECK_INTERVAL_S:
            self.check_file()
            self._checked_at = started
        pause = 0.05
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if not _is_locked(exc):
                    raise
                waited = time.monotonic() - started
                if waited >= self.busy_timeout_s + self.patience_s:
                    raise MetadataStoreBusyError(
                        f"{_describe(self.url)} stayed locked by another process for about "
                        f"{waited:.0f} s, so this write could not be recorded. Find the process "
                        "holding it (a long transaction, a database browser), or raise "
                        "FANFLOW_METADATA_LOCK_PATIENCE."
                    ) from exc
                logger.warning(
                    "The metadata store %s is locked by another process; waiting to record "
                    "(%.1f s so far, giving up after %.1f s).",
                    self.path or self.url,
                    waited,
                    self.busy_timeout_s + self.patience_s,
                )
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def check_file(self) -> None:
        if self.path is None or self.identity is None:
            return
        try:
            info = os.stat(self.path)
            current: tuple[int, int] | None = (info.st_dev, info.st_ino)
        except FileNotFoundError:
            current = None
        if current != self.identity:
            what = "deleted" if current is None else "replaced by another file"
            _drop_from_cache(self.url)  # later stores in this process open the path afresh
            raise MetadataStoreUnavailableError(
                f"The metadata store {self.path} was {what} while this process was using it; "
                "what it recorded since then is lost, so nothing more is recorded into it. "
                "Restore the file (or start afresh) and run again."
            )


def _is_locked(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


# SQLite's messages for a store that cannot be written, and what they mean for the user.
_STORAGE_FAILURES = (
    ("database or disk is full", "the disk holding it is full"),
    ("readonly database", "it (or its folder) is read-only for this user"),
    ("unable to open database file", "it cannot be opened (its folder is missing or read-only)"),
    ("disk i/o error", "the disk reported an I/O error"),
)


def storage_failure(url: str, exc: BaseException) -> MetadataStoreUnavailableError | None:
    """A clear error naming the store for SQLite's "cannot write" errors, else None."""
    text = str(getattr(exc, "orig", exc)).lower()
    for fragment, meaning in _STORAGE_FAILURES:
        if fragment in text:
            return MetadataStoreUnavailableError(
                f"Cannot write to {_describe(url)}: {meaning} ({getattr(exc, 'orig', exc)}). "
                "Nothing more can be recorded there; fix that (or point FANFLOW_HOME / "
                "FANFLOW_METADATA_URL elsewhere) and run again."
            )
    return None


def _explain_storage_error(url: str, waiter: WriteLockWaiter) -> Any:
    def explain(context: Any) -> None:
        # A file deleted under us may have been re-created empty by a new connection ("no such
        # table"): say what happened rather than what SQLite saw.
        waiter.check_file()
        error = storage_failure(url, context.original_exception)
        if error is not None:
            raise error from context.original_exception

    return explain


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
                _remember_file(engine)
            except MetadataStoreError:
                _engines.pop(url, None)
                engine.dispose()
                raise
            _checked.add(url)
    return engine


def _remember_file(engine: Engine) -> None:
    for listener in engine.dispatch.begin:
        if isinstance(listener, WriteLockWaiter):
            listener.remember_file()


def check_store_file(engine: Engine) -> None:
    """Raise `MetadataStoreUnavailableError` if the SQLite file behind `engine` was deleted or
    replaced since it was opened (called before recording a run's final status)."""
    for listener in engine.dispatch.begin:
        if isinstance(listener, WriteLockWaiter):
            listener.check_file()


def _drop_from_cache(url: str) -> None:
    """Forget the engine of `url` without closing it (a caller may still hold it), so the next
    `get_engine(url)` opens and checks the store anew."""
    with _lock:
        _engines.pop(url, None)
        _checked.discard(url)


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
            raise MetadataStoreBusyError(
                f"{_describe(url)} stayed locked by another process for more than "
                f"{SQLITE_BUSY_TIMEOUT_S:.0f} s; try again when it is done."
            ) from exc
        unavailable = storage_failure(url, exc)
        if unavailable is not None:
            raise unavailable from exc
        raise MetadataStoreError(
            f"Cannot open {_describe(url)} as a fanflow metadata store: {exc.orig}. The file may "
            "be corrupted or not a database at all; move it away (or point FANFLOW_HOME / "
            "FANFLOW_METADATA_URL elsewhere) and run again to start a fresh store."
        ) from exc
    if version is None:
        _create_schema(engine, url)
        return
    _check_version(version, url)
    _add_missing_indexes(engine)


def _add_missing_indexes(engine: Engine) -> None:
    """Indexes added after a store was created (they change no table, so no schema version):
    created when missing, a no-op read when present."""
    from sqlalchemy.schema import CreateIndex

    with engine.connect() as conn:
        for index in schema.ADDED_INDEXES:
            conn.execute(CreateIndex(index, if_not_exists=True))
        conn.commit()


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
