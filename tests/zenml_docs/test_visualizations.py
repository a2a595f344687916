"""Examples of ZenML's "Visualizations" page, run with `zenml` -> `fanflow`.

Outside a notebook ZenML's `visualize()` raises; fanflow prints the visualizations instead (text
kinds as text, an image as the path of a copy), so these tests read stdout.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any, Dict

from pydantic import BaseModel

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.enums import VisualizationType
from fanflow.io import fileio
from fanflow.materializers.base_materializer import BaseMaterializer
from fanflow.types import CSVString, HTMLString, JSONString, MarkdownString

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def test_visualization_via_special_return_types(capsys):
    @step
    def my_step() -> CSVString:
        some_csv = "a,b,c\n1,2,3"
        return CSVString(some_csv)

    @pipeline
    def p():
        my_step()

    run = Client().get_pipeline_run(p().id)
    artifact = run.steps["my_step"].outputs["output"][0]
    capsys.readouterr()
    artifact.visualize()
    out = capsys.readouterr().out
    assert "(csv)" in out and "a,b,c\n1,2,3" in out
    assert artifact.load() == "a,b,c\n1,2,3" and type(artifact.load()) is CSVString
    assert os.path.exists(os.path.join(artifact.uri, "output.csv"))
    assert artifact.type == "DataAnalysisArtifact"


def test_each_special_string_type_gets_its_visualization_type():
    @step
    def html() -> HTMLString:
        return HTMLString("<h1>Header</h1>Some text")

    @step
    def markdown() -> MarkdownString:
        return MarkdownString("# Header\nSome text")

    @step
    def as_json() -> JSONString:
        return JSONString('{"key": "value"}')

    @pipeline
    def p():
        html()
        markdown()
        as_json()

    run = p()
    kinds = {
        name: [v.type for v in run.steps[name].output.visualizations]
        for name in ("html", "markdown", "as_json")
    }
    assert kinds == {
        "html": [VisualizationType.HTML],
        "markdown": [VisualizationType.MARKDOWN],
        "as_json": [VisualizationType.JSON],
    }
    assert type(run.steps["as_json"].output.load()) is JSONString


def test_matplotlib_plot_embedded_in_an_html_string(capsys):
    @step
    def create_matplotlib_visualization() -> HTMLString:
        """Creates a plot and returns it as embedded HTML (PNG bytes stand in for the plot)."""
        image_base64 = base64.b64encode(PNG).decode("utf-8")
        html = f"""
    <div style="text-align: center;">
        <img src="data:image/png;base64,{image_base64}"
             style="max-width: 100%; height: auto;">
    </div>
    """
        return HTMLString(html)

    @pipeline
    def visualization_pipeline():
        create_matplotlib_visualization()

    run = visualization_pipeline()
    capsys.readouterr()
    run.steps["create_matplotlib_visualization"].output.visualize(title="Sample Plot")
    out = capsys.readouterr().out
    assert out.startswith("### Sample Plot\n") and "data:image/png;base64," in out


class FakeFigure:
    """Stands in for a matplotlib figure: `savefig` writes PNG bytes."""

    def savefig(self, handle: Any, format: str = "png", bbox_inches: str = "tight") -> None:
        handle.write(PNG)


class MatplotlibVisualization(BaseModel):
    """Custom class to hold matplotlib figures."""

    figure: Any  # This will hold the matplotlib figure


class MatplotlibMaterializer(BaseMaterializer):
    """Materializer that handles matplotlib figures."""

    ASSOCIATED_TYPES = (MatplotlibVisualization,)

    def save(self, data: MatplotlibVisualization) -> None:
        with fileio.open(os.path.join(self.uri, "figure.txt"), "w") as f:
            f.write("figure")

    def load(self, data_type: type) -> MatplotlibVisualization:
        return MatplotlibVisualization(figure=FakeFigure())

    def save_visualizations(self, data: MatplotlibVisualization) -> Dict[str, VisualizationType]:
        """Create and save visualizations for the matplotlib figure."""
        visualization_path = os.path.join(self.uri, "visualization.png")
        with fileio.open(visualization_path, "wb") as f:
            data.figure.savefig(f, format="png", bbox_inches="tight")
        return {visualization_path: VisualizationType.IMAGE}


def test_visualization_via_materializers(capsys):
    @step
    def create_matplotlib_visualization() -> MatplotlibVisualization:
        return MatplotlibVisualization(figure=FakeFigure())

    @pipeline
    def p():
        create_matplotlib_visualization()

    artifact = p().steps["create_matplotlib_visualization"].output
    (visualization,) = artifact.visualizations
    assert visualization.type == VisualizationType.IMAGE
    with open(visualization.uri, "rb") as handle:
        assert handle.read() == PNG
    capsys.readouterr()
    artifact.visualize()
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("--- visualization 1/1 of artifact") and "(image): " in printed
    copy = printed.rsplit(": ", 1)[1]
    with open(copy, "rb") as handle:  # a copy the caller may open, outliving the call
        assert handle.read() == PNG
    os.remove(copy)


class Broken(BaseModel):
    value: int


class BrokenVisualsMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (Broken,)

    def save(self, data: Broken) -> None:
        with open(os.path.join(self.uri, "value.txt"), "w") as f:
            f.write(str(data.value))

    def load(self, data_type: type) -> Broken:
        with open(os.path.join(self.uri, "value.txt")) as f:
            return Broken(value=int(f.read()))

    def save_visualizations(self, data: Broken) -> Dict[str, VisualizationType]:
        if data.value == 1:
            raise RuntimeError("plotting failed")
        return {"/etc/hostname": VisualizationType.HTML}  # not inside the artifact: skipped


def test_failing_or_stray_visualizations_never_fail_the_step(caplog, capsys):
    @step(enable_cache=False)
    def make(value: int) -> Broken:
        return Broken(value=value)

    @pipeline
    def p(value: int):
        make(value)

    for value in (1, 2):
        artifact = p(value).steps["make"].output
        assert artifact.load() == Broken(value=value)
        assert artifact.visualizations == []
    assert "plotting failed" in caplog.text and "/etc/hostname" in caplog.text
    capsys.readouterr()
    artifact.visualize()
    assert "has no visualizations" in capsys.readouterr().out


def test_dashboard_preview_of_a_special_string_shows_its_text():
    from fanflow.config import load_settings
    from fanflow.metadata.store import MetadataStore
    from fanflow.ui.previews import preview

    @step
    def report() -> MarkdownString:
        return MarkdownString("# Weekly report")

    @pipeline
    def p():
        report()

    artifact = p().steps["report"].output
    settings = load_settings()
    record = MetadataStore(settings.metadata_url).get_artifact_version_by_id(artifact.id.hex)
    shown = preview(record, settings.artifact_root)
    assert shown["kind"] == "files" and shown["text"] == "# Weekly report"
    assert [f["name"] for f in shown["files"]] == ["output.md"]


def test_the_visualization_index_is_one_of_the_artifact_files(tmp_path):
    import zipfile

    @step
    def report() -> HTMLString:
        return HTMLString("<p>x</p>")

    @pipeline
    def p():
        report()

    artifact = p().steps["report"].output
    target = tmp_path / "report.zip"
    artifact.download_files(str(target))
    names = zipfile.ZipFile(io.BytesIO(target.read_bytes())).namelist()
    assert sorted(names) == [".fanflow-visualizations.json", "output.html"]
