"""Examples of ZenML's "Materializers" page, run with `zenml` -> `fanflow`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Dict, List, Tuple, Type

import pandas as pd
import pytest

from fanflow import pipeline, step
from fanflow.artifacts.unmaterialized_artifact import UnmaterializedArtifact
from fanflow.client import Client
from fanflow.enums import ArtifactType, VisualizationType
from fanflow.materializers.base_materializer import BaseMaterializer
from fanflow.metadata.metadata_types import MetadataType


class MyObj:
    def __init__(self, name: str):
        self.name = name

    def to_dict(self):
        return {"name": self.name}

    @classmethod
    def from_dict(cls, data):
        return cls(name=data["name"])


class MyMaterializer(BaseMaterializer):
    """Materializer for MyObj objects."""

    ASSOCIATED_TYPES = (MyObj,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA

    def load(self, data_type: Type[Any]) -> MyObj:
        filepath = os.path.join(self.uri, "data.json")
        with self.artifact_store.open(filepath, "r") as f:
            data = json.load(f)
        return MyObj.from_dict(data)

    def save(self, data: MyObj) -> None:
        filepath = os.path.join(self.uri, "data.json")
        with self.artifact_store.open(filepath, "w") as f:
            json.dump(data.to_dict(), f)

    def save_visualizations(self, data: MyObj) -> Dict[str, VisualizationType]:
        vis_path = os.path.join(self.uri, "visualization.html")
        with self.artifact_store.open(vis_path, "w") as f:
            f.write(f"<b>{data.name}</b>")
        return {vis_path: VisualizationType.HTML}

    def extract_metadata(self, data: MyObj) -> Dict[str, MetadataType]:
        return {"name": data.name}


def test_complete_custom_materializer_example(capsys):
    @step(output_materializers=MyMaterializer)
    def create_my_obj() -> MyObj:
        return MyObj(name="my_object")

    @step
    def use_my_obj(my_obj: MyObj) -> None:
        print(f"Object name: {my_obj.name}")

    @pipeline
    def my_pipeline():
        obj = create_my_obj()
        use_my_obj(obj)

    run = my_pipeline()
    assert "Object name: my_object" in capsys.readouterr().out
    output = run.steps["create_my_obj"].output
    assert output.materializer.endswith("MyMaterializer")
    assert output.run_metadata["name"] == "my_object"
    assert os.path.exists(os.path.join(output.uri, "data.json"))


@dataclass
class TrainingConfig:
    learning_rate: float
    epochs: int


def test_dataclass_artifacts():
    @step
    def make_config() -> TrainingConfig:
        return TrainingConfig(learning_rate=0.01, epochs=10)

    @pipeline
    def config_pipeline():
        make_config()

    run = config_pipeline()
    assert run.steps["make_config"].output.load() == TrainingConfig(0.01, 10)


class MyClass1:
    value = 1


class MyClass2:
    value = 2


class MyClass1Materializer(BaseMaterializer):
    ASSOCIATED_TYPES = (MyClass1,)
    SKIP_REGISTRATION = True

    def load(self, data_type):
        with open(os.path.join(self.uri, "one.txt")) as f:
            assert f.read() == "one"
        return MyClass1()

    def save(self, data):
        with open(os.path.join(self.uri, "one.txt"), "w") as f:
            f.write("one")


class MyClass2Materializer(BaseMaterializer):
    ASSOCIATED_TYPES = (MyClass2,)
    SKIP_REGISTRATION = True

    def load(self, data_type):
        return MyClass2()

    def save(self, data):
        with open(os.path.join(self.uri, "two.txt"), "w") as f:
            f.write("two")


def test_multiple_outputs_with_different_materializers():
    @step(output_materializers={"obj1": MyClass1Materializer, "obj2": MyClass2Materializer})
    def create_objects() -> Tuple[Annotated[MyClass1, "obj1"], Annotated[MyClass2, "obj2"]]:
        return MyClass1(), MyClass2()

    @pipeline
    def objects_pipeline():
        create_objects()

    run = objects_pipeline()
    outputs = run.steps["create_objects"].outputs
    assert outputs["obj1"].materializer.endswith("MyClass1Materializer")
    assert os.path.exists(os.path.join(outputs["obj2"].uri, "two.txt"))
    assert outputs["obj1"].load().value == 1


def test_registering_a_materializer_globally():
    from fanflow.materializers.materializer_registry import materializer_registry

    saved = []

    class FastPandasMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (pd.DataFrame,)
        SKIP_REGISTRATION = True

        def load(self, data_type):
            return pd.read_json(os.path.join(self.uri, "df.json"))

        def save(self, data):
            saved.append(len(data))
            data.to_json(os.path.join(self.uri, "df.json"))

    materializer_registry.register_and_overwrite_type(
        key=pd.DataFrame, type_=FastPandasMaterializer
    )
    try:

        @step
        def frame() -> pd.DataFrame:
            return pd.DataFrame({"a": [1, 2]})

        @pipeline
        def frame_pipeline():
            frame()

        run = frame_pipeline()
        assert saved == [2]
        assert run.steps["frame"].output.load()["a"].tolist() == [1, 2]
        assert materializer_registry[pd.DataFrame] is FastPandasMaterializer
    finally:
        materializer_registry.unregister(FastPandasMaterializer)
    assert materializer_registry[pd.DataFrame] is not FastPandasMaterializer


def test_unmaterialized_artifacts_example(capsys):
    @step
    def step_1() -> Tuple[Annotated[Dict[str, str], "dict_"], Annotated[List[str], "list_"]]:
        return {"some": "data"}, []

    @step
    def step_2() -> Tuple[Annotated[Dict[str, str], "dict_"], Annotated[List[str], "list_"]]:
        return {"some": "data"}, []

    @step
    def step_3(dict_: Dict, list_: List) -> None:
        assert isinstance(dict_, dict)
        assert isinstance(list_, list)

    @step
    def step_4(dict_: UnmaterializedArtifact, list_: UnmaterializedArtifact) -> None:
        print(dict_.uri)
        print(list_.uri)

    @pipeline
    def example_pipeline():
        step_3(*step_1())
        step_4(*step_2())

    run = example_pipeline()
    printed = capsys.readouterr().out
    assert run.steps["step_2"].outputs["dict_"].uri in printed
    assert run.steps["step_2"].outputs["list_"].uri in printed
    assert run.steps["step_3"].status == "completed"


def test_materializer_without_associated_types_is_refused():
    with pytest.raises(TypeError):

        class Broken(BaseMaterializer):
            def load(self, data_type):
                return None


def test_client_reads_custom_artifacts_after_the_run():
    @step(output_materializers=MyMaterializer)
    def create_my_obj() -> MyObj:
        return MyObj(name="later")

    @pipeline
    def later_pipeline():
        create_my_obj()

    later_pipeline()
    assert (
        Client().get_artifact_version("later_pipeline::create_my_obj::output").load().name
        == "later"
    )


class ScratchMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (MyClass2,)
    SKIP_REGISTRATION = True

    def load(self, data_type):
        return MyClass2()

    def save(self, data):
        # "If you need a temporary directory while processing artifacts, use the
        # get_temporary_directory() helper"
        with self.get_temporary_directory() as temp_dir:
            scratch = os.path.join(temp_dir, "part.txt")
            with open(scratch, "w") as f:
                f.write("two")
            with open(scratch) as f, open(os.path.join(self.uri, "two.txt"), "w") as out:
                out.write(f.read())
        self.scratch_dir = temp_dir


def test_get_temporary_directory_helper(tmp_path):
    materializer = ScratchMaterializer(str(tmp_path))
    materializer.save(MyClass2())
    assert (tmp_path / "two.txt").read_text() == "two"
    assert not os.path.exists(materializer.scratch_dir)


def test_complete_custom_materializer_visualization_is_recorded(capsys):
    @step(output_materializers=MyMaterializer)
    def create_my_obj() -> MyObj:
        return MyObj(name="my_object")

    @pipeline
    def my_pipeline():
        create_my_obj()

    output = my_pipeline().steps["create_my_obj"].output
    (visualization,) = output.visualizations
    assert visualization.type == VisualizationType.HTML
    assert visualization.uri == os.path.join(output.uri, "visualization.html")
    capsys.readouterr()
    output.visualize()
    assert "<b>my_object</b>" in capsys.readouterr().out


def test_passing_files_and_directories_between_steps(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    @step
    def prepare_dataset(num_samples: int = 100) -> Annotated[Path, "dataset_dir"]:
        """Prepare a dataset directory with training files."""
        output_dir = Path("training_data")
        output_dir.mkdir(exist_ok=True)

        # Write training files into the directory
        (output_dir / "features.csv").write_text("feature1,feature2\n1.0,2.0\n")
        (output_dir / "labels.csv").write_text("label\n1\n")

        # fanflow will tar.gz this directory and store it in the artifact store
        return output_dir

    @step
    def train_model(dataset_dir: Path) -> None:
        """Train a model using the dataset directory."""
        # dataset_dir points to a local temp directory with the extracted contents
        features = (dataset_dir / "features.csv").read_text()
        labels = (dataset_dir / "labels.csv").read_text()
        print(f"Training with features: {features}")
        assert labels == "label\n1\n"

    @pipeline
    def training_pipeline():
        dataset = prepare_dataset()
        train_model(dataset)

    run = training_pipeline()
    assert "Training with features: feature1,feature2\n1.0,2.0" in capsys.readouterr().out
    artifact = run.steps["prepare_dataset"].outputs["dataset_dir"][0]
    assert artifact.materializer == "fanflow.path"
    assert os.listdir(artifact.uri) == ["data.tar.gz"]
    loaded = artifact.load()
    assert isinstance(loaded, Path) and loaded != tmp_path / "training_data"
    assert sorted(p.name for p in loaded.iterdir()) == ["features.csv", "labels.csv"]


def test_a_single_file_path_is_copied_and_loads_as_a_path(tmp_path):
    source = tmp_path / "model.onnx"
    source.write_bytes(b"\x01\x02weights")

    @step
    def export() -> Path:
        return source

    @step
    def size(model_file: Path) -> int:
        return len(model_file.read_bytes())

    @pipeline
    def p():
        size(export())

    run = p()
    artifact = run.steps["export"].output
    assert os.listdir(artifact.uri) == ["file_data"]
    assert run.steps["size"].output.load() == 9
    assert artifact.load().read_bytes() == b"\x01\x02weights"


def test_a_path_that_does_not_exist_fails_the_step_with_a_clear_error():
    from fanflow.exceptions import RunFailedError

    @step
    def missing() -> Path:
        return Path("/no/such/folder")

    @step
    def pure() -> PurePosixPath:
        return PurePosixPath("/no/such/folder")

    @pipeline
    def p():
        missing()

    with pytest.raises(RunFailedError):
        p()
    failed = Client().get_pipeline("p").last_run.steps["missing"]
    assert "does not exist" in failed.exception and "str(path)" in failed.exception

    @pipeline
    def q():
        pure()

    # a PurePath is a value, not a file: it stays plain JSON
    assert q().steps["pure"].output.load() == PurePosixPath("/no/such/folder")


def test_path_materializer_import_path_and_structured_strings_table():
    from fanflow.materializers.materializer_registry import materializer_registry
    from fanflow.materializers.path_materializer import PathMaterializer
    from fanflow.materializers.structured_string_materializer import (
        StructuredStringMaterializer,
    )
    from fanflow.types import CSVString, HTMLString, JSONString, MarkdownString

    assert materializer_registry[type(Path("x"))] is PathMaterializer
    assert PathMaterializer.ARCHIVE_NAME == "data.tar.gz"
    for kind in (CSVString, HTMLString, MarkdownString, JSONString):
        assert materializer_registry[kind] is StructuredStringMaterializer


class MyClass:
    """The page's `MyClass` (left undefined there): a name, records and a creation time."""

    def __init__(self, name: str, records: List[int], created_at: str = "2025-01-01T00:00:00"):
        self.name = name
        self.records = records
        self.created_at = created_at

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "records": self.records, "created_at": self.created_at}

    def to_html(self) -> str:
        return f"<h3>{self.name}</h3><p>{len(self.records)} records</p>"


class MyClassMaterializer(BaseMaterializer):
    """Materializer for MyClass objects."""

    ASSOCIATED_TYPES = (MyClass,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA

    def load(self, data_type: Type[Any]) -> MyClass:
        """Load MyClass from storage."""
        filepath = os.path.join(self.uri, "data.json")
        with self.artifact_store.open(filepath, "r") as f:
            data = json.load(f)
        return MyClass(**data)

    def save(self, data: MyClass) -> None:
        """Save MyClass to storage."""
        filepath = os.path.join(self.uri, "data.json")
        with self.artifact_store.open(filepath, "w") as f:
            json.dump(data.to_dict(), f)

    def save_visualizations(self, data: MyClass) -> Dict[str, VisualizationType]:
        """Generate visualizations for the dashboard."""
        vis_path = os.path.join(self.uri, "visualization.html")
        with self.artifact_store.open(vis_path, "w") as f:
            f.write(data.to_html())
        return {vis_path: VisualizationType.HTML}

    def extract_metadata(self, data: MyClass) -> Dict[str, MetadataType]:
        """Extract metadata for tracking."""
        return {
            "name": data.name,
            "created_at": data.created_at,
            "num_records": len(data.records),
        }


def test_define_and_use_your_custom_materializer(capsys):
    @step(output_materializers=MyClassMaterializer)
    def create_my_class() -> MyClass:
        """Create an instance of MyClass."""
        return MyClass(name="test", records=[1, 2, 3])

    @step
    def use_my_class(my_obj: MyClass) -> None:
        """Use the MyClass instance."""
        print(f"Name: {my_obj.name}, Records: {my_obj.records}")

    @pipeline
    def custom_pipeline():
        data = create_my_class()
        use_my_class(data)

    run = custom_pipeline()
    assert "Name: test, Records: [1, 2, 3]" in capsys.readouterr().out
    artifact = run.steps["create_my_class"].output
    assert artifact.run_metadata["num_records"] == 3
    assert [v.type for v in artifact.visualizations] == [VisualizationType.HTML]
    artifact.visualize()
    assert "<h3>test</h3><p>3 records</p>" in capsys.readouterr().out
