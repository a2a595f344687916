"""ZenML's built-in visualizations of DataFrames and arrays ("Visualizations" page: "ZenML
automatically saves visualizations for many common data types", e.g. "a statistical
representation of a Pandas DataFrame" shown as a table).

ZenML's pandas materializer saves `describe()` as `describe.csv` (type CSV) for DataFrames and
Series. Its NumPy visualizations (a histogram, an image) are drawn with matplotlib, which
fanflow does not depend on: arrays get none, as in ZenML without matplotlib.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.enums import VisualizationType
from fanflow.metadata.store import MetadataStore
from fanflow.ui.previews import preview


def test_a_dataframe_gets_its_describe_table_as_csv(capsys):
    frame = pd.DataFrame({"a": [1, 2, 3, 4], "b": [0.5, 1.5, 2.5, 3.5], "c": list("wxyz")})

    @step
    def make() -> pd.DataFrame:
        return frame

    @pipeline
    def p():
        make()

    artifact = Client().get_pipeline_run(p().id).steps["make"].output
    (visualization,) = artifact.visualizations
    assert visualization.type == VisualizationType.CSV
    assert visualization.uri.endswith("describe.csv")
    with open(visualization.uri) as handle:
        table = pd.read_csv(handle, index_col=0)
    pd.testing.assert_frame_equal(
        table, pd.read_csv(io.StringIO(frame.describe().to_csv()), index_col=0)
    )
    assert table.loc["mean", "a"] == 2.5
    capsys.readouterr()
    artifact.visualize()
    out = capsys.readouterr().out
    assert "(csv)" in out and "mean" in out
    pd.testing.assert_frame_equal(artifact.load(), frame)  # the value is unchanged


def test_a_tiny_series_is_described_too_and_the_dashboard_still_previews_the_data():
    @step
    def make() -> pd.Series:
        return pd.Series([1.0, 2.0], name="x")

    @pipeline
    def p():
        make()

    artifact = p().steps["make"].output
    (visualization,) = artifact.visualizations
    assert visualization.type == VisualizationType.CSV
    assert artifact.load().name == "x"
    settings = load_settings()
    record = MetadataStore(settings.metadata_url).get_artifact_version_by_id(artifact.id.hex)
    assert preview(record, settings.artifact_root)["kind"] == "table"


def test_arrays_and_empty_frames_get_no_visualizations(caplog):
    @step
    def array() -> np.ndarray:
        return np.arange(6)

    @step
    def empty() -> pd.DataFrame:
        return pd.DataFrame()

    @pipeline
    def p():
        array()
        empty()

    run = p()
    assert run.steps["array"].output.visualizations == []
    assert run.steps["empty"].output.visualizations == []
    assert "Failed to save artifact visualizations" not in caplog.text
