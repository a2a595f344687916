"""Another process holding the SQLite write lock: fanflow waits (and says so), then gives up
with a clear error naming the store; completed steps are never lost meanwhile."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.exceptions import MetadataStoreBusyError

HOLDER = """
import os, sqlite3, sys, time
database, trigger, held, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
while not os.path.exists(trigger):
    time.sleep(0.01)
connection = sqlite3.connect(database, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
open(held, "w").close()
time.sleep(seconds)
connection.execute("COMMIT")
"""


def _pipeline_holding_the_lock(home: Path):
    """A two-step pipeline whose second step returns only once another process holds the
    write lock, so recording its result meets the lock."""
    trigger, held = home / "trigger", home / "held"

    @step(enable_cache=False)
    def produce() -> int:
        return 1

    @step(enable_cache=False)
    def consume(x: int) -> int:
        if os.environ.get("HOLD_LOCK"):
            trigger.touch()
            deadline = time.monotonic() + 60
            while not held.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return x + 1

    @pipeline(enable_cache=False)
    def contended_recording():
        consume(produce())

    return contended_recording, trigger, held


def _start_holder(home: Path, trigger: Path, held: Path, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home / "fanflow.db"), str(trigger), str(held),
         str(seconds)]
    )


def test_a_lock_held_past_the_busy_timeout_is_waited_out_and_logged(
    fanflow_home, monkeypatch, caplog
):
    monkeypatch.setenv("FANFLOW_METADATA_BUSY_TIMEOUT", "0.1")
    monkeypatch.setenv("FANFLOW_METADATA_LOCK_PATIENCE", "120")
    contended, trigger, held = _pipeline_holding_the_lock(fanflow_home)
    contended()  # creates the store
    monkeypatch.setenv("HOLD_LOCK", "1")
    holder = _start_holder(fanflow_home, trigger, held, seconds=1.5)
    try:
        with caplog.at_level(logging.WARNING, logger="fanflow"):
            run = contended()
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert run.status == "completed"
    steps = Client().get_pipeline_run(run.name).steps
    assert [s.status for s in steps.values()] == ["completed", "completed"]
    assert steps["consume"].output.load() == 2
    waits = [r.getMessage() for r in caplog.records if "waiting to record" in r.getMessage()]
    assert waits and str(fanflow_home / "fanflow.db") in waits[0]


def test_a_lock_held_past_the_patience_fails_with_a_clear_error_naming_the_store(
    fanflow_home, monkeypatch
):
    monkeypatch.setenv("FANFLOW_METADATA_BUSY_TIMEOUT", "0.1")
    monkeypatch.setenv("FANFLOW_METADATA_LOCK_PATIENCE", "0.3")
    contended, trigger, held = _pipeline_holding_the_lock(fanflow_home)
    contended()
    monkeypatch.setenv("HOLD_LOCK", "1")
    holder = _start_holder(fanflow_home, trigger, held, seconds=3)
    try:
        with pytest.raises(MetadataStoreBusyError) as info:
            contended()
    finally:
        holder.wait(timeout=60)
    message = str(info.value)
    assert str(fanflow_home / "fanflow.db") in message
    assert "locked by another process" in message and "FANFLOW_METADATA_LOCK_PATIENCE" in message


def test_a_heartbeat_meeting_a_held_lock_is_skipped_silently_and_the_next_one_lands(
    fanflow_home, monkeypatch, caplog
):
    """The run's own orchestrator can hold the write lock for minutes (recording a very wide
    map); its heartbeat then skips a beat without waiting for the store's patience and without
    warning about "another process"; once the lock is free, beats land again."""
    import sqlite3

    from fanflow.config import load_settings
    from fanflow.metadata.store import MetadataStore

    monkeypatch.setenv("FANFLOW_METADATA_BUSY_TIMEOUT", "0.2")
    monkeypatch.setenv("FANFLOW_METADATA_LOCK_PATIENCE", "120")
    contended, _, _ = _pipeline_holding_the_lock(fanflow_home)
    run = contended()
    store = MetadataStore(load_settings().metadata_url)
    holder = sqlite3.connect(fanflow_home / "fanflow.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        skipped = pytest.raises(MetadataStoreBusyError, match="best-effort write was skipped")
        with caplog.at_level(logging.WARNING, logger="fanflow"), skipped:
            store.heartbeat(run.id.hex)
        assert time.monotonic() - started < 60  # not the 120 s of patience
        assert not [r for r in caplog.records if "waiting to record" in r.getMessage()]
    finally:
        holder.execute("COMMIT")
        holder.close()

    def stamp() -> str:
        with sqlite3.connect(fanflow_home / "fanflow.db") as reader:
            query = "SELECT heartbeat FROM pipeline_runs WHERE id = ?"
            return reader.execute(query, (run.id.hex,)).fetchone()[0]

    before = stamp()
    time.sleep(0.01)
    store.heartbeat(run.id.hex)
    assert stamp() != before
