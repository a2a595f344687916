"""Examples of ZenML's "Artifacts" page, run with `zenml` -> `fanflow`."""

from __future__ import annotations

import os
from typing import Annotated

import numpy as np
import pandas as pd
import pytest

from fanflow import pipeline, step
from fanflow.artifacts.unmaterialized_artifact import UnmaterializedArtifact
from fanflow.client import Client
from fanflow.exceptions import RunFailedError


@step
def create_data() -> pd.DataFrame:
    return pd.DataFrame({"feature_1": [1, 2, 3], "feature_2": [4, 5, 6], "target": [10, 20, 30]})


@step
def process_data(df: pd.DataFrame) -> pd.DataFrame:
    df["feature_3"] = df["feature_1"] * df["feature_2"]
    return df


def test_creating_and_consuming_artifacts():
    @pipeline
    def simple_pipeline():
        data = create_data()
        process_data(data)

    run = simple_pipeline()
    processed = run.steps["process_data"].outputs["output"][0].load()
    assert processed["feature_3"].tolist() == [4, 10, 18]


def test_returning_multiple_outputs_named_with_annotated():
    @step
    def split_data(
        data: np.ndarray, target: np.ndarray
    ) -> tuple[
        Annotated[np.ndarray, "X_train"],
        Annotated[np.ndarray, "X_test"],
        Annotated[np.ndarray, "y_train"],
        Annotated[np.ndarray, "y_test"],
    ]:
        X_train, X_test = data[:80], data[80:]
        y_train, y_test = target[:80], target[80:]
        return X_train, X_test, y_train, y_test

    @step
    def make() -> tuple[np.ndarray, np.ndarray]:
        return np.arange(100), np.arange(100) * 2

    @pipeline
    def split_pipeline():
        data, target = make()
        split_data(data, target)

    run = split_pipeline()
    outputs = run.steps["split_data"].outputs
    assert sorted(outputs) == ["X_test", "X_train", "y_test", "y_train"]
    assert len(outputs["X_train"][0].load()) == 80
    assert Client().get_artifact_version("y_test").load().tolist() == list(range(160, 200, 2))


def test_dynamic_naming_with_placeholders():
    @step
    def extract_data(source: str) -> Annotated[pd.DataFrame, "{dataset_type}_data"]:
        return pd.DataFrame({"source": [source]})

    @pipeline
    def data_pipeline():
        extract_data.with_options(substitutions={"dataset_type": "train"})(source="train_source")
        extract_data.with_options(substitutions={"dataset_type": "test"})(source="test_source")

    data_pipeline()
    assert Client().get_artifact_version("train_data").load()["source"][0] == "train_source"
    assert Client().get_artifact_version("test_data").load()["source"][0] == "test_source"


def test_date_placeholder_and_pipeline_substitutions():
    @step
    def produce() -> Annotated[int, "{stage}_{date}"]:
        return 1

    @pipeline(substitutions={"stage": "nightly"})
    def dated_pipeline():
        produce()

    run = dated_pipeline()
    (artifact,) = run.steps["produce"].outputs["{stage}_{date}"]
    assert artifact.name == f"nightly_{run.start_time.strftime('%Y_%m_%d')}"


def test_missing_placeholder_fails_the_step_with_a_clear_error():
    @step
    def produce() -> Annotated[int, "{unknown}_data"]:
        return 1

    @pipeline
    def bad_names():
        produce()

    with pytest.raises(RunFailedError) as raised:
        bad_names()
    failed = Client().get_pipeline_run(raised.value.run_name).steps["produce"]
    assert "{unknown}_data" in failed.exception
    assert "substitutions" in failed.exception


def test_unmaterialized_artifact_input_gets_the_producers_uri():
    seen = {}

    @step
    def small_dict() -> dict:
        return {"a": 1}

    @step
    def consume(data: UnmaterializedArtifact, small: UnmaterializedArtifact) -> None:
        seen["uri"] = data.uri
        seen["type"] = type(data)
        # a small output is recorded inline; a raw consumer still finds its file at the URI
        seen["small_uri"] = small.uri
        seen["small_files"] = sorted(os.listdir(small.uri))

    @pipeline
    def raw_pipeline():
        consume(create_data(), small_dict())

    run = raw_pipeline()
    assert seen["type"] is UnmaterializedArtifact
    assert seen["uri"] == run.steps["create_data"].outputs["output"][0].uri
    assert seen["small_uri"] == run.steps["small_dict"].output.uri
    assert seen["small_files"] == ["data.json"]
    assert run.steps["small_dict"].output.load() == {"a": 1}
