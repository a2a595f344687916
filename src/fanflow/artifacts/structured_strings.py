"""`StructuredStringMaterializer`: `fanflow.types` strings as one file each, visualized.

ZenML's materializer of that name: `HTMLString` → `output.html`, `MarkdownString` →
`output.md`, `CSVString` → `output.csv`, `JSONString` → `output.json`; the file is also the
artifact's visualization of the matching `VisualizationType`.
"""

from __future__ import annotations

import os
from typing import Any

from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.enums import ArtifactType, VisualizationType


class HTMLString(str):
    """A string of HTML (`"<h1>Header</h1>Some text"`)."""


class MarkdownString(str):
    """A string of Markdown (`"# Header\\nSome text"`)."""


class CSVString(str):
    """A string of CSV (`"a,b,c\\n1,2,3"`)."""


class JSONString(str):
    """A string of JSON (`'{"key": "value"}'`)."""


_FILES: tuple[tuple[type[str], str, VisualizationType], ...] = (
    (CSVString, "output.csv", VisualizationType.CSV),
    (HTMLString, "output.html", VisualizationType.HTML),
    (MarkdownString, "output.md", VisualizationType.MARKDOWN),
    (JSONString, "output.json", VisualizationType.JSON),
)


def _kind(data_type: type) -> tuple[str, VisualizationType]:
    for cls, filename, visualization in _FILES:
        if issubclass(data_type, cls):
            return filename, visualization
    raise ValueError(f"Data type {data_type} is not supported by StructuredStringMaterializer.")


class StructuredStringMaterializer(BaseMaterializer):
    """HTML, Markdown, CSV or JSON strings, stored as a file of that kind."""

    NAME = "fanflow.structured_string"
    ASSOCIATED_TYPES = (CSVString, HTMLString, MarkdownString, JSONString)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA_ANALYSIS
    SKIP_REGISTRATION = True  # chosen by the registry (a builtin)

    def _path(self, data_type: type) -> str:
        return os.path.join(self.uri, _kind(data_type)[0])

    def load(self, data_type: type[Any]) -> Any:
        if not (isinstance(data_type, type) and any(issubclass(data_type, c) for c, *_ in _FILES)):
            # the recorded type is not importable here: go by the file that was written
            data_type = next(
                (c for c, name, _ in _FILES if os.path.exists(os.path.join(self.uri, name))), str
            )
            if data_type is str:
                raise FileNotFoundError(f"No structured string file in {self.uri!r}")
        with open(self._path(data_type), encoding="utf-8") as handle:
            return data_type(handle.read())

    def save(self, data: Any) -> None:
        with open(self._path(type(data)), "w", encoding="utf-8") as handle:
            handle.write(data)

    def save_visualizations(self, data: Any) -> dict[str, Any]:
        return {self._path(type(data)): _kind(type(data))[1]}
