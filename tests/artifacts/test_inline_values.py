"""Small step outputs stored inline in their artifact version's record.

A value the builtin JSON or bytes materializer encodes to at most 64 KiB is recorded with its
step (no folder, no file, no rename); everything a user does with an artifact still works:
`load()`, caching by content (same hash as the file would have), lineage, mapping over it,
the CLI and a reader in another process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import pytest

from fanflow import get_step_context, pipeline, step
from fanflow.artifacts.io import INLINE_LIMIT, save_value
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.artifacts.store import LocalArtifactStore
from fanflow.client import Client


@step(enable_cache=False)
def small() -> dict[str, Any]:
    return {"a": [1, 2.5, None], "b": "x"}


@step(enable_cache=False)
def small_bytes() -> bytes:
    return b"\x00\x01\xff"


@step(enable_cache=False)
def exactly_at_limit() -> bytes:
    return b"x" * INLINE_LIMIT


@step(enable_cache=False)
def past_limit() -> bytes:
    return b"x" * (INLINE_LIMIT + 1)


@step(enable_cache=False)
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def double(value: int) -> int:
    return 2 * value


@step(enable_cache=False)
def add_up(values: list[int]) -> int:
    return sum(values)


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".runs" not in p.parts]


def test_small_outputs_are_recorded_inline_and_load_without_files(fanflow_home: Path) -> None:
    @pipeline(enable_cache=False)
    def smalls() -> None:
        small()
        small_bytes()
        exactly_at_limit()

    run = smalls()
    for name, expected in (
        ("small", {"a": [1, 2.5, None], "b": "x"}),
        ("small_bytes", b"\x00\x01\xff"),
        ("exactly_at_limit", b"x" * INLINE_LIMIT),
    ):
        output = run.steps[name].output
        assert output.is_inline, name
        assert not os.path.exists(output.uri)  # the location the files would have had
        assert output.uri.startswith(str(fanflow_home / "artifacts"))
        assert output.load() == expected
        assert Client().get_artifact_version(output.id).load() == expected
    assert _files_under(fanflow_home / "artifacts") == []


def test_the_content_hash_and_size_are_those_of_the_file_it_replaces(tmp_path: Path) -> None:
    @pipeline(enable_cache=False)
    def one_small() -> None:
        small()

    output = one_small().steps["small"].output
    store = LocalArtifactStore(str(tmp_path / "store"))
    as_file = save_value({"a": [1, 2.5, None], "b": "x"}, store, store.uri_for("s", "o", "i"))
    assert as_file.inline is None and os.path.isfile(os.path.join(as_file.uri, "data.json"))
    assert output.content_hash == as_file.content_hash
    assert output.size == as_file.size
    assert output.run_metadata["storage_size"] == as_file.size


def test_values_past_the_limit_and_other_materializers_are_folders(fanflow_home: Path) -> None:
    class Note:
        def __init__(self, text: str) -> None:
            self.text = text

    class NoteMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (Note,)

        def save(self, data: Note) -> None:
            with open(os.path.join(self.uri, "note.txt"), "w") as handle:
                handle.write(data.text)

        def load(self, data_type: type[Any]) -> Note:
            with open(os.path.join(self.uri, "note.txt")) as handle:
                return Note(handle.read())

    @step(enable_cache=False, output_materializers=NoteMaterializer)
    def write_note() -> Note:
        return Note("hello")

    @step(enable_cache=False)
    def located() -> Annotated[int, "located"]:
        # A step that asks where its output goes may write files there: always a folder.
        uri = get_step_context().get_output_artifact_uri()
        assert uri
        return 7

    @pipeline(enable_cache=False)
    def folders() -> None:
        past_limit()
        write_note()
        located()

    run = folders()
    for name in ("past_limit", "write_note", "located"):
        output = run.steps[name].output
        assert not output.is_inline, name
        assert os.path.isdir(output.uri), name
    assert os.listdir(run.steps["write_note"].output.uri) == ["note.txt"]
    assert run.steps["located"].output.load() == 7
    assert run.steps["past_limit"].output.load() == b"x" * (INLINE_LIMIT + 1)


@step
def cached_double(value: int) -> int:
    return 2 * value


@step
def cached_add_up(values: list[int]) -> int:
    return sum(values)


def test_caching_lineage_and_fan_in_over_inline_values() -> None:
    @pipeline
    def fan() -> None:
        cached_add_up([cached_double(i, id=f"double_{i}") for i in range(5)])

    first = fan()
    assert first.steps["cached_add_up"].output.load() == 20
    inputs = first.steps["cached_add_up"].inputs["values"]
    assert [a.is_inline for a in inputs] == [True] * 5
    assert [a.load() for a in inputs] == [0, 2, 4, 6, 8]
    assert inputs[3].producer_step.name == "double_3"
    second = fan()
    assert {s.status for s in second.steps.values()} == {"cached"}
    assert (
        second.steps["cached_add_up"].output.id == first.steps["cached_add_up"].output.id
    )


def test_mapping_over_an_inline_list_in_the_run_and_from_the_client() -> None:
    @pipeline(dynamic=True, enable_cache=False)
    def mapped() -> None:
        add_up(double.map(numbers(6)))

    run = mapped()
    numbers_output = run.steps["numbers"].output
    assert numbers_output.is_inline
    # the split wrote the list's file once, so tasks carry an index rather than the list
    assert os.listdir(numbers_output.uri) == ["data.json"]
    assert run.steps["add_up"].output.load() == 30
    branch = next(s for name, s in run.steps.items() if name.startswith("map:double"))
    item = branch.inputs["value"][0] if isinstance(branch.inputs["value"], list) else None
    item = item or branch.input
    assert item.load() == branch.output.load() // 2

    # A later run may map over the recorded list (the Client's view of it) and its items.
    parent = Client().get_pipeline_run(run.name).steps["numbers"].output

    @pipeline(dynamic=True, enable_cache=False)
    def again() -> None:
        add_up(double.map(parent))

    assert again().steps["add_up"].output.load() == 30


READER = textwrap.dedent(
    """
    import sys
    from fanflow.client import Client
    run = Client().get_pipeline_run(sys.argv[1])
    print(run.steps["small"].output.load()["b"], run.steps["small_bytes"].output.load().hex())
    """
)


def test_another_process_reads_inline_values_from_the_metadata_alone(
    fanflow_home: Path,
) -> None:
    @pipeline(enable_cache=False)
    def two() -> None:
        small()
        small_bytes()

    run = two()
    result = subprocess.run(
        [sys.executable, "-c", READER, run.name],
        env={**os.environ, "FANFLOW_HOME": str(fanflow_home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["x", "0001ff"]


@pytest.mark.parametrize("orchestrator", ["processes", "sequential"])
def test_inline_inputs_reach_steps_in_every_executor(orchestrator: str) -> None:
    @pipeline(enable_cache=False)
    def chain() -> None:
        add_up([double(i, id=f"double_{i}") for i in range(3)])

    run = chain.with_options(orchestrator=orchestrator)()
    assert run.steps["add_up"].output.load() == 6
    assert run.steps["add_up"].output.is_inline


def test_on_s3_a_small_output_uploads_nothing_and_a_large_one_is_an_object(
    s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    root = f"s3://fanflow-test/{uuid.uuid4().hex}/artifacts"
    monkeypatch.setenv("FANFLOW_ARTIFACT_ROOT", root)
    monkeypatch.setenv("FANFLOW_ARTIFACT_STORAGE_OPTIONS", s3_server.storage_options_json())

    @pipeline(enable_cache=False)
    def on_s3() -> None:
        add_up([double(i, id=f"double_{i}") for i in range(3)])
        past_limit()

    run = on_s3()
    fs = s3_server.filesystem()
    small_output = run.steps["double_1"].output
    assert small_output.is_inline and small_output.uri.startswith(root)
    assert not fs.exists(small_output.uri)
    assert run.steps["add_up"].output.load() == 6
    large = run.steps["past_limit"].output
    assert not large.is_inline and fs.exists(large.uri)
    assert large.load() == b"x" * (INLINE_LIMIT + 1)
