"""Opening a metadata database: engines, SQLite tuning, schema creation and version checks.

Invariants:
- one engine per database URL per process (engines are cached; a forked child makes its own);
- SQLite runs in WAL mode with `synchronous=NORMAL` and a 30 s busy timeout; write transactions
  start with `BEGIN IMMEDIATE`, so two writers queue instead of failing on a lock upgrade;
- a store is checked once per process, by one query for its migration revision: a store at
  `revisions.HEAD` is used as is (no Alembic import); an empty database gets the current schema
  and is stamped HEAD; an older store is upgraded by `migrations.upgrade` under a lock; a newer
  store, a database holding other tables but no fanflow schema, and a file that is not a
  database are refused, each with a message saying which store and what to do;
- schema creation and upgrades hold `schema_lock` (PostgreSQL advisory lock, SQLite write lock),
  so processes opening a new or old store at once do it once;
- per-dialect code lives here and in `insert_ignore`; everything else is dialect-neutral Core.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Any

from sqlalchemy import and_, create_engine, event, func, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from fanflow.config import load_settings
from fanflow.config.home import make_private_dirs
from fanflow.exceptions import (
    MetadataStoreBusyError,
    MetadataStoreError,
    MetadataStoreUnavailableError,
)
from fanflow.metadata import jsonio, revisions, schema
from fanflow.metadata.bulk_writes import execute_many
from fanflow.metadata.store_state import (
    SQLITE_BUSY_TIMEOUT_S,
    check_revision,
    describe,
    newer,
    read_legacy_version,
    read_revision,
    schema_lock,
    sqlite_path,
)

WRITE_OPTION = "fanflow_write"
# A write that may be skipped when the store is busy (the run's heartbeat: the next one comes
# soon): it does not wait past SQLite's busy timeout, and it says nothing.
BEST_EFFORT_OPTION = "fanflow_best_effort"

logger = logging.getLogger("fanflow")
_engines: dict[str, Engine] = {}
_checked: set[str] = set()
_lock = threading.Lock()
_engine_pid = os.getpid()
_exit_hook_registered = False


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_path(url)
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
    try:
        return create_engine(
            url,
            pool_size=8,
            max_overflow=32,
            pool_pre_ping=True,
            json_serializer=jsonio.dumps,
            json_deserializer=jsonio.loads,
        )
    except ImportError as exc:  # the database driver is not installed
        hint = ' pip install "fanflow[postgres]".' if url.startswith("postgresql") else ""
        raise MetadataStoreError(
            f"Cannot use {describe(url)}: its database driver is not installed ({exc}).{hint}"
        ) from exc


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
    process held the lock for a while. A best-effort write (`write_connection(engine,
    best_effort=True)`) raises `MetadataStoreBusyError` at once instead, without a warning: the
    run's own orchestrator may hold the lock for minutes while it records a million-branch map,
    and its heartbeat must not report that as "another process".

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
                if connection.get_execution_options().get(BEST_EFFORT_OPTION, False):
                    raise MetadataStoreBusyError(
                        f"{describe(self.url)} was busy for {waited:.0f} s; this best-effort "
                        "write was skipped."
                    ) from exc
                if waited >= self.busy_timeout_s + self.patience_s:
                    raise MetadataStoreBusyError(
                        f"{describe(self.url)} stayed locked by another process for about "
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
                f"Cannot write to {describe(url)}: {meaning} ({getattr(exc, 'orig', exc)}). "
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


def write_connection(engine: Engine, *, best_effort: bool = False) -> Connection:
    """A connection whose transactions take the write lock up front (SQLite: BEGIN IMMEDIATE).
    With `best_effort`, a store that stays locked past the busy timeout makes the write fail
    at once (`MetadataStoreBusyError`), silently, instead of waiting and warning."""
    options = {WRITE_OPTION: True, BEST_EFFORT_OPTION: best_effort}
    return engine.connect().execution_options(**options)


def _ensure_schema(engine: Engine, url: str) -> None:
    """Fast path: one query for the store's revision. Anything but HEAD goes to `_prepare`."""
    try:
        with engine.connect() as conn:
            revision = read_revision(conn)
    except DBAPIError as exc:
        if "locked" in str(exc.orig):
            raise MetadataStoreBusyError(
                f"{describe(url)} stayed locked by another process for more than "
                f"{SQLITE_BUSY_TIMEOUT_S:.0f} s; try again when it is done."
            ) from exc
        unavailable = storage_failure(url, exc)
        if unavailable is not None:
            raise unavailable from exc
        if not sqlite_path(url):
            raise MetadataStoreError(
                f"Cannot connect to {describe(url)}: {exc.orig}. Check that the server is "
                "running and reachable, and that FANFLOW_METADATA_URL names it correctly."
            ) from exc
        raise MetadataStoreError(
            f"Cannot open {describe(url)} as a fanflow metadata store: {exc.orig}. The file may "
            "be corrupted or not a database at all; move it away (or point FANFLOW_HOME / "
            "FANFLOW_METADATA_URL elsewhere) and run again to start a fresh store."
        ) from exc
    if revision == revisions.HEAD:
        return
    if revision is not None:
        check_revision(revision, url)
    _prepare(engine, url)


def _prepare(engine: Engine, url: str) -> None:
    """Create a new store, or hand an older one to the migrations; refuse anything else."""
    try:
        with write_connection(engine) as conn:
            schema_lock(conn)
            revision = read_revision(conn)
            if revision == revisions.HEAD:  # another process finished it meanwhile
                conn.rollback()
                return
            if revision is None:
                legacy = read_legacy_version(conn)
                if legacy is None:
                    _create_schema(conn, url)
                    conn.commit()
                    return
                if legacy > 1:
                    raise newer(url, f"schema version {legacy}")
            else:
                check_revision(revision, url)
            conn.rollback()
    except DBAPIError as exc:  # e.g. no right to create tables
        unavailable = storage_failure(url, exc)
        if unavailable is not None:
            raise unavailable from exc
        raise MetadataStoreError(
            f"Cannot create the fanflow schema in {describe(url)}: {exc.orig}"
        ) from exc
    from fanflow.metadata import migrations  # imports Alembic: only for stores that need it

    migrations.upgrade(url)


def _create_schema(conn: Connection, url: str) -> None:
    """A new store: the current tables at once, stamped with the newest revision.

    This is what running every migration from an empty database produces (a test compares the
    two), without loading Alembic on the first run of every new store.
    """
    existing = inspect(conn).get_table_names()
    if existing:
        raise MetadataStoreError(
            f"{describe(url)} holds tables ({', '.join(sorted(existing)[:5])}) but no "
            "fanflow schema: it belongs to something else. Refusing to write to it; "
            "point FANFLOW_HOME or FANFLOW_METADATA_URL at a fanflow store."
        )
    schema.metadata.create_all(conn, checkfirst=False)  # the database is empty
    revisions.version_table.create(conn)
    conn.execute(
        schema.schema_info.insert(),
        [{"key": "schema_version", "value": str(schema.SCHEMA_VERSION)}],
    )
    conn.execute(revisions.version_table.insert(), [{"version_num": revisions.HEAD}])


def starts_with(column: Any, prefix: str) -> Any:
    """`column` starts with `prefix`, case-sensitively and literally on every database.

    SQLite's LIKE ignores ASCII case while PostgreSQL's does not, so LIKE alone would make
    `get_run("abc")` find "ABC-run" on one database and not on the other. The LIKE (with `%` and
    `_` escaped) narrows the rows and can use an index; the `substr` comparison decides.
    """
    return and_(
        column.startswith(prefix, autoescape=True),
        func.substr(column, 1, len(prefix)) == prefix,
    )


def insert_ignore(
    conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """INSERT rows, silently skipping those that collide on `keys` (per dialect)."""
    if not rows:
        return
    execute_many(conn, _insert_ignore(conn.dialect.name, table, tuple(keys)), rows)


@functools.cache
def _insert_ignore(name: str, table: Any, keys: tuple[str, ...]) -> Any:
    """Built once per table (a statement rebuilt per call pays for its cache key each time)."""
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    # pragma: no cover - other dialects are not supported yet
    raise MetadataStoreError(f"Unsupported metadata database dialect {name!r}")
