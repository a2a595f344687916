"""Examples of ZenML's "Register Existing Data as a ZenML Artifact" page (and the same section of
the "Artifacts" page), run with `zenml` -> `fanflow`.

`register_artifact` records a file or folder that already lies in the artifact store as an
artifact version, without copying it; loading it gives a `pathlib.Path` to a temporary copy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from uuid import uuid4

import pytest

from fanflow import load_artifact, pipeline, register_artifact, step
from fanflow.client import Client
from fanflow.enums import ArtifactType


def test_register_existing_folder_as_an_artifact():
    prefix = Client().active_stack.artifact_store.path
    test_file_name = "test_file.txt"
    preexisting_folder = os.path.join(prefix, f"my_test_folder_{uuid4()}")
    preexisting_file = os.path.join(preexisting_folder, test_file_name)

    # produce a folder with a file inside artifact store boundaries
    os.makedirs(preexisting_folder)  # the docs' os.mkdir, with the store's root made first
    with open(preexisting_file, "w") as f:
        f.write("test")

    # create artifact from the preexisting folder
    register_artifact(folder_or_file_uri=preexisting_folder, name="my_folder_artifact")

    # consume artifact as a folder
    temp_artifact_folder_path = (
        Client().get_artifact_version(name_id_or_prefix="my_folder_artifact").load()
    )
    assert isinstance(temp_artifact_folder_path, Path)
    assert os.path.isdir(temp_artifact_folder_path)
    with open(os.path.join(temp_artifact_folder_path, test_file_name)) as f:
        assert f.read() == "test"
    # registered in place: nothing was copied into the store, the record points at the folder
    version = Client().get_artifact_version("my_folder_artifact")
    assert version.uri == preexisting_folder
    assert version.save_type == "preexisting"
    assert version.data_type == "pathlib.Path"
    assert version.type == ArtifactType.DATA
    assert str(temp_artifact_folder_path) != preexisting_folder


def test_register_existing_file_as_an_artifact():
    prefix = Client().active_stack.artifact_store.path
    test_file_name = "test_file.txt"
    preexisting_folder = os.path.join(prefix, f"my_test_folder_{uuid4()}")
    preexisting_file = os.path.join(preexisting_folder, test_file_name)

    # produce a file inside artifact store boundaries
    os.makedirs(preexisting_folder)
    with open(preexisting_file, "w") as f:
        f.write("test")

    # create artifact from the preexisting file
    register_artifact(folder_or_file_uri=preexisting_file, name="my_file_artifact")

    # consume artifact as a file
    temp_artifact_file_path = (
        Client().get_artifact_version(name_id_or_prefix="my_file_artifact").load()
    )
    assert isinstance(temp_artifact_file_path, Path)
    assert not os.path.isdir(temp_artifact_file_path)
    with open(temp_artifact_file_path) as f:
        assert f.read() == "test"


def test_register_existing_folder_and_use_it_in_a_pipeline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v1data").mkdir()
    (tmp_path / "v1data" / "case_001.txt").write_text("scan")
    DATSET_NAME = "v1_nnunet_dataset"
    received = []

    @step(enable_cache=True)
    def load_v1() -> str:
        """Loads dataset from outside artifact store bounds into artifact store."""
        client = Client()
        dataset_rel_path = "v1data"
        as_path = client.active_stack.artifact_store.path
        # Define path within artifact store bounds
        dataset_path_in_as = os.path.join(as_path, DATSET_NAME)

        # copy dataset into artifact store
        shutil.copytree(dataset_rel_path, dataset_path_in_as, dirs_exist_ok=True)

        try:
            # create artifact from the preexisting folder
            registered_artifact = register_artifact(
                folder_or_file_uri=dataset_path_in_as, name=DATSET_NAME
            )
        except RuntimeError:
            # In case the artifact already existed
            registered_artifact = client.get_artifact_version(DATSET_NAME)

        return str(registered_artifact.name)

    @step(enable_cache=True)
    def process_data(input_artifact_name: str) -> None:
        # load dataset
        source_dataset = load_artifact(name_or_id=input_artifact_name)
        received.append((source_dataset / "case_001.txt").read_text())

    @pipeline
    def example_pipeline():
        v1_dataset = load_v1()
        process_data(v1_dataset)

    run = example_pipeline()
    assert received == ["scan"]
    # registered inside a step: recorded with the step, as one of its outputs (ZenML links it)
    (linked,) = run.steps["load_v1"].outputs[DATSET_NAME]
    assert linked.load().joinpath("case_001.txt").read_text() == "scan"
    assert linked.producer_step_run_id == run.steps["load_v1"].id
    # a second run of the registering step hits the documented RuntimeError branch
    again = example_pipeline.with_options(steps={"load_v1": {"enable_cache": False}})()
    assert again.steps["load_v1"].status == "completed"
    assert again.steps["load_v1"].output.load() == DATSET_NAME
    assert list(Client().get_artifact(DATSET_NAME).versions) == ["1"]


def test_registering_a_uri_twice_raises_runtime_error():
    prefix = Client().active_stack.artifact_store.path
    folder = os.path.join(prefix, "data")
    os.makedirs(folder)
    first = register_artifact(folder, name="data", version="v1", tags=["raw"])
    assert first.version == "v1" and first.tags == ["raw"]
    with pytest.raises(RuntimeError, match="already used by artifact data"):
        register_artifact(folder, name="other")


def test_register_artifact_keeps_type_and_metadata():
    prefix = Client().active_stack.artifact_store.path
    folder = os.path.join(prefix, "checkpoints")
    os.makedirs(folder)
    Path(folder, "epoch=01.ckpt").write_bytes(b"\x00" * 10)
    version = register_artifact(
        folder,
        name="all_my_model_checkpoints",
        artifact_type=ArtifactType.MODEL,
        artifact_metadata={"epochs": 1},
    )
    assert version.type == ArtifactType.MODEL
    assert version.run_metadata["epochs"] == 1
    assert version.run_metadata["storage_size"] == 10


def test_uris_outside_the_artifact_store_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(FileNotFoundError, match="outside of artifact store bounds"):
        register_artifact(str(outside), name="nope")
    prefix = Client().active_stack.artifact_store.path
    os.makedirs(prefix, exist_ok=True)
    sneaky = os.path.join(prefix, "sneaky")
    os.symlink(outside, sneaky)  # a link inside the store leading out of it
    with pytest.raises(FileNotFoundError, match="outside of artifact store bounds"):
        register_artifact(sneaky, name="nope")
    with pytest.raises(FileNotFoundError, match="outside of artifact store bounds"):
        register_artifact(os.path.join(prefix, "..", "elsewhere"), name="nope")
    with pytest.raises(FileNotFoundError, match="Nothing exists"):
        register_artifact(os.path.join(prefix, "missing"), name="nope")
    with pytest.raises(ValueError, match="bookkeeping"):
        os.makedirs(os.path.join(prefix, ".staging", "x"))
        register_artifact(os.path.join(prefix, ".staging", "x"), name="nope")
    assert len(Client().list_artifact_versions()) == 0


def test_registered_data_removed_later_is_a_clear_error():
    from fanflow.exceptions import ArtifactMissingError

    prefix = Client().active_stack.artifact_store.path
    folder = os.path.join(prefix, "gone")
    os.makedirs(folder)
    version = register_artifact(folder, name="gone")
    shutil.rmtree(folder)
    with pytest.raises(ArtifactMissingError, match="registered data"):
        version.load()


def test_deleting_the_run_that_registered_data_keeps_the_data_and_its_record():
    from fanflow.config import load_settings
    from fanflow.metadata.maintenance import delete_runs
    from fanflow.metadata.store import MetadataStore

    prefix = Client().active_stack.artifact_store.path
    folder = os.path.join(prefix, "datasets", "v1", "images")
    os.makedirs(folder)
    Path(folder, "a.png").write_bytes(b"png")

    @step
    def register() -> int:
        register_artifact(folder, name="images")
        return 1

    @pipeline
    def p():
        register()

    run = p()
    deletion = delete_runs(MetadataStore(load_settings().metadata_url), [run.id.hex])
    assert folder not in deletion.released_uris
    assert Path(folder, "a.png").read_bytes() == b"png"
    version = Client().get_artifact_version("images")
    assert version.producer_step_run_id is None
    assert (version.load() / "a.png").read_bytes() == b"png"
