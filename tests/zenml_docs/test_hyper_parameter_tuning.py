"""The tutorial's "Hyper-parameter tuning" page, run with `zenml` -> `fanflow`.

The page leaves the training and selection bodies to the reader; they are filled in here with
a tiny model so the fan-out / fan-in and the Client queries it documents can be checked.
"""

from __future__ import annotations

from typing import Annotated

from fanflow import get_step_context, pipeline, step
from fanflow.client import Client

MODEL_OUTPUT = "model"


class TinyClassifier:
    """Stands in for a scikit-learn `ClassifierMixin`."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate

    def score(self) -> float:
        return 1.0 - abs(self.learning_rate - 0.0002)


@step
def train_step(learning_rate: float) -> Annotated[TinyClassifier, MODEL_OUTPUT]:
    """Train a model with the given learning-rate."""
    return TinyClassifier(learning_rate)


@step
def selection_step(step_prefix: str, output_name: str) -> Annotated[TinyClassifier, "best_model"]:
    """Pick the best model among all training steps."""
    run = Client().get_pipeline_run(get_step_context().pipeline_run.name)
    trained_models = {}
    for step_name, step_info in run.steps.items():
        if step_name.startswith(step_prefix):
            model = step_info.outputs[output_name][0].load()
            lr = step_info.config.parameters["learning_rate"]
            trained_models[lr] = model
    return max(trained_models.values(), key=lambda model: model.score())


@pipeline
def hp_tuning_pipeline(step_count: int = 4):
    after = []
    for i in range(step_count):
        train_step(learning_rate=i * 0.0001, id=f"train_step_{i}")
        after.append(f"train_step_{i}")

    selection_step(step_prefix="train_step_", output_name=MODEL_OUTPUT, after=after)


def test_fan_out_fan_in_grid_search_and_inspecting_results():
    hp_tuning_pipeline(step_count=4)
    run = Client().get_pipeline("hp_tuning_pipeline").last_run
    assert sorted(run.steps) == [
        "selection_step",
        "train_step_0",
        "train_step_1",
        "train_step_2",
        "train_step_3",
    ]
    best_model = run.steps["selection_step"].outputs["best_model"].load()
    assert best_model.learning_rate == 0.0002
    assert run.steps["train_step_3"].config.parameters == {"learning_rate": 3 * 0.0001}
