"""Examples of ZenML's "Fetching pipelines" page, run with `zenml` -> `fanflow`."""

from __future__ import annotations

from typing import Annotated, Tuple

import pandas as pd

from fanflow import get_step_context, pipeline, step
from fanflow.client import Client


class ThresholdClassifier:
    """Stands in for scikit-learn's SVC in the documented example."""

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma

    def score(self, X: pd.DataFrame, y: pd.Series) -> float:
        return float(((X.iloc[:, 0] > 5.0).astype(int) == y).mean())


@step
def training_data_loader() -> Tuple[
    Annotated[pd.DataFrame, "X_train"],
    Annotated[pd.DataFrame, "X_test"],
    Annotated[pd.Series, "y_train"],
    Annotated[pd.Series, "y_test"],
]:
    X = pd.DataFrame({"sepal_length": [4.9, 5.1, 6.3, 4.7, 5.8]})
    y = pd.Series([0, 1, 1, 0, 1], name="target")
    return X.iloc[:4], X.iloc[4:], y.iloc[:4], y.iloc[4:]


@step
def svc_trainer(
    X_train: pd.DataFrame,
    y_train: pd.Series,
    gamma: float = 0.001,
) -> Tuple[
    Annotated[ThresholdClassifier, "trained_model"],
    Annotated[float, "training_acc"],
]:
    model = ThresholdClassifier(gamma=gamma)
    train_acc = model.score(X_train, y_train)
    print(f"Train accuracy: {train_acc}")
    return model, train_acc


@pipeline
def training_pipeline(gamma: float = 0.002):
    X_train, X_test, y_train, y_test = training_data_loader()
    svc_trainer(gamma=gamma, X_train=X_train, y_train=y_train)


def test_code_example_of_this_section():
    last_run = training_pipeline()
    assert last_run.status == "completed"
    assert training_pipeline.model.last_run.id == last_run.id
    pipeline_model = Client().get_pipeline("training_pipeline")
    assert pipeline_model.last_run.id == last_run.id
    trainer_step = last_run.steps["svc_trainer"]
    model = trainer_step.outputs["trained_model"].load()
    assert isinstance(model, ThresholdClassifier) and model.gamma == 0.002
    assert trainer_step.outputs["training_acc"][0].load() == 1.0
    assert trainer_step.config.parameters == {"gamma": 0.002}


def test_pipelines_runs_and_last_successful_run():
    first = training_pipeline()
    second = training_pipeline(gamma=0.5)
    pipelines = Client().list_pipelines()
    assert [p.name for p in pipelines] == ["training_pipeline"]
    pipeline_model = Client().get_pipeline("training_pipeline")
    runs = pipeline_model.runs
    assert [r.id for r in runs] == [second.id, first.id]  # newest first
    assert pipeline_model.get_runs()[0].id == second.id
    assert training_pipeline.runs[0].id == second.id
    assert training_pipeline.last_run.id == second.id
    assert training_pipeline.last_successful_run.id == second.id
    assert Client().get_pipeline_run(second.name).id == second.id
    assert Client().get_pipeline_run(second.id).status == "completed"
    assert second.config.parameters == {"gamma": 0.5}


def test_step_and_artifact_information():
    run = training_pipeline()
    steps = run.steps
    step_run = steps["training_data_loader"]
    assert sorted(step_run.outputs) == ["X_test", "X_train", "y_test", "y_train"]
    output = step_run.outputs["y_train"]
    assert output.load().name == "target"  # a pandas Series keeps its name
    artifact = Client().get_artifact("y_train")
    assert list(artifact.versions) == ["1"]
    same = Client().get_artifact_version("y_train", "1")
    by_id = Client().get_artifact_version(str(same.id))
    assert by_id.id == same.id == artifact.versions["1"].id
    assert by_id.run_metadata["storage_size"] == by_id.size > 0
    assert by_id.run_metadata["shape"] == [4]
    trainer = steps["svc_trainer"]
    assert trainer.inputs["X_train"].load().equals(step_run.outputs["X_train"].load())


def test_fetching_information_during_run_execution():
    seen = {}

    @step(enable_cache=False)
    def my_step() -> None:
        current_run_name = get_step_context().pipeline_run.name
        current_run = Client().get_pipeline_run(current_run_name)
        runs = current_run.pipeline.runs
        seen["current"] = runs[0].name
        seen["previous"] = runs[1].name if len(runs) > 1 else None

    @pipeline
    def looking_back():
        my_step()

    first = looking_back()
    second = looking_back()
    assert seen == {"current": second.name, "previous": first.name}


def test_step_information_parameters_and_settings():
    @step(settings={"experiment_tracker.mlflow": {"experiment_name": "custom_experiment"}})
    def tracked(gamma: float = 0.1) -> float:
        return gamma

    @pipeline
    def settings_pipeline():
        tracked(gamma=0.5)

    run = settings_pipeline()
    step_run = run.steps["tracked"]
    assert step_run.config.parameters == {"gamma": 0.5}
    assert step_run.config.settings == {
        "experiment_tracker.mlflow": {"experiment_name": "custom_experiment"}
    }
    assert run.config.settings == {}
