"""A ZenML-style program with a custom materializer runs after changing only the imports."""

from __future__ import annotations

import json
import os
from typing import Any

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.enums import ArtifactType
from fanflow.io import fileio
from fanflow.materializers.base_materializer import BaseMaterializer


class Vocabulary:
    def __init__(self, words: list[str]) -> None:
        self.words = words


class VocabularyMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (Vocabulary,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> Vocabulary:
        with fileio.open(os.path.join(self.uri, "words.json"), "r") as handle:
            return data_type(json.load(handle))

    def save(self, data: Vocabulary) -> None:
        with fileio.open(os.path.join(self.uri, "words.json"), "w") as handle:
            json.dump(data.words, handle)

    def extract_metadata(self, data: Vocabulary) -> dict[str, Any]:
        return {"size": len(data.words)}


@step(enable_cache=False)
def build_vocabulary() -> Vocabulary:
    return Vocabulary(["a", "b", "c"])


@step(enable_cache=False)
def count(vocabulary: Vocabulary) -> int:
    return len(vocabulary.words)


@pipeline(enable_cache=False)
def vocabulary_pipeline():
    count(build_vocabulary())


def test_custom_materializer_is_found_by_type_and_used_both_ways():
    run = vocabulary_pipeline()
    artifact = run.steps["build_vocabulary"].output
    assert artifact.materializer == f"{__name__}.VocabularyMaterializer"
    assert artifact.type == "DataArtifact"
    assert artifact.run_metadata["size"] == 3
    assert os.path.exists(os.path.join(artifact.uri, "words.json"))
    assert artifact.load().words == ["a", "b", "c"]
    assert run.steps["count"].output.load() == 3


def test_output_materializers_option_overrides_the_registry():
    class UpperMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (str,)
        SKIP_REGISTRATION = True

        def load(self, data_type: type[Any]) -> str:
            with open(os.path.join(self.uri, "text.txt")) as handle:
                return handle.read().lower()

        def save(self, data: str) -> None:
            with open(os.path.join(self.uri, "text.txt"), "w") as handle:
                handle.write(data.upper())

    @step(enable_cache=False, output_materializers=UpperMaterializer)
    def shout() -> str:
        return "Hello"

    @pipeline(enable_cache=False)
    def shouting():
        shout()

    artifact = shouting().steps["shout"].output
    with open(os.path.join(artifact.uri, "text.txt")) as handle:
        assert handle.read() == "HELLO"
    assert artifact.load() == "hello"
    assert Client().get_artifact_version(artifact.name).materializer.endswith("UpperMaterializer")


def test_zenml_steps_and_pipelines_import_paths():
    """`from zenml.steps import step` / `from zenml.pipelines import pipeline` map onto fanflow."""
    import fanflow
    from fanflow.pipelines import Pipeline
    from fanflow.pipelines import pipeline as pipeline_from_module
    from fanflow.steps import BaseStep, get_step_context
    from fanflow.steps import step as step_from_module

    assert step_from_module is fanflow.step
    assert pipeline_from_module is fanflow.pipeline
    assert get_step_context is fanflow.get_step_context
    assert BaseStep is fanflow.Step
    assert Pipeline is fanflow.Pipeline
