"""Schema migrations on SQLite and PostgreSQL: new stores, fanflow 0.1 stores, newer stores,
several processes opening an old store at once, and the explicit API."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.exceptions import SchemaVersionError
from fanflow.metadata import migrations, revisions, schema
from fanflow.metadata.engine import dispose_all
from fanflow.metadata.store import MetadataStore

FIXTURE = Path(__file__).parent / "fixtures" / "release_0_1.db"
LEGACY_TABLES = (
    "pipelines",
    "pipeline_runs",
    "step_runs",
    "artifacts",
    "artifact_versions",
    "step_run_inputs",
    "step_run_outputs",
    "fanflow_schema",
)

pytestmark = [
    pytest.mark.usefixtures("metadata_backend"),
    # SQLAlchemy cannot reflect SQLite's indexes on expressions and says so; expected here.
    pytest.mark.filterwarnings("ignore:.*expression-based index:Warning"),
]


def store_url() -> str:
    return load_settings().metadata_url


def make_release_0_1_store(url: str) -> None:
    """A store exactly as fanflow 0.1 left it: its tables and rows, and no `alembic_version`."""
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURE, path)
        return
    migrations.upgrade(url, revisions.BASELINE)
    source = create_engine(f"sqlite:///{FIXTURE}")
    target = create_engine(url)
    try:
        with source.connect() as old, target.begin() as new:
            new.execute(text("DROP TABLE alembic_version"))
            new.execute(text("DELETE FROM fanflow_schema"))
            for name in LEGACY_TABLES:
                table = schema.metadata.tables[name]
                # Only the columns 0.1 had: later revisions add some (inline_payload).
                present = {c["name"] for c in inspect(old).get_columns(name)}
                columns = [c for c in table.c if c.name in present]
                rows = [dict(row._mapping) for row in old.execute(select(*columns))]
                if rows:
                    new.execute(table.insert(), rows)
    finally:
        source.dispose()
        target.dispose()


EXPRESSION_INDEXES = {"ix_step_runs_group_duration"}


def schema_differences(diffs: list[object]) -> list[object]:
    """Alembic's differences, less indexes on expressions: SQLite does not reflect them, and
    PostgreSQL gives their expression back in its own spelling, so they compare as changed
    (`tests/metadata/test_dashboard_indexes.py` checks those indexes itself)."""

    def is_expression_index(diff: object) -> bool:
        return (
            isinstance(diff, tuple)
            and diff[0] in ("add_index", "remove_index")
            and diff[1].name in EXPRESSION_INDEXES
        )

    return [d for d in diffs if not is_expression_index(d)]


def column_type(url: str, table: str, column: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            columns = {c["name"]: c for c in inspect(conn).get_columns(table)}
        return str(columns[column]["type"])
    finally:
        engine.dispose()


def version_rows(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


@step(enable_cache=False)
def total(values: list[int]) -> int:
    return sum(values)


@step(enable_cache=False)
def double(value: int) -> int:
    return 2 * value


@pipeline(name="legacy_static", enable_cache=False)
def legacy_static() -> None:
    total([double(i, id=f"double_{i}") for i in range(3)])


# --- the history and new stores -------------------------------------------------------------


def test_history_is_one_line_ending_at_head() -> None:
    history = migrations.history()
    assert [r.revision for r in history] == list(revisions.KNOWN)
    assert history[0].down_revision is None
    for before, after in itertools.pairwise(history):
        assert after.down_revision == before.revision
    assert all(r.description for r in history)
    assert history[-1].revision == revisions.HEAD


def test_migrations_from_nothing_build_exactly_the_current_schema() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = store_url()
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    assert migrations.current(url) is None
    assert migrations.pending(url) == list(revisions.KNOWN)
    assert migrations.upgrade(url) == revisions.HEAD
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert schema_differences(compare_metadata(context, schema.metadata)) == []
    finally:
        engine.dispose()
    assert migrations.pending(url) == []
    run = legacy_static()  # and the store works
    assert Client().get_pipeline_run(run.name).status == "completed"


def test_a_new_store_is_created_at_head_with_the_same_schema() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    legacy_static()
    url = store_url()
    assert migrations.current(url) == revisions.HEAD
    assert version_rows(url) == [revisions.HEAD]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert schema_differences(compare_metadata(context, schema.metadata)) == []
    finally:
        engine.dispose()


# --- fanflow 0.1 stores ---------------------------------------------------------------------


def test_a_release_0_1_store_is_upgraded_and_its_runs_read_back() -> None:
    url = store_url()
    make_release_0_1_store(url)
    assert migrations.current(url) == revisions.BASELINE
    assert migrations.pending(url) == list(revisions.KNOWN[1:])

    client = Client()
    static = client.get_pipeline_run("legacy-static-run")
    assert static.status == "completed"
    assert sorted(static.steps) == ["double_0", "double_1", "double_2", "total"]
    assert [a.name for a in static.steps["total"].inputs["values"]] == [
        "legacy_static::double_0::output",
        "legacy_static::double_1::output",
        "legacy_static::double_2::output",
    ]
    dynamic = client.get_pipeline_run("legacy-dyn")  # by prefix
    assert dynamic.name == "legacy-dynamic-run"
    assert len(dynamic.steps) == 6
    assert client.get_artifact_version("legacy_static::total::output").version == "1"

    assert migrations.current(url) == revisions.HEAD
    assert version_rows(url) == [revisions.HEAD]
    assert column_type(url, "artifact_versions", "size") == "BIGINT"

    legacy_static()  # new runs go on numbering the old artifacts
    versions = client.list_artifact_versions(name="legacy_static::total::output")
    assert sorted(v.version for v in versions) == ["1", "2"]
    assert client.get_artifact_version("legacy_static::total::output").load() == 6


def test_sizes_past_two_gib_are_recorded_after_the_upgrade() -> None:
    from fanflow.ids import new_id
    from fanflow.metadata.records import NewArtifactVersion

    url = store_url()
    make_release_0_1_store(url)
    store = MetadataStore(url)
    record = store.save_artifact_version(
        NewArtifactVersion(
            id=new_id(),
            artifact_name="huge",
            version=None,
            uri="s3://bucket/huge",
            materializer="fanflow.bytes",
            data_type="builtins.bytes",
            artifact_type="DataArtifact",
            size=5 * 2**30,
            content_hash="0" * 64,
            save_type="manual",
            producer_step_run_id=None,
            producer_run_id=None,
            run_metadata={},
        )
    )
    assert record.size == 5 * 2**30


def test_explicit_upgrade_of_a_release_0_1_store() -> None:
    url = store_url()
    make_release_0_1_store(url)
    assert migrations.upgrade(url) == revisions.HEAD
    assert migrations.upgrade(url) == revisions.HEAD  # a second upgrade does nothing
    assert version_rows(url) == [revisions.HEAD]
    assert Client().get_pipeline_run("legacy-static-run").status == "completed"


# --- newer stores -------------------------------------------------------------------------------


def test_a_store_from_a_newer_fanflow_is_refused_and_left_alone() -> None:
    legacy_static()
    dispose_all()
    url = store_url()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match=r"newer fanflow.*9999_future"):
        Client().list_pipeline_runs()
    with pytest.raises(SchemaVersionError, match="9999_future"):
        migrations.upgrade(url)
    assert version_rows(url) == ["9999_future"]
    assert migrations.current(url) == "9999_future"


def test_a_pre_migration_store_with_a_newer_schema_version_is_refused() -> None:
    url = store_url()
    make_release_0_1_store(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE fanflow_schema SET value = '7'"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="schema version 7"):
        Client().list_pipeline_runs()
    engine = create_engine(url)
    try:
        assert not inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()


# --- several processes at once --------------------------------------------------------------

OPENER = textwrap.dedent(
    """
    import os, sys, time
    barrier = sys.argv[1]
    while not os.path.exists(barrier):
        time.sleep(0.005)
    from fanflow.client import Client
    runs = Client().list_pipeline_runs(size=50)
    print(sorted(run.name for run in runs))
    """
)


@pytest.mark.parametrize("start", ["release_0_1_store", "empty_database"])
def test_processes_opening_a_store_at_once_create_or_upgrade_it_once(
    tmp_path: Path, start: str
) -> None:
    url = store_url()
    expected = []
    if start == "release_0_1_store":
        make_release_0_1_store(url)
        expected = ["legacy-dynamic-run", "legacy-static-run"]
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    barrier = tmp_path / "go"
    env = {**os.environ, "FANFLOW_METADATA_URL": url}
    openers = [
        subprocess.Popen(
            [sys.executable, str(script), str(barrier)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(1.0)  # let them all import fanflow and wait at the barrier
    barrier.touch()
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0, err
        assert json.loads(out.strip().replace("'", '"')) == expected
    assert version_rows(url) == [revisions.HEAD]
    assert column_type(url, "artifact_versions", "size") == "BIGINT"


# --- the fast path ----------------------------------------------------------------------------

IMPORTS_AFTER_OPEN = textwrap.dedent(
    """
    import json, sys
    from fanflow.client import Client
    Client().list_pipeline_runs()
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "alembic")))
    """
)


def test_opening_a_new_or_current_store_does_not_import_alembic(fanflow_home: Path) -> None:
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    for _ in ("new store", "current store"):
        result = subprocess.run(
            [sys.executable, "-c", IMPORTS_AFTER_OPEN],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert json.loads(result.stdout) == []
    assert migrations.current(store_url()) == revisions.HEAD


def test_a_store_from_an_interim_build_with_some_new_tables_is_upgraded() -> None:
    """Builds between fanflow 0.1 and migrations created new tables and indexes on open but kept
    schema version 1: the upgrade adds only what such a store lacks."""
    url = store_url()
    make_release_0_1_store(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        schema.metadata.tables["artifact_version_tags"].create(conn)
        conn.execute(
            text(
                "CREATE INDEX ix_step_runs_group_index "
                "ON step_runs (run_id, map_group, map_index)"
            )
        )
    engine.dispose()
    assert Client().get_pipeline_run("legacy-static-run").status == "completed"
    assert version_rows(url) == [revisions.HEAD]
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        assert inspector.has_table("hook_invocations")
        names = {index["name"] for index in inspector.get_indexes("step_runs")}
        assert {"ix_step_runs_group_index", "ix_step_runs_group_times"} <= names
    finally:
        engine.dispose()


# --- 0004: small values inline ------------------------------------------------------------------


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns(table)}
    finally:
        engine.dispose()


def test_a_0003_store_gains_inline_payloads_and_refuses_a_downgrade_that_would_lose_them() -> None:
    from alembic import command

    url = store_url()
    make_release_0_1_store(url)
    assert migrations.upgrade(url, "0003_tags_hooks_group_indexes") == (
        "0003_tags_hooks_group_indexes"
    )
    assert "inline_payload" not in _columns(url, "artifact_versions")

    legacy_static()  # opening the store upgrades it; the new run's small outputs are inline
    assert migrations.current(url) == revisions.HEAD
    assert "inline_payload" in _columns(url, "artifact_versions")
    client = Client()
    old = client.get_artifact_version("legacy_static::total::output", "1")
    new = client.get_artifact_version("legacy_static::total::output", "2")
    assert not old.is_inline  # recorded before the revision: its value is files
    assert new.is_inline and new.load() == 6

    dispose_all()
    engine = create_engine(url)
    try:
        with (
            engine.connect() as conn,
            conn.begin(),
            pytest.raises(RuntimeError, match="hold their value only inline"),
        ):
            command.downgrade(migrations._config(conn), "0003_tags_hooks_group_indexes")
    finally:
        engine.dispose()
    assert "inline_payload" in _columns(url, "artifact_versions")
