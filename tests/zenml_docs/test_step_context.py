"""ZenML's step context docs, "Working with outputs": `get_output_artifact_uri(output_name=None)`
is "where the output artifact lives (write side files, etc.)". Run with `zenml` -> `fanflow`.

A step writes side files into that folder (the TensorBoard example joins "logs" onto it); the
output's materializer then writes the value next to them, and the published artifact holds both.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Annotated, Tuple

import pytest

from fanflow import get_step_context, pipeline, step
from fanflow.client import Client
from fanflow.exceptions import ArtifactCorruptedError, RunFailedError


def test_side_files_written_into_the_output_uri_are_part_of_the_artifact(tmp_path):
    seen = {}

    @step
    def train_test() -> Annotated[dict, "trained_model"]:
        log_dir = os.path.join(
            get_step_context().get_output_artifact_uri(output_name="trained_model"), "logs"
        )
        os.makedirs(log_dir)
        with open(os.path.join(log_dir, "events.txt"), "w") as handle:
            handle.write("epoch 1: loss 0.5\n")
        seen["uri"] = get_step_context().get_output_artifact_uri()
        return {"weights": [1, 2]}

    @pipeline
    def training():
        train_test()

    run = training()
    artifact = run.steps["train_test"].outputs["trained_model"][0]
    assert artifact.uri == seen["uri"]
    assert artifact.load() == {"weights": [1, 2]}
    # readable after the run from the artifact's uri, next to the value's own file
    with open(os.path.join(artifact.uri, "logs", "events.txt")) as handle:
        assert handle.read() == "epoch 1: loss 0.5\n"
    assert sorted(os.listdir(artifact.uri)) == ["data.json", "logs"]
    # hashed and measured like the rest: the recorded size counts the side file's bytes
    on_disk = sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(artifact.uri)
        for name in names
    )
    assert artifact.size == on_disk > len("epoch 1: loss 0.5\n")
    target = tmp_path / "model.zip"
    artifact.download_files(str(target))
    assert sorted(zipfile.ZipFile(target).namelist()) == ["data.json", "logs/events.txt"]


def test_the_output_folder_exists_when_the_step_gets_its_uri():
    @step
    def writer() -> str:
        uri = get_step_context().get_output_artifact_uri()
        with open(os.path.join(uri, "card.md"), "w") as handle:  # no makedirs needed, as in ZenML
            handle.write("# model card")
        return "value"

    @pipeline
    def p():
        writer()

    artifact = p().steps["writer"].output
    assert artifact.load() == "value"
    with open(os.path.join(artifact.uri, "card.md")) as handle:
        assert handle.read() == "# model card"


def test_side_files_of_each_output_stay_with_that_output():
    @step
    def two() -> Tuple[Annotated[int, "a"], Annotated[int, "b"]]:
        context = get_step_context()
        for name in ("a", "b"):
            with open(os.path.join(context.get_output_artifact_uri(name), "who.txt"), "w") as f:
                f.write(name)
        return 1, 2

    @pipeline
    def p():
        two()

    run = p()
    for name, value in (("a", 1), ("b", 2)):
        artifact = run.steps["two"].outputs[name][0]
        assert artifact.load() == value
        with open(os.path.join(artifact.uri, "who.txt")) as handle:
            assert handle.read() == name


def test_side_files_go_with_a_pickled_value_too():
    class Opaque:
        def __init__(self, x):
            self.x = x

    @step
    def make() -> Opaque:
        uri = get_step_context().get_output_artifact_uri()
        with open(os.path.join(uri, "notes.txt"), "w") as handle:
            handle.write("side")
        return Opaque(3)

    @pipeline
    def p():
        make()

    artifact = p().steps["make"].output
    assert artifact.load().x == 3
    assert "notes.txt" in os.listdir(artifact.uri)


def test_changing_a_side_file_after_the_run_is_caught_when_the_value_runs_code_to_load():
    class Opaque:
        pass

    @step
    def make() -> Opaque:
        uri = get_step_context().get_output_artifact_uri()
        with open(os.path.join(uri, "notes.txt"), "w") as handle:
            handle.write("side")
        return Opaque()

    @pipeline
    def p():
        make()

    artifact = p().steps["make"].output
    with open(os.path.join(artifact.uri, "notes.txt"), "w") as handle:
        handle.write("tampered")
    with pytest.raises(ArtifactCorruptedError, match="changed since it was saved"):
        Client().get_artifact_version(artifact.id).load()


def test_a_symlink_among_side_files_fails_the_step_clearly(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")

    @step
    def sneaky() -> int:
        uri = get_step_context().get_output_artifact_uri()
        os.symlink(outside, os.path.join(uri, "link.txt"))
        return 1

    @pipeline(execution_mode="fail_fast")
    def p():
        sneaky()

    with pytest.raises((RunFailedError, Exception), match="symlink"):
        p()


def test_a_file_written_at_the_uri_itself_fails_the_step_clearly():
    @step
    def wrong() -> int:
        uri = get_step_context().get_output_artifact_uri()
        os.rmdir(uri)
        with open(uri, "w") as handle:
            handle.write("x")
        return 1

    @pipeline(execution_mode="fail_fast")
    def p():
        wrong()

    with pytest.raises(Exception, match="inside"):
        p()


@step(enable_cache=False)
def tensorboard_like() -> Annotated[list, "trained_model"]:
    log_dir = os.path.join(get_step_context().get_output_artifact_uri(), "logs")
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, "events.out"), "w") as handle:
        handle.write(f"pid {os.getpid()}")
    return [1, 2, 3]


@pipeline(enable_cache=False)
def side_files_everywhere():
    tensorboard_like()


@pytest.mark.parametrize("orchestrator", ["sequential", "processes"])
def test_side_files_with_other_executors(orchestrator):
    run = side_files_everywhere.with_options(orchestrator=orchestrator)()
    artifact = run.steps["tensorboard_like"].outputs["trained_model"][0]
    assert artifact.load() == [1, 2, 3]
    with open(os.path.join(artifact.uri, "logs", "events.out")) as handle:
        assert handle.read().startswith("pid ")


def test_get_output_materializer_is_initialized_with_the_output_uri():
    from fanflow.materializers import JsonMaterializer
    from fanflow.materializers.path_materializer import PathMaterializer

    seen = {}

    @step
    def with_extra() -> Annotated[dict, "summary"]:
        context = get_step_context()
        materializer = context.get_output_materializer()
        seen["uri"] = materializer.uri
        seen["class"] = type(materializer)
        # a custom class writes its own files next to the value, as side files
        extra = context.get_output_materializer(custom_materializer_class=JsonMaterializer)
        os.makedirs(os.path.join(extra.uri, "copy"))
        JsonMaterializer(os.path.join(extra.uri, "copy")).save({"draft": True})
        seen["by_type"] = type(context.get_output_materializer(data_type=type(Path("."))))
        return {"final": True}

    @pipeline
    def p():
        with_extra()

    artifact = p().steps["with_extra"].output
    assert seen["uri"] == artifact.uri and seen["class"] is JsonMaterializer
    assert seen["by_type"] is PathMaterializer
    assert artifact.load() == {"final": True}
    assert JsonMaterializer(os.path.join(artifact.uri, "copy")).load(dict) == {"draft": True}
