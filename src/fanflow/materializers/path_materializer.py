"""ZenML's import path `fanflow.materializers.path_materializer.PathMaterializer`."""

from fanflow.artifacts.path_materializer import PathMaterializer

__all__ = ["PathMaterializer"]
