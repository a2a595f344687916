"""Where ZenML users import materializers from: `fanflow.materializers.BaseMaterializer`."""

from fanflow.artifacts.builtin_materializers import (
    BytesMaterializer,
    CloudpickleMaterializer,
    JsonMaterializer,
    NumpyMaterializer,
    PandasMaterializer,
    PydanticMaterializer,
)
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.artifacts.registry import materializer_registry

__all__ = [
    "BaseMaterializer",
    "BytesMaterializer",
    "CloudpickleMaterializer",
    "JsonMaterializer",
    "NumpyMaterializer",
    "PandasMaterializer",
    "PydanticMaterializer",
    "materializer_registry",
]
