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


def _produce_pipeline():
    @step
    def produce(x: int) -> int:
        return x * 2

    @step
    def consume(y: int) -> int:
        return y + 1

    @pipeline(enable_cache=False)
    def produce_and_consume(x: int = 1):
        consume(produce(x))

    return produce_and_consume


def test_bulk_log_metadata_to_runs_steps_and_artifacts_by_id_and_name():
    from fanflow import bulk_log_metadata
    from fanflow.models import (
        ArtifactVersionIdentifier,
        PipelineRunIdentifier,
        StepRunIdentifier,
    )

    produce_and_consume = _produce_pipeline()
    first = produce_and_consume(x=1)
    second = produce_and_consume(x=2)
    output = first.steps["produce"].outputs["output"][0]
    bulk_log_metadata(
        metadata={"experiment": "exp-1", "size": StorageSize(10), "source": Uri("s3://b/k")},
        pipeline_runs=[PipelineRunIdentifier(id=first.id), PipelineRunIdentifier(name=second.name)],
        step_runs=[
            StepRunIdentifier(id=first.steps["consume"].id),
            StepRunIdentifier(name="produce", run=PipelineRunIdentifier(name=second.name)),
        ],
        artifact_versions=[
            ArtifactVersionIdentifier(id=output.id),
            ArtifactVersionIdentifier(
                name=second.steps["consume"].outputs["output"][0].name,
                version=second.steps["consume"].outputs["output"][0].version,
            ),
        ],
    )
    client = Client()
    for run_id in (first.id, second.id):
        assert client.get_pipeline_run(run_id).run_metadata["experiment"] == "exp-1"
    assert client.get_pipeline_run(first.id).steps["consume"].run_metadata["size"] == 10
    assert client.get_pipeline_run(second.id).steps["produce"].run_metadata["source"] == (
        "s3://b/k"
    )
    assert "experiment" not in client.get_pipeline_run(first.id).steps["produce"].run_metadata
    assert client.get_artifact_version(output.id).run_metadata["experiment"] == "exp-1"
    consumed = client.get_pipeline_run(second.id).steps["consume"].outputs["output"][0]
    assert consumed.run_metadata["experiment"] == "exp-1"


def test_bulk_log_metadata_inside_a_step_and_its_errors():
    from fanflow import bulk_log_metadata
    from fanflow.models import PipelineRunIdentifier, StepRunIdentifier

    @step
    def tagged() -> tuple[int, int]:
        run = get_step_context().pipeline_run
        bulk_log_metadata(
            metadata={"stage": "train"},
            pipeline_runs=[PipelineRunIdentifier(id=run.id)],
            step_runs=[StepRunIdentifier(id=get_step_context().step_run.id)],
            infer_artifacts=True,
        )
        return 1, 2

    @pipeline(enable_cache=False)
    def inside():
        tagged()

    run = inside()
    assert run.run_metadata["stage"] == "train"
    assert run.steps["tagged"].run_metadata["stage"] == "train"
    for name in ("output_0", "output_1"):
        assert run.steps["tagged"].outputs[name][0].run_metadata["stage"] == "train"
    with pytest.raises(ValueError, match="must provide metadata"):
        bulk_log_metadata(metadata={}, pipeline_runs=[PipelineRunIdentifier(id=run.id)])
    with pytest.raises(ValueError, match="at least one entity"):
        bulk_log_metadata(metadata={"a": 1})
    with pytest.raises(ValueError, match="only within a step"):
        bulk_log_metadata(metadata={"a": 1}, infer_artifacts=True)
    with pytest.raises(ValueError, match="exactly one"):
        PipelineRunIdentifier(id=run.id, name=run.name)
    with pytest.raises(ValueError, match="run="):
        StepRunIdentifier(name="tagged")


def test_client_create_run_metadata_on_each_resource_type():
    from fanflow.enums import MetadataResourceTypes
    from fanflow.models import RunMetadataResource

    produce_and_consume = _produce_pipeline()
    run = produce_and_consume(x=3)
    step_run = run.steps["produce"]
    artifact = step_run.outputs["output"][0]
    client = Client()
    client.create_run_metadata(
        metadata={"reviewed": True, "path": Path("/scripts/check.py"), "dtype": DType("int")},
        resources=[
            RunMetadataResource(id=run.id, type=MetadataResourceTypes.PIPELINE_RUN),
            RunMetadataResource(id=step_run.id, type=MetadataResourceTypes.STEP_RUN),
            RunMetadataResource(id=artifact.id, type=MetadataResourceTypes.ARTIFACT_VERSION),
        ],
    )
    client.create_run_metadata(
        metadata={"second": 2},
        resources=[RunMetadataResource(id=run.id, type="pipeline_run")],
    )
    fetched = client.get_pipeline_run(run.id)
    assert fetched.run_metadata["reviewed"] is True and fetched.run_metadata["second"] == 2
    assert fetched.steps["produce"].run_metadata["path"] == "/scripts/check.py"
    assert client.get_artifact_version(artifact.id).run_metadata["dtype"] == "int"
    with pytest.raises(ValueError, match="not supported"):
        client.create_run_metadata(
            metadata={"a": 1},
            resources=[RunMetadataResource(id=run.id, type=MetadataResourceTypes.MODEL_VERSION)],
        )
    with pytest.raises(ValueError, match="cannot be recorded"):
        client.create_run_metadata(
            metadata={"a": object()},
            resources=[RunMetadataResource(id=run.id, type=MetadataResourceTypes.PIPELINE_RUN)],
        )


def test_client_create_run_metadata_inside_a_step_travels_with_the_step():
    from fanflow.enums import MetadataResourceTypes
    from fanflow.models import RunMetadataResource

    @step
    def annotate() -> int:
        context = get_step_context()
        Client().create_run_metadata(
            metadata={"from_step": 1},
            resources=[
                RunMetadataResource(
                    id=context.pipeline_run.id, type=MetadataResourceTypes.PIPELINE_RUN
                ),
                RunMetadataResource(id=context.step_run.id, type=MetadataResourceTypes.STEP_RUN),
            ],
        )
        return 1

    @pipeline(enable_cache=False)
    def annotated():
        annotate()

    run = annotated()
    assert run.run_metadata["from_step"] == 1
    assert run.steps["annotate"].run_metadata["from_step"] == 1
