"""A run that leaves SQLite's write-ahead log large has it checkpointed and truncated at its
end, so the next process to open the store does not first rebuild an index over it."""

from __future__ import annotations

import os
import sqlite3

import pytest

from fanflow import pipeline, step
from fanflow.metadata import wal


@step(enable_cache=False)
def one() -> int:
    return 1


@pipeline(enable_cache=False)
def tiny():
    one()


def _wal_size(home) -> int:
    path = home / "fanflow.db-wal"
    return os.path.getsize(path) if path.exists() else 0


def test_a_large_log_is_truncated_when_a_run_ends(fanflow_home, monkeypatch):
    tiny()  # creates the store
    monkeypatch.setattr(wal, "LARGE_WAL_BYTES", 0)  # every log counts as large
    run = tiny()
    assert run.status == "completed"
    assert _wal_size(fanflow_home) == 0
    assert run.steps["one"].output.load() == 1  # nothing was lost on the way


def test_a_small_log_is_left_alone(fanflow_home):
    tiny()
    tiny()
    assert 0 < _wal_size(fanflow_home) <= wal.LARGE_WAL_BYTES


def test_a_reader_holding_the_log_leaves_it_as_it_is_and_the_run_still_ends(
    fanflow_home, monkeypatch
):
    tiny()
    monkeypatch.setattr(wal, "LARGE_WAL_BYTES", 0)
    monkeypatch.setattr(wal, "WAIT_S", 0.1)
    reader = sqlite3.connect(fanflow_home / "fanflow.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM pipeline_runs").fetchone()  # holds a read snapshot
    try:
        run = tiny()
        assert run.status == "completed"
        assert wal.shrink_large_wal(f"sqlite:///{fanflow_home / 'fanflow.db'}") is False
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert wal.shrink_large_wal(f"sqlite:///{fanflow_home / 'fanflow.db'}") is True
    assert _wal_size(fanflow_home) == 0


@pytest.mark.parametrize("url", ["postgresql+psycopg://user@host/db", "sqlite://"])
def test_other_stores_are_not_touched(url):
    assert wal.shrink_large_wal(url) is False
