"""`fanflow db current | history | upgrade [--sql]` on old stores, on SQLite and PostgreSQL.

Each test gets a fresh store: a SQLite file under its own FANFLOW_HOME, or a fresh schema of the
session's PostgreSQL database (`metadata_backend`). The old store is a real fanflow 0.1 store
(`make_release_0_1_store`: its tables, rows and no migration stamp), or one built by the
migrations up to an older revision.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli.conftest import env_for
from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.metadata import migrations, revisions
from metadata.test_migrations import make_release_0_1_store

pytestmark = pytest.mark.usefixtures("metadata_backend")

SECOND = revisions.KNOWN[1]


def url() -> str:
    return load_settings().metadata_url


def test_current_and_history_report_an_old_store_without_changing_it(fanflow):
    make_release_0_1_store(url())
    shown = fanflow.json("db", "current")
    assert shown["revision"] == revisions.BASELINE and shown["head"] == revisions.HEAD
    assert shown["pending"] == list(revisions.KNOWN[1:])
    plain = fanflow("db", "current")
    assert f"revision:  {revisions.BASELINE}" in plain.stdout
    assert "fanflow db upgrade" in plain.stderr
    history = fanflow.json("db", "history")
    assert [(r["revision"], r["state"]) for r in history] == [
        (revisions.BASELINE, "current"),
        *((rev, "pending") for rev in revisions.KNOWN[1:]),
    ]
    assert migrations.current(url()) == revisions.BASELINE  # looking changed nothing


def test_upgrade_sql_prints_the_statements_and_changes_nothing(fanflow):
    migrations.upgrade(url(), revisions.BASELINE)
    result = fanflow("db", "upgrade", "--sql")
    assert "nothing was changed" in result.stderr
    sql = result.stdout
    assert "artifact_version_tags" in sql and "hook_invocations" in sql
    assert f"version_num='{revisions.HEAD}'" in sql
    assert migrations.current(url()) == revisions.BASELINE
    assert migrations.pending(url()) == list(revisions.KNOWN[1:])


def test_upgrade_step_by_step_then_the_store_is_used(fanflow):
    make_release_0_1_store(url())
    out = fanflow("db", "upgrade", "--revision", SECOND).stdout
    assert f"from {revisions.BASELINE} to {SECOND}" in out
    assert migrations.current(url()) == SECOND
    out = fanflow("db", "upgrade").stdout
    assert f"from {SECOND} to {revisions.HEAD}" in out
    assert fanflow.json("db", "current")["pending"] == []
    again = fanflow("db", "upgrade")
    assert "already at" in again.stderr and again.stdout == ""
    refused = fanflow("db", "upgrade", "--revision", revisions.BASELINE, ok=False)
    assert refused.exit_code == 1 and "does not downgrade" in refused.output
    unknown = fanflow("db", "upgrade", "--revision", "nope", ok=False)
    assert unknown.exit_code == 1 and "Unknown revision 'nope'" in unknown.output
    # the 0.1 store's runs survived and new runs are recorded
    assert Client().list_pipeline_runs(size=100)

    @step(enable_cache=False)
    def one() -> int:
        return 1

    @pipeline(enable_cache=False)
    def after_upgrade():
        one()

    assert after_upgrade().steps["one"].output.load() == 1


def test_a_store_written_by_a_newer_fanflow_is_reported_not_touched(fanflow):
    migrations.upgrade(url())
    from sqlalchemy import create_engine, text

    engine = create_engine(url())
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    result = fanflow("db", "current", ok=False)
    assert result.exit_code == 1
    assert "9999_from_the_future" in result.output and "newer" in result.output
    assert fanflow("db", "upgrade", ok=False).exit_code == 1
    assert migrations.current(url()) == "9999_from_the_future"


def test_the_console_script_upgrades_an_empty_store(fanflow_home):
    """The verbs as a shell runs them, in a fresh process."""
    env = env_for(fanflow_home)
    run = [sys.executable, "-m", "fanflow.cli", "db"]
    shown = subprocess.run([*run, "current", "--json"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["revision"] is None
    done = subprocess.run([*run, "upgrade"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert f"from an empty database to {revisions.HEAD}" in done.stdout
    assert migrations.current(url()) == revisions.HEAD
