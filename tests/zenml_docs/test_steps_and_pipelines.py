"""Examples of ZenML's "Steps & Pipelines" page, run with `zenml` -> `fanflow`."""

from __future__ import annotations

from typing import Annotated, Tuple

import numpy as np
import pytest

from fanflow import pipeline, step
from fanflow.client import Client


@step
def load_data() -> dict:
    training_data = [[1, 2], [3, 4], [5, 6]]
    labels = [0, 1, 0]
    return {"features": training_data, "labels": labels}


@step
def process_data(data: dict) -> dict:
    processed_features = [feature * 2 for feature in data["features"]]
    return {
        "processed_features": processed_features,
        "labels": data["labels"],
        "num_samples": len(data["features"]),
        "feature_sum": sum(map(sum, data["features"])),
    }


def test_simple_step_inputs_and_outputs():
    @step
    def train_model(data: dict) -> None:
        assert data["num_samples"] == 3

    @pipeline
    def simple_ml_pipeline():
        dataset = load_data()
        train_model(process_data(dataset))

    run = simple_ml_pipeline()
    assert run.steps["process_data"].output.load()["feature_sum"] == 21


def test_end_to_end_example_passes_a_tuple_of_outputs_whole(capsys):
    @step
    def get_data() -> Tuple[np.ndarray, np.ndarray]:
        X = np.array([[1, 2], [3, 4], [5, 6], [7, 8]])
        y = np.array([0, 1, 0, 1])
        return X, y

    @step
    def process_data(data: Tuple[np.ndarray, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        X, y = data
        X_processed = X * 2
        return X_processed, y

    @step
    def train_and_evaluate(processed_data: Tuple[np.ndarray, np.ndarray]) -> float:
        X, y = processed_data
        predictions = [1 if sum(sample) > 10 else 0 for sample in X]
        accuracy = sum(p == actual for p, actual in zip(predictions, y)) / len(y)
        return accuracy

    @pipeline
    def simple_example_pipeline():
        raw_data = get_data()
        processed_data = process_data(raw_data)
        accuracy = train_and_evaluate(processed_data)
        print(f"Model accuracy: {accuracy}")

    run = simple_example_pipeline()
    assert run.steps["train_and_evaluate"].output.load() == 0.75
    assert "Model accuracy:" in capsys.readouterr().out
    inputs = run.steps["process_data"].inputs["data"]
    assert [a.id for a in inputs] == [a[0].id for a in run.steps["get_data"].outputs.values()]


def test_parameters_and_artifacts():
    @step
    def some_other_step() -> int:
        return 3

    @step
    def my_step(input_1: int, input_2: int) -> int:
        return input_1 + input_2

    @pipeline
    def my_pipeline():
        int_artifact = some_other_step()
        my_step(input_1=int_artifact, input_2=42)

    run = my_pipeline()
    my_step_run = run.steps["my_step"]
    assert my_step_run.config.parameters == {"input_2": 42}
    assert list(my_step_run.inputs) == ["input_1"]
    assert my_step_run.output.load() == 45


def test_pipeline_parameterization():
    seen = []

    @step
    def load(dataset_name: str) -> dict:
        return {"name": dataset_name}

    @step
    def train_model(data: dict, learning_rate: float = 0.01, epochs: int = 10) -> None:
        seen.append((data["name"], learning_rate, epochs))

    @pipeline
    def training_pipeline(dataset_name: str = "default_dataset", learning_rate: float = 0.01):
        data = load(dataset_name=dataset_name)
        train_model(data=data, learning_rate=learning_rate, epochs=20)

    training_pipeline(dataset_name="custom_dataset", learning_rate=0.005)
    assert seen == [("custom_dataset", 0.005, 20)]


def test_multiple_return_values_and_custom_output_names():
    @step
    def divide(a: int, b: int) -> Tuple[Annotated[int, "quotient"], Annotated[int, "remainder"]]:
        return a // b, a % b

    @step
    def divide_unnamed(a: int, b: int) -> Tuple[int, int]:
        return a // b, a % b

    @step
    def square_root(number: int) -> float:
        return number**0.5

    @pipeline
    def math_pipeline():
        divide(7, 2)
        divide_unnamed(7, 2)
        square_root(16)

    run = math_pipeline()
    assert run.steps["divide"].outputs["quotient"].load() == 3
    assert run.steps["divide"].outputs["remainder"].load() == 1
    assert sorted(run.steps["divide_unnamed"].outputs) == ["output_0", "output_1"]
    assert run.steps["square_root"].output.load() == 4.0


def test_tuple_output_definition_errors_are_runtime_errors():
    with pytest.raises(RuntimeError):

        @step
        def variable(a: int) -> Tuple[int, ...]:
            return a, a

    with pytest.raises(RuntimeError):

        @step
        def duplicated() -> Tuple[Annotated[int, "x"], Annotated[int, "x"]]:
            return 1, 2


def test_step_called_outside_a_pipeline_is_listed_under_its_name():
    @step
    def standalone(x: int) -> int:
        return x + 1

    assert standalone(1) == 2
    assert standalone.entrypoint(1) == 2
    assert "standalone" in [p.name for p in Client().list_pipelines()]
    assert Client().get_pipeline("standalone").last_run.steps["standalone"].output.load() == 2


@pytest.mark.parametrize(
    "variable", ["ZENML_ENFORCE_TYPE_ANNOTATIONS", "FANFLOW_ENFORCE_TYPE_ANNOTATIONS"]
)
def test_enforce_type_annotations_raises_for_a_step_missing_one(monkeypatch, variable):
    """The docs: "set the environment variable `ZENML_ENFORCE_TYPE_ANNOTATIONS` to `True`. ZenML
    will then raise an exception in case one of the steps you're trying to run is missing a type
    annotation" (checked when the step is defined, as ZenML does)."""
    monkeypatch.delenv("FANFLOW_ENFORCE_TYPE_ANNOTATIONS", raising=False)
    monkeypatch.delenv("ZENML_ENFORCE_TYPE_ANNOTATIONS", raising=False)

    @step
    def loose(a, b: int):  # allowed by default: the missing annotations are Any
        return b

    monkeypatch.setenv(variable, "True")
    with pytest.raises(RuntimeError, match="Missing type annotation for input 'a' of step"):

        @step
        def untyped_input(a, b: int) -> int:
            return b

    with pytest.raises(RuntimeError, match="Missing return type annotation for step function"):

        @step
        def untyped_return(a: int):
            return a

    with pytest.raises(RuntimeError, match="Missing return type annotation"):

        @step
        def returns_nothing(a: int):  # ZenML wants `-> None` spelled out too
            print(a)

    @step
    def typed(a: int) -> None:
        print(a)

    @pipeline
    def typed_pipeline() -> None:
        typed(1)

    assert typed_pipeline().status == "completed"


def test_fanflow_enforce_variable_wins_over_zenml_one(monkeypatch):
    monkeypatch.setenv("ZENML_ENFORCE_TYPE_ANNOTATIONS", "true")
    monkeypatch.setenv("FANFLOW_ENFORCE_TYPE_ANNOTATIONS", "false")

    @step
    def loose(a):
        return a

    monkeypatch.setenv("FANFLOW_ENFORCE_TYPE_ANNOTATIONS", "sometimes")
    with pytest.raises(ValueError, match="FANFLOW_ENFORCE_TYPE_ANNOTATIONS must be a true/false"):

        @step
        def any_step(a: int) -> int:
            return a
