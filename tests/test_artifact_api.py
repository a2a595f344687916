"""save_artifact / load_artifact / log_metadata, outside and inside steps."""

from __future__ import annotations

from typing import Annotated

import pytest

from fanflow import get_step_context, load_artifact, log_metadata, pipeline, save_artifact, step
from fanflow.client import Client


def test_save_and_load_outside_pipelines_with_versions():
    first = save_artifact({"a": (1, 2)}, name="config")
    second = save_artifact([1, 2, 3], name="config")
    assert (first.version, second.version) == ("1", "2")
    assert load_artifact("config") == [1, 2, 3]
    assert load_artifact("config", version="1") == {"a": (1, 2)}
    assert load_artifact(str(first.id)) == {"a": (1, 2)}
    assert second.save_type == "manual"
    explicit = save_artifact("x", name="config", version="golden")
    assert explicit.version == "golden"
    assert load_artifact("config", version="golden") == "x"


def test_load_missing_artifact_raises_key_error():
    with pytest.raises(KeyError, match="No artifact_versions found"):
        load_artifact("missing")


def test_saved_artifact_is_passable_to_a_pipeline():
    version = save_artifact(41, name="seed_value")

    @step(enable_cache=False)
    def plus_one(x: int) -> int:
        return x + 1

    @pipeline(enable_cache=False)
    def uses_external():
        plus_one(Client().get_artifact_version("seed_value"))

    run = uses_external()
    assert run.steps["plus_one"].output.load() == 42
    assert run.steps["plus_one"].inputs["x"][0].id == version.id


def test_load_artifact_inside_a_step():
    save_artifact("payload", name="shared")

    @step(enable_cache=False)
    def reads() -> str:
        return load_artifact("shared") + "!"

    @pipeline(enable_cache=False)
    def reading():
        reads()

    assert reading().steps["reads"].output.load() == "payload!"


def test_save_artifact_inside_a_step_is_recorded_with_the_step():
    @step(enable_cache=False)
    def saver() -> int:
        pending = save_artifact({"inside": True}, name="side_output")
        assert pending.version is None
        assert pending.load() == {"inside": True}
        return 1

    @pipeline(enable_cache=False)
    def saving():
        saver()

    run = saving()
    side = Client().get_artifact_version("side_output")
    assert side.load() == {"inside": True}
    assert side.version == "1" and side.save_type == "manual"
    assert side.producer_step.name == "saver"
    assert run.steps["saver"].outputs["side_output"][0].id == side.id


def test_log_metadata_in_step_on_step_and_on_artifact():
    @step(enable_cache=False)
    def measured() -> Annotated[int, "score"]:
        log_metadata({"rows": 10, "tags": ["a", "b"]})
        log_metadata({"quality": 0.9}, infer_artifact=True, artifact_name="score")
        get_step_context().add_output_metadata({"checked": True})
        return 3

    @pipeline(enable_cache=False)
    def measuring():
        measured()

    run = measuring()
    step_view = run.steps["measured"]
    assert step_view.run_metadata == {"rows": 10, "tags": ["a", "b"]}
    artifact_metadata = step_view.outputs["score"][0].run_metadata
    assert artifact_metadata["quality"] == 0.9 and artifact_metadata["checked"] is True
    assert artifact_metadata["storage_size"] > 0


def test_log_metadata_on_finished_runs_steps_and_artifacts():
    @step(enable_cache=False)
    def one() -> int:
        return 1

    @pipeline(enable_cache=False)
    def finished():
        one()

    run = finished()
    log_metadata({"reviewed": "yes"}, run_id_name_or_prefix=run.name)
    log_metadata({"note": 1}, run_id_name_or_prefix=run.name, step_name="one")
    log_metadata({"a": 2}, artifact_name="finished::one::output", artifact_version="1")
    refreshed = Client().get_pipeline_run(run.name)
    assert refreshed.run_metadata == {"reviewed": "yes"}
    assert refreshed.steps["one"].run_metadata == {"note": 1}
    assert refreshed.steps["one"].output.run_metadata["a"] == 2


def test_log_metadata_inside_a_step_about_another_run_is_recorded_by_the_orchestrator():
    @step(enable_cache=False)
    def one() -> int:
        return 1

    @pipeline(enable_cache=False)
    def target():
        one()

    earlier = target()

    @step(enable_cache=False)
    def annotate(run_name: str) -> None:
        log_metadata({"seen_by": "annotate"}, run_id_name_or_prefix=run_name)

    @pipeline(enable_cache=False)
    def annotating(run_name: str):
        annotate(run_name)

    annotating(run_name=earlier.name)
    assert Client().get_pipeline_run(earlier.name).run_metadata == {"seen_by": "annotate"}


def test_log_metadata_errors():
    with pytest.raises(ValueError, match="outside of a step"):
        log_metadata({"x": 1})
    with pytest.raises(ValueError, match="infer_artifact"):
        log_metadata({"x": 1}, infer_artifact=True)
    with pytest.raises(ValueError, match="cannot be recorded"):
        log_metadata({"x": object()}, run_id_name_or_prefix="whatever")
