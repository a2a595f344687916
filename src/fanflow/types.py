"""ZenML's special string types (`zenml.types`): return one from a step and the artifact gets a
visualization of that kind (`artifact.visualize()`).

They are plain `str` subclasses, stored by `StructuredStringMaterializer` as `output.html`,
`output.md`, `output.csv` or `output.json`, and load back as the same type.
"""

from fanflow.artifacts.structured_strings import CSVString, HTMLString, JSONString, MarkdownString

__all__ = ["CSVString", "HTMLString", "JSONString", "MarkdownString"]
