"""Side files, registered data, downloads and visualizations on an fsspec store (S3 on a moto
server on loopback): the same behaviour as on a local folder, published by a manifest written
last and verified on the way back."""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import Annotated, Any

import pytest

from fanflow import get_step_context, pipeline, register_artifact, step
from fanflow.artifacts.fsspec_store import MANIFEST_NAME
from fanflow.client import Client
from fanflow.enums import VisualizationType
from fanflow.exceptions import ArtifactCorruptedError, ArtifactMissingError
from fanflow.io import fileio
from fanflow.materializers.base_materializer import BaseMaterializer
from fanflow.types import MarkdownString


@pytest.fixture
def s3_root(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    root = f"s3://fanflow-test/{uuid.uuid4().hex}/artifacts"
    monkeypatch.setenv("FANFLOW_ARTIFACT_ROOT", root)
    monkeypatch.setenv("FANFLOW_ARTIFACT_STORAGE_OPTIONS", s3_server.storage_options_json())
    return root


def test_side_files_on_s3_are_listed_in_the_manifest_and_verified(
    s3_root: str, s3_server: Any, tmp_path: Path
) -> None:
    @step
    def train() -> Annotated[dict, "model"]:
        uri = get_step_context().get_output_artifact_uri()
        with fileio.open(os.path.join(uri, "logs", "events.txt"), "w") as handle:
            handle.write("epoch 1")
        return {"w": 1}

    @pipeline
    def p() -> None:
        train()

    artifact = p().steps["train"].outputs["model"][0]
    assert artifact.uri.startswith(s3_root)
    assert artifact.load() == {"w": 1}
    fs = s3_server.filesystem()
    base = artifact.uri.removeprefix("s3://")
    manifest = json.loads(fs.cat_file(f"{base}/{MANIFEST_NAME}"))
    assert sorted(entry["path"] for entry in manifest["files"]) == ["data.json", "logs/events.txt"]
    with Client().active_stack.artifact_store.open(f"{artifact.uri}/logs/events.txt", "r") as f:
        assert f.read() == "epoch 1"
    target = tmp_path / "model.zip"
    artifact.download_files(str(target))
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["data.json", "logs/events.txt"]
        assert archive.read("logs/events.txt") == b"epoch 1"
    # a side file changed in the bucket after publishing is refused like any other file
    fs.pipe_file(f"{base}/logs/events.txt", b"tampered")
    with pytest.raises(ArtifactCorruptedError, match=r"events\.txt"):
        artifact.download_files(str(tmp_path / "again.zip"))
    assert not (tmp_path / "again.zip").exists()


def test_register_artifact_on_s3_loads_a_local_path_without_copying_at_registration(
    s3_root: str, s3_server: Any
) -> None:
    prefix = Client().active_stack.artifact_store.path
    assert prefix == s3_root
    fs = s3_server.filesystem()
    folder = f"{prefix}/my_test_folder_{uuid.uuid4()}"
    fs.pipe_file(f"{folder.removeprefix('s3://')}/test_file.txt", b"test")
    fs.pipe_file(f"{folder.removeprefix('s3://')}/sub/more.txt", b"more")
    registered = register_artifact(folder_or_file_uri=folder, name="my_folder_artifact")
    assert registered.uri == folder
    loaded = Client().get_artifact_version(name_id_or_prefix="my_folder_artifact").load()
    assert isinstance(loaded, Path) and loaded.is_dir()
    assert (loaded / "test_file.txt").read_text() == "test"
    assert (loaded / "sub" / "more.txt").read_text() == "more"
    one = register_artifact(f"{folder}/test_file.txt", name="my_file_artifact")
    file_path = one.load()
    assert file_path.is_file() and file_path.read_text() == "test"
    with pytest.raises(FileNotFoundError, match="outside of artifact store bounds"):
        register_artifact("s3://fanflow-test/elsewhere/data", name="outside")


def test_visualizations_travel_with_the_artifact_on_s3(s3_root: str, capsys: Any) -> None:
    @step
    def report() -> MarkdownString:
        return MarkdownString("# Header\nSome text")

    @pipeline
    def p() -> None:
        report()

    artifact = p().steps["report"].output
    (visualization,) = artifact.visualizations
    assert visualization.type == "markdown" and visualization.uri == f"{artifact.uri}/output.md"
    capsys.readouterr()
    artifact.visualize()
    assert "# Header\nSome text" in capsys.readouterr().out
    assert artifact.load() == "# Header\nSome text"
    assert type(artifact.load()) is MarkdownString


class Report:
    def __init__(self, title: str) -> None:
        self.title = title


class ReportMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (Report,)

    def save(self, data: Report) -> None:
        with open(os.path.join(self.uri, "model.bin"), "wb") as handle:
            handle.write(b"\x00" * 4096)

    def load(self, data_type: type) -> Report:
        with open(os.path.join(self.uri, "model.bin"), "rb") as handle:
            return Report(str(len(handle.read())))

    def save_visualizations(self, data: Report) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "report.html")
        with open(path, "w") as handle:
            handle.write(f"<h1>{data.title}</h1>")
        return {path: VisualizationType.HTML}


def test_visualizing_on_s3_downloads_only_the_visualization_files(
    s3_root: str, s3_server: Any, capsys: Any
) -> None:
    @step
    def make() -> Report:
        return Report("quarterly")

    @pipeline
    def p() -> None:
        make()

    artifact = p().steps["make"].output
    fs = s3_server.filesystem()
    fs.rm_file(f"{artifact.uri.removeprefix('s3://')}/model.bin")  # the big file is gone
    capsys.readouterr()
    artifact.visualize()  # still works: only the index and report.html are fetched
    assert "<h1>quarterly</h1>" in capsys.readouterr().out
    with pytest.raises(ArtifactMissingError, match=r"model\.bin"):
        artifact.load()
    fs.pipe_file(f"{artifact.uri.removeprefix('s3://')}/report.html", b"<h1>changed</h1>")
    with pytest.raises(ArtifactCorruptedError, match=r"report\.html"):
        artifact.visualize()
