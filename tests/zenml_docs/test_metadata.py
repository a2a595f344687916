"""Examples of ZenML's "Metadata" page, run with `zenml` -> `fanflow`."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pytest

from fanflow import get_pipeline_context, get_step_context, log_metadata, pipeline, step
from fanflow.artifacts.artifact_config import ArtifactConfig
from fanflow.client import Client
from fanflow.exceptions import StepContextError
from fanflow.metadata.metadata_types import DType, Path, StorageSize, Uri


def test_attaching_metadata_to_steps_inside_and_after():
    @step
    def train_model_step(data: list) -> float:
        accuracy = sum(data) / len(data)
        log_metadata(metadata={"evaluation_metrics": {"accuracy": accuracy}})
        return accuracy

    @pipeline
    def training():
        train_model_step([1.0, 0.0])

    run = training()
    step_run = Client().get_pipeline_run(run.id).steps["train_model_step"]
    assert step_run.run_metadata["evaluation_metrics"] == {"accuracy": 0.5}
    log_metadata(
        metadata={"post_analysis": {"feature_importance": [0.2, 0.5, 0.3]}},
        step_name="train_model_step",
        run_id_name_or_prefix=run.name,
    )
    log_metadata(metadata={"by_id": True}, step_id=step_run.id)
    again = Client().get_pipeline_run(run.id).steps["train_model_step"].run_metadata
    assert again["post_analysis"] == {"feature_importance": [0.2, 0.5, 0.3]}
    assert again["by_id"] is True


def test_attaching_metadata_to_pipeline_runs():
    @step
    def log_run_info_step() -> None:
        context = get_step_context()
        log_metadata(
            metadata={"git_info": {"commit": "abc123"}, "environment": "test"},
            run_id_name_or_prefix=context.pipeline_run.id,
        )

    @pipeline
    def info_pipeline():
        log_run_info_step()

    run = info_pipeline()
    log_metadata(
        metadata={"post_run_analysis": {"total_training_time": 350}},
        run_id_name_or_prefix=run.name,
    )
    recorded = Client().get_pipeline_run(run.id).run_metadata
    assert recorded["git_info"] == {"commit": "abc123"}
    assert recorded["post_run_analysis"] == {"total_training_time": 350}


def test_attaching_metadata_to_artifacts_with_special_types():
    @step
    def process_data_step(raw_data: dict) -> pd.DataFrame:
        processed_data = pd.DataFrame(raw_data)
        log_metadata(
            metadata={
                "data_stats": {
                    "row_count": len(processed_data),
                    "columns": list(processed_data.columns),
                    "storage_size": StorageSize(processed_data.memory_usage().sum()),
                }
            },
            infer_artifact=True,
        )
        return processed_data

    @step
    def split_data_step(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        train, test = data.iloc[:2], data.iloc[2:]
        log_metadata(
            metadata={"split_info": {"train_size": len(train)}},
            artifact_name="output_0",
            infer_artifact=True,
        )
        log_metadata(
            metadata={
                "dataset_source": Uri("gs://my-bucket/datasets/source.csv"),
                "preprocessing_script": Path("/scripts/preprocess.py"),
                "column_types": {"age": DType("int"), "income": DType("float")},
                "processed_data_size": StorageSize(2500000),
            },
            artifact_name="output_1",
            infer_artifact=True,
        )
        return train, test

    @pipeline
    def data_pipeline():
        split_data_step(process_data_step({"age": [1, 2, 3], "income": [1.0, 2.0, 3.0]}))

    run = data_pipeline()
    processed = run.steps["process_data_step"].outputs["output"][0]
    assert processed.run_metadata["data_stats"]["row_count"] == 3
    assert processed.run_metadata["data_stats"]["columns"] == ["age", "income"]
    assert isinstance(processed.run_metadata["data_stats"]["storage_size"], int)
    split = run.steps["split_data_step"].outputs
    assert split["output_0"][0].run_metadata["split_info"] == {"train_size": 2}
    test_meta = split["output_1"][0].run_metadata
    assert test_meta["dataset_source"] == "gs://my-bucket/datasets/source.csv"
    assert test_meta["column_types"] == {"age": "int", "income": "float"}
    assert test_meta["processed_data_size"] == 2500000

    log_metadata(
        metadata={"validation_results": {"distribution_shift": 0.03}},
        artifact_version_id=processed.id,
    )
    name = processed.name
    log_metadata(
        metadata={
            "model_metrics": {"accuracy": 0.95},
            "data_details": {"dataset_size": StorageSize(1500000)},
        },
        artifact_name=name,
        artifact_version=processed.version,
    )
    fetched = Client().get_artifact_version(name, processed.version).run_metadata
    assert fetched["validation_results"] == {"distribution_shift": 0.03}
    assert fetched["data_details"] == {"dataset_size": 1500000}


def test_step_context_output_helpers_and_upstream_metadata():
    @step
    def produce(
        name: str,
    ) -> tuple[
        Annotated[
            str,
            ArtifactConfig(
                name="custom_name",
                run_metadata={"config_metadata": "bar"},
                tags=["config_tags"],
            ),
        ],
        str,
    ]:
        ctx = get_step_context()
        ctx.add_output_metadata({"m": 1}, output_name=name)
        ctx.add_output_tags(["t1", "t1"], output_name=name)
        assert ctx.get_output_tags(name) == ["config_tags", "t1"]
        assert ctx.get_output_metadata(name) == {"m": 1}
        assert ctx.get_output_artifact_uri(name) == ctx.get_output_artifact_uri(name)
        with pytest.raises(StepContextError):
            ctx.add_output_tags(["x"])  # two outputs: the name is required
        return "a", "b"

    @step
    def upstream() -> int:
        log_metadata({"quality": "ok"}, infer_artifact=True)
        return 42

    @step
    def downstream(x: int) -> None:
        md = get_step_context().inputs["x"].run_metadata
        assert md["quality"] == "ok"

    @pipeline
    def context_pipeline():
        produce("custom_name")
        downstream(upstream())

    run = context_pipeline()
    assert run.status == "completed"
    produced = Client().get_artifact_version("custom_name")
    assert produced.run_metadata["config_metadata"] == "bar"
    assert produced.run_metadata["m"] == 1
    assert sorted(produced.tags) == ["config_tags", "t1"]
    assert produced.uri == run.steps["produce"].outputs["custom_name"][0].uri


def test_get_step_context_outside_a_step_raises_runtime_error():
    with pytest.raises(RuntimeError):
        get_step_context()
    with pytest.raises(StepContextError):
        get_step_context()


def test_accessing_context_during_pipeline_composition():
    @step
    def train_model(model_package: str, model_class: str) -> str:
        return f"{model_package}.{model_class}"

    @pipeline(
        extra={
            "model_configs": [
                ("sklearn.tree", "DecisionTreeClassifier"),
                ("sklearn.ensemble", "RandomForestClassifier"),
            ]
        }
    )
    def my_pipeline():
        context = get_pipeline_context()
        assert context.name == "my_pipeline"
        model_configs = context.extra["model_configs"]
        for i, (model_package, model_class) in enumerate(model_configs):
            train_model(model_package=model_package, model_class=model_class, id=f"train_model_{i}")

    run = my_pipeline()
    assert run.steps["train_model_1"].outputs["output"][0].load() == (
        "sklearn.ensemble.RandomForestClassifier"
    )
    with pytest.raises(RuntimeError):
        get_pipeline_context()
