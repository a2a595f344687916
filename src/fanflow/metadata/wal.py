"""Keeping a SQLite store's write-ahead log small after a run that wrote a lot.

SQLite's WAL grows to the size of the largest transaction written since the last complete
checkpoint and stays that size: recording a million-branch map leaves a log of about a
gigabyte, and the next process to open the store after the writer exits rebuilds its index
from the whole log first (about 20 s for that run, before its first query answered). At the
end of a run whose log passed `LARGE_WAL_BYTES`, the log is checkpointed into the database and
truncated. It is best effort: a reader holding the log for longer than `WAIT_S` leaves it as
it is (the next large run tries again), and nothing is ever lost either way.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from fanflow.metadata.store_state import sqlite_path

LARGE_WAL_BYTES = 64 * 1024 * 1024
WAIT_S = 2.0


def shrink_large_wal(url: str) -> bool:
    """Checkpoint and truncate the store's log when it is large; returns whether it did."""
    path = sqlite_path(url)
    if path is None or path == ":memory:":
        return False
    try:
        if os.path.getsize(path + "-wal") <= LARGE_WAL_BYTES:
            return False
    except OSError:  # no log (not in WAL mode yet, or already checkpointed and removed)
        return False
    with contextlib.suppress(sqlite3.Error):
        connection = sqlite3.connect(path, timeout=WAIT_S)
        try:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return busy == 0
        finally:
            connection.close()
    return False
