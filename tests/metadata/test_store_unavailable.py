"""A metadata store that cannot be written (file deleted mid-run, disk full, read-only home):
a clear error naming the path, and never a run reported `completed` whose records are gone."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import event

from fanflow import log_metadata, pipeline, step
from fanflow.client import Client
from fanflow.exceptions import MetadataStoreUnavailableError
from fanflow.metadata.engine import dispose_all, get_engine


def _two_step_pipeline(trouble):
    @step(enable_cache=False)
    def produce() -> int:
        return 1

    @step(enable_cache=False)
    def consume(x: int) -> int:
        if os.environ.get("MAKE_TROUBLE"):
            trouble()
            log_metadata({"notes": "x" * 200_000})  # needs new pages in the database
        return x + 1

    @pipeline(enable_cache=False)
    def troubled():
        consume(produce())

    return troubled


def test_database_deleted_mid_run_is_a_clear_error_not_a_completed_run(
    fanflow_home, monkeypatch
):
    database = fanflow_home / "fanflow.db"
    troubled = _two_step_pipeline(lambda: database.unlink())
    troubled()
    monkeypatch.setenv("MAKE_TROUBLE", "1")
    with pytest.raises(MetadataStoreUnavailableError) as info:
        troubled()
    assert str(database) in str(info.value) and "deleted" in str(info.value)
    statuses = [run.status for run in Client().list_pipeline_runs(size=50)]
    assert "completed" not in statuses
    # the same process goes on with a fresh store at that path
    monkeypatch.delenv("MAKE_TROUBLE")
    assert troubled().status == "completed"


def test_a_full_database_disk_is_a_clear_error_and_the_run_is_not_completed(
    fanflow_home, monkeypatch
):
    """SQLite's `max_page_count` makes the database full exactly as a full disk does: writes
    fail with SQLITE_FULL ("database or disk is full")."""
    database = fanflow_home / "fanflow.db"

    def fill_the_disk() -> None:
        with sqlite3.connect(database) as probe:
            pages = probe.execute("PRAGMA page_count").fetchone()[0]
        engine = get_engine(f"sqlite:///{database}")
        engine.dispose()  # every connection from now on is capped
        event.listen(
            engine,
            "connect",
            lambda dbapi, _record: dbapi.execute(f"PRAGMA max_page_count={pages}"),
        )

    troubled = _two_step_pipeline(fill_the_disk)
    troubled()
    monkeypatch.setenv("MAKE_TROUBLE", "1")
    with pytest.raises(MetadataStoreUnavailableError) as info:
        troubled()
    assert str(database) in str(info.value) and "full" in str(info.value)
    dispose_all()
    latest = Client().list_pipeline_runs(size=1)[0]
    assert latest.status != "completed"


RUN_ONE_STEP = """
from fanflow import pipeline, step

@step(enable_cache=False)
def one() -> int:
    return 1

@pipeline(enable_cache=False)
def read_only_home():
    one()

read_only_home()
"""


@pytest.mark.parametrize("existing", [True, False])
def test_a_read_only_home_is_a_clear_error_naming_the_path(existing):
    outer = Path(tempfile.mkdtemp(prefix="fanflow-ro-"))
    try:
        outer.chmod(0o755)
        home = outer / "home"
        env = {**os.environ, "FANFLOW_HOME": str(home)}
        if existing:  # a store made by its owner, then used by someone who may only read
            made = subprocess.run(
                [sys.executable, "-c", RUN_ONE_STEP], env=env, capture_output=True, text=True
            )
            assert made.returncode == 0, made.stderr
            for path in [home, *home.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
        # root ignores permissions, so the run goes as `nobody` there; others lose write access
        command = [sys.executable, "-c", RUN_ONE_STEP]
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv to drop privileges")
            command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        else:
            (home if existing else outer).chmod(0o555)
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, cwd=str(outer)
        )
        assert result.returncode != 0
        assert "MetadataStoreUnavailableError" in result.stderr
        named = str(home / "fanflow.db") if existing else str(home)
        assert named in result.stderr
        assert "status `completed`" not in result.stdout + result.stderr
    finally:
        for path in [outer, *outer.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(outer, ignore_errors=True)
