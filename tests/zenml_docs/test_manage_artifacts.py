"""Examples of ZenML's "Manage artifacts" page (artifact names, custom versions, metadata and
tags, external artifacts, artifacts from other pipelines), run with `zenml` -> `fanflow`.

Each test is the documented program (a small DataFrame stands in for scikit-learn's iris) and
checks what the page says it does.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional, Tuple

import numpy as np
import pandas as pd
import pytest
from sklearn.base import ClassifierMixin

from fanflow import ArtifactConfig, ExternalArtifact, get_step_context, pipeline, step
from fanflow.client import Client
from fanflow.exceptions import RunFailedError


def _iris() -> pd.DataFrame:
    return pd.DataFrame({"sepal_length": [5.1, 4.9, 6.3], "target": [0, 0, 2]})


def test_giving_names_to_your_artifacts():
    @step
    def training_data_loader() -> Annotated[pd.DataFrame, "iris_dataset"]:
        return _iris()

    @pipeline
    def feature_engineering_pipeline():
        training_data_loader()

    feature_engineering_pipeline()
    feature_engineering_pipeline.with_options(enable_cache=False)()
    versions = Client().get_artifact("iris_dataset").versions
    assert list(versions) == ["1", "2"]
    pd.testing.assert_frame_equal(versions["2"].load(), _iris())


def test_versioning_artifacts_manually_custom_version_can_be_used_once():
    @step(enable_cache=False)
    def training_data_loader() -> Annotated[
        pd.DataFrame, ArtifactConfig(name="iris_dataset", version="raw_2023")
    ]:
        return _iris()

    @pipeline
    def feature_engineering_pipeline():
        training_data_loader()

    feature_engineering_pipeline()
    artifact = Client().get_artifact_version("iris_dataset", version="raw_2023")
    assert artifact.version == "raw_2023"
    pd.testing.assert_frame_equal(artifact.load(), _iris())
    # "Since custom versions cannot be duplicated, the above step can only be run once
    # successfully."
    with pytest.raises(RunFailedError):
        feature_engineering_pipeline()
    assert list(Client().get_artifact("iris_dataset").versions) == ["raw_2023"]


def test_add_metadata_and_tags_to_artifacts_three_ways():
    @step
    def config_approach() -> Annotated[
        str,
        ArtifactConfig(
            name="artifact_name",
            run_metadata={"metadata_key": "metadata_value"},
            tags=["tag_name"],
        ),
    ]:
        return "string"

    @step
    def functional_approach() -> Annotated[str, "artifact_name"]:
        step_context = get_step_context()
        step_context.add_output_metadata(
            output_name="artifact_name", metadata={"metadata_key": "metadata_value"}
        )
        step_context.add_output_tags(output_name="artifact_name", tags=["tag_name"])
        return "string"

    @step
    def combined_approach() -> Annotated[
        str,
        ArtifactConfig(
            name="artifact_name",
            run_metadata={"metadata_key": "metadata_value"},
            tags=["tag_name"],
        ),
    ]:
        step_context = get_step_context()
        step_context.add_output_metadata(
            output_name="artifact_name", metadata={"metadata_key2": "metadata_value2"}
        )
        step_context.add_output_tags(output_name="artifact_name", tags=["tag_name2"])
        return "string"

    for one_step in (config_approach, functional_approach, combined_approach):

        @pipeline(enable_cache=False)
        def tagging_pipeline(one_step=one_step):
            one_step()

        tagging_pipeline()
        artifact = Client().get_artifact_version("artifact_name")
        assert artifact.run_metadata["metadata_key"] == "metadata_value"
        assert "tag_name" in artifact.tags
        assert artifact.tags[0].name == "tag_name"
    assert artifact.run_metadata["metadata_key2"] == "metadata_value2"
    assert sorted(artifact.tags) == ["tag_name", "tag_name2"]
    tagged = Client().list_artifact_versions(name="artifact_name", tag="tag_name2")
    assert [v.id for v in tagged] == [artifact.id]


def test_consuming_external_artifacts_within_a_pipeline():
    seen = []

    @step
    def print_data(data: np.ndarray):
        print(data)
        seen.append(data)

    @pipeline
    def printing_pipeline():
        data = ExternalArtifact(value=np.array([0]))
        print_data(data=data)

    run = printing_pipeline()
    assert [a.tolist() for a in seen] == [[0]]
    (consumed,) = run.steps["print_data"].inputs["data"]
    assert consumed.name.startswith("external_")
    assert consumed.load().tolist() == [0]


def test_external_artifact_needs_a_value():
    with pytest.raises(ValueError, match="value"):
        ExternalArtifact()


def test_consuming_artifacts_produced_by_other_pipelines():
    @step
    def training_data_loader() -> Annotated[
        pd.DataFrame, ArtifactConfig(name="iris_dataset", version="raw_2023")
    ]:
        return _iris()

    @pipeline
    def feature_engineering_pipeline():
        training_data_loader()

    feature_engineering_pipeline()
    received = []

    @step
    def trainer(dataset: pd.DataFrame):
        received.append(dataset)

    @pipeline
    def training_pipeline():
        client = Client()
        by_name = client.get_artifact_version(name_id_or_prefix="iris_dataset")
        dataset_artifact = client.get_artifact_version(name_id_or_prefix=by_name.id)
        dataset_artifact = client.get_artifact_version(
            name_id_or_prefix="iris_dataset", version="raw_2023"
        )
        trainer(dataset=dataset_artifact)

    training_pipeline()
    pd.testing.assert_frame_equal(received[0], _iris())


def test_save_and_load_artifacts_not_produced_by_pipelines():
    from fanflow import load_artifact, save_artifact

    prediction = np.array([1])
    save_artifact(prediction, name="iris_predictions")
    assert load_artifact("iris_predictions").tolist() == [1]
    assert Client().get_artifact("iris_predictions").latest_version.load().tolist() == [1]
    save_artifact(np.array([2]), name="iris_predictions")
    # "load_artifact is simply short-hand for ... client.get_artifact(name).load()"
    assert Client().get_artifact("iris_predictions").load().tolist() == [2]
    assert load_artifact("iris_predictions").tolist() == [2]


def test_download_files_of_an_artifact_version_as_a_zip(tmp_path, monkeypatch):
    import io
    import zipfile

    monkeypatch.chdir(tmp_path)

    @step
    def training_data_loader() -> Annotated[pd.DataFrame, "iris_dataset"]:
        return _iris()

    @pipeline
    def feature_engineering_pipeline():
        training_data_loader()

    feature_engineering_pipeline()
    client = Client()
    artifact = client.get_artifact_version(name_id_or_prefix="iris_dataset")
    os.makedirs("path/to")
    artifact.download_files("path/to/save.zip")
    with zipfile.ZipFile("path/to/save.zip") as archive:
        # the data, and the `describe()` visualization with its index, as ZenML stores them too
        names = sorted(archive.namelist())
        assert names == [".fanflow-visualizations.json", "data.parquet", "describe.csv"]
        name = "data.parquet"
        stored = archive.read(name)
    with open(os.path.join(artifact.uri, name), "rb") as handle:
        assert handle.read() == stored
    if name.endswith(".parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(stored)), _iris())
    # "the path must have the `.zip` extension"
    with pytest.raises(ValueError, match=r"\.zip"):
        artifact.download_files("path/to/save.tar")
    with pytest.raises(FileExistsError, match="overwrite"):
        artifact.download_files("path/to/save.zip")
    artifact.download_files("path/to/save.zip", overwrite=True)
    assert os.listdir("path/to") == ["save.zip"]  # no temporary file left behind


def test_download_files_of_registered_data(tmp_path):
    import zipfile

    from fanflow import register_artifact

    prefix = Client().active_stack.artifact_store.path
    folder = os.path.join(prefix, "checkpoints")
    os.makedirs(os.path.join(folder, "epoch_1"))
    with open(os.path.join(folder, "epoch_1", "model.ckpt"), "w") as handle:
        handle.write("weights")
    version = register_artifact(folder, name="ckpts")
    version.download_files(str(tmp_path / "ckpts.zip"))
    with zipfile.ZipFile(tmp_path / "ckpts.zip") as archive:
        assert archive.namelist() == ["epoch_1/model.ckpt"]
        assert archive.read("epoch_1/model.ckpt") == b"weights"


def test_linking_data_not_produced_by_pipelines_older_path_type():
    """The page's `PreexistingArtifactPath` variant: the loaded value is a `pathlib.Path`."""
    from uuid import uuid4

    from fanflow import PreexistingArtifactPath, register_artifact

    prefix = Client().active_stack.artifact_store.path
    test_file_name = "test_file.txt"
    preexisting_folder = os.path.join(prefix, f"my_test_folder_{uuid4()}")
    preexisting_file = os.path.join(preexisting_folder, test_file_name)
    os.makedirs(preexisting_folder)
    with open(preexisting_file, "w") as f:
        f.write("test")
    register_artifact(folder_or_file_uri=preexisting_folder, name="my_folder_artifact")
    temp_artifact_folder_path = (
        Client().get_artifact_version(name_id_or_prefix="my_folder_artifact").load()
    )
    assert isinstance(temp_artifact_folder_path, PreexistingArtifactPath)
    assert os.path.isdir(temp_artifact_folder_path)
    register_artifact(folder_or_file_uri=preexisting_file, name="my_file_artifact")
    temp_artifact_file_path = (
        Client().get_artifact_version(name_id_or_prefix="my_file_artifact").load()
    )
    assert isinstance(temp_artifact_file_path, PreexistingArtifactPath)
    with open(temp_artifact_file_path) as f:
        assert f.read() == "test"


def test_code_example_of_this_section():
    """The page's closing example, as written (scikit-learn's digits and SVC)."""
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    from fanflow import load_artifact, log_artifact_metadata, save_artifact

    @step
    def versioned_data_loader_step() -> Annotated[
        Tuple[np.ndarray, np.ndarray],
        ArtifactConfig(
            name="my_dataset",
            tags=["digits", "computer vision", "classification"],
        ),
    ]:
        """Loads the digits dataset as a tuple of flattened numpy arrays."""
        digits = load_digits()
        return (digits.images.reshape((len(digits.images), -1)), digits.target)

    @step
    def model_finetuner_step(
        model: ClassifierMixin, dataset: Tuple[np.ndarray, np.ndarray]
    ) -> Annotated[
        ClassifierMixin,
        ArtifactConfig(name="my_model", is_model_artifact=True, tags=["SVC", "trained"]),
    ]:
        """Finetunes a given model on a given dataset."""
        model.fit(dataset[0], dataset[1])
        accuracy = model.score(dataset[0], dataset[1])
        log_artifact_metadata(metadata={"accuracy": float(accuracy)})
        return model

    @pipeline
    def model_finetuning_pipeline(
        dataset_version: Optional[str] = None,
        model_version: Optional[str] = None,
    ):
        client = Client()
        # Either load a previous version of "my_dataset" or create a new one
        if dataset_version:
            dataset = client.get_artifact_version(
                name_id_or_prefix="my_dataset", version=dataset_version
            )
        else:
            dataset = versioned_data_loader_step()

        # Load the model to finetune
        # If no version is specified, the latest version of "my_model" is used
        model = client.get_artifact_version(name_id_or_prefix="my_model", version=model_version)

        # Finetune the model
        # This automatically creates a new version of "my_model"
        model_finetuner_step(model=model, dataset=dataset)

    # Save an untrained model as first version of "my_model"
    untrained_model = SVC(gamma=0.001)
    save_artifact(untrained_model, name="my_model", version="1", tags=["SVC", "untrained"])

    # Create a first version of "my_dataset" and train the model on it
    model_finetuning_pipeline()

    # Finetune the latest model on an older version of the dataset
    model_finetuning_pipeline(dataset_version="1")

    # Run inference with the latest model on an older version of the dataset
    latest_trained_model = load_artifact("my_model")
    old_dataset = load_artifact("my_dataset", version="1")
    predictions = latest_trained_model.predict(old_dataset[0])
    assert len(predictions) == len(old_dataset[1])
    versions = Client().get_artifact("my_model").versions
    assert list(versions) == ["1", "2", "3"]
    assert versions["3"].run_metadata["accuracy"] > 0.9
    assert sorted(versions["3"].tags) == ["SVC", "trained"]


def test_log_artifact_metadata_outside_a_step_targets_the_newest_version():
    from fanflow import log_artifact_metadata, save_artifact

    save_artifact([1], name="scores")
    save_artifact([2], name="scores")
    log_artifact_metadata(metadata={"checked": True}, artifact_name="scores")
    log_artifact_metadata(metadata={"first": True}, artifact_name="scores", artifact_version="1")
    versions = Client().get_artifact("scores").versions
    assert versions["2"].run_metadata["checked"] is True
    assert versions["1"].run_metadata["first"] is True
    with pytest.raises(ValueError, match="within a step"):
        log_artifact_metadata(metadata={"x": 1})
