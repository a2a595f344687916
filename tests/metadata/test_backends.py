"""The metadata store behaves the same on SQLite and PostgreSQL: lookups by prefix (case and
wildcards included), big sizes, and many orchestrator processes writing to one database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.exceptions import AmbiguousIdentifierError, DoesNotExistError

pytestmark = pytest.mark.usefixtures("metadata_backend")


@step(enable_cache=False)
def one() -> int:
    return 1


@pipeline(enable_cache=False, name="prefixes")
def prefixes() -> None:
    one()


def run_named(name: str) -> str:
    return prefixes.with_options(run_name=name)().name


def test_prefix_lookups_are_case_sensitive_on_every_database() -> None:
    run_named("Alpha-upper")
    run_named("alpha-lower")
    client = Client()
    assert client.get_pipeline_run("alpha").name == "alpha-lower"
    assert client.get_pipeline_run("Alpha").name == "Alpha-upper"
    with pytest.raises(DoesNotExistError):
        client.get_pipeline_run("ALPHA")


def test_prefix_wildcards_are_taken_literally() -> None:
    run_named("100%_done")
    run_named("1000_runs")
    client = Client()
    assert client.get_pipeline_run("100%").name == "100%_done"
    for literal_miss in ("100_", "10_0", "1%"):  # as LIKE patterns these would match
        with pytest.raises(DoesNotExistError):
            client.get_pipeline_run(literal_miss)
    with pytest.raises(AmbiguousIdentifierError):
        client.get_pipeline_run("100")


def test_id_prefixes_find_runs_and_artifacts() -> None:
    run = prefixes()
    client = Client()
    assert client.get_pipeline_run(str(run.id)[:8]).id == run.id
    assert client.get_pipeline_run(str(run.id).upper()[:10]).id == run.id
    artifact = run.steps["one"].output
    assert client.get_artifact_version(str(artifact.id)[:10]).id == artifact.id


# --- many orchestrators, one database --------------------------------------------------------

ORCHESTRATOR = textwrap.dedent(
    """
    import sys
    from fanflow import pipeline, step

    @step(enable_cache=False)
    def numbers(count: int) -> list[int]:
        return list(range(count))

    @step(enable_cache=False)
    def square(value: int) -> int:
        return value * value

    @step(enable_cache=False)
    def total(values: list[int]) -> int:
        return sum(values)

    @pipeline(enable_cache=False, name="shared_static")
    def shared_static():
        total([square(i, id=f"square_{i}") for i in range(6)])

    @pipeline(enable_cache=False, name="shared_dynamic", dynamic=True)
    def shared_dynamic():
        total(square.map(numbers(8)))

    for _ in range(3):
        assert shared_static().steps["total"].output.load() == 55
        assert shared_dynamic().steps["total"].output.load() == 140
    print("ok")
    """
)

ORCHESTRATORS = 4
RUNS_EACH = 3


@pytest.mark.slow
def test_concurrent_orchestrators_number_versions_and_name_runs_without_races(
    tmp_path: Path,
) -> None:
    script = tmp_path / "orchestrator.py"
    script.write_text(ORCHESTRATOR)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script)],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(ORCHESTRATORS)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert out.strip().endswith("ok")

    client = Client()
    expected_runs = ORCHESTRATORS * RUNS_EACH
    for name in ("shared_static", "shared_dynamic"):
        runs = client.list_pipeline_runs(pipeline_name=name, size=100)
        assert runs.total == expected_runs
        assert {run.status for run in runs} == {"completed"}
        assert len({run.name for run in runs}) == expected_runs
        versions = client.list_artifact_versions(name=f"{name}::total::output", size=100)
        numbers = sorted(int(v.version) for v in versions)
        assert numbers == list(range(1, expected_runs + 1))
    squares = client.list_artifact_versions(name="shared_static::square_3::output", size=100)
    assert sorted(int(v.version) for v in squares) == list(range(1, expected_runs + 1))


# --- clear errors for PostgreSQL URLs ----------------------------------------------------------


def test_an_unreachable_server_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fanflow.exceptions import MetadataStoreError
    from services import free_port

    port = free_port()
    monkeypatch.setenv(
        "FANFLOW_METADATA_URL", f"postgresql+psycopg://me:s3cret@127.0.0.1:{port}/fanflow"
    )
    with pytest.raises(MetadataStoreError) as info:
        Client().list_pipeline_runs()
    message = str(info.value)
    assert f"127.0.0.1:{port}/fanflow" in message and "server is running" in message
    assert "s3cret" not in message


def test_a_missing_driver_says_what_to_install(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["psycopg"] = None  # as if fanflow[postgres] was not installed
        from fanflow.client import Client
        from fanflow.exceptions import MetadataStoreError
        try:
            Client().list_pipeline_runs()
        except MetadataStoreError as exc:
            print(exc)
        """
    )
    env = {**os.environ, "FANFLOW_METADATA_URL": "postgresql+psycopg://me@127.0.0.1/db"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert 'pip install "fanflow[postgres]"' in result.stdout, result.stderr
