"""ZenML's import path `fanflow.materializers.structured_string_materializer`."""

from fanflow.artifacts.structured_strings import StructuredStringMaterializer

__all__ = ["StructuredStringMaterializer"]
