"""The metadata store refuses what it cannot trust and never loses recorded work."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.exceptions import MetadataStoreError, SchemaVersionError
from fanflow.metadata.engine import dispose_all


@step(enable_cache=False)
def one() -> int:
    return 1


@pipeline(enable_cache=False)
def tiny():
    one()


@step(enable_cache=False)
def many() -> list[int]:
    """Beyond the inline limit (64 KiB as JSON): stored as a folder of files."""
    return list(range(30_000))


@pipeline(enable_cache=False)
def large():
    many()


def test_corrupted_file_is_refused_clearly(fanflow_home):
    fanflow_home.mkdir(parents=True)
    (fanflow_home / "fanflow.db").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(MetadataStoreError) as info:
        tiny()
    message = str(info.value)
    assert "fanflow.db" in message and "not a database" in message
    assert (fanflow_home / "fanflow.db").read_bytes().startswith(b"this is not a database")


def test_foreign_sqlite_file_is_refused_and_left_untouched(fanflow_home):
    fanflow_home.mkdir(parents=True)
    path = fanflow_home / "fanflow.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    with pytest.raises(MetadataStoreError, match="customers"):
        Client().list_pipeline_runs()
    with sqlite3.connect(path) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert tables == {"customers"}


def test_store_from_a_newer_fanflow_is_refused(fanflow_home):
    tiny()
    dispose_all()
    with sqlite3.connect(fanflow_home / "fanflow.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num='0999_from_the_future'")
    with pytest.raises(SchemaVersionError, match="newer fanflow"):
        tiny()
    with sqlite3.connect(fanflow_home / "fanflow.db") as conn:
        assert conn.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == 1


def test_missing_artifact_file_gives_a_clear_error(fanflow_home):
    import shutil

    from fanflow.exceptions import ArtifactMissingError

    run = large()
    artifact = run.steps["many"].output
    shutil.rmtree(artifact.uri)
    with pytest.raises(ArtifactMissingError) as info:
        artifact.load()
    assert artifact.uri in str(info.value) and "missing" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


CONCURRENT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from fanflow import pipeline, step

    tag = sys.argv[1]

    @step(enable_cache=False)
    def work(i: int) -> int:
        time.sleep(0.01)
        return i

    @step(enable_cache=False)
    def gather(values: list[int]) -> int:
        return sum(values)

    @pipeline(enable_cache=False, name="shared_pipeline")
    def shared():
        gather([work(i, id=f"work_{i}") for i in range(40)])

    for _ in range(3):
        run = shared.with_options(run_name=tag + "-{date}-{time}")()
        assert run.steps["gather"].output.load() == sum(range(40))
    print("ok", tag)
    """
)


@pytest.mark.slow
def test_two_processes_run_pipelines_against_one_store(fanflow_home, tmp_path, metadata_backend):
    import os

    script = tmp_path / "two_writers.py"
    script.write_text(CONCURRENT_SCRIPT)
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), tag],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("alpha", "beta")
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.startswith("ok")
    client = Client()
    runs = client.list_pipeline_runs(pipeline_name="shared_pipeline", size=100)
    assert runs.total == 6
    assert {r.status for r in runs} == {"completed"}
    for run in runs:
        assert len(run.steps) == 41
    versions = client.list_artifact_versions(name="shared_pipeline::gather::output", size=100)
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4, 5, 6]
