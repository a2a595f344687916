"""`from fanflow.materializers.base_materializer import BaseMaterializer` (ZenML's path)."""

from fanflow.artifacts import registry  # noqa: F401  (installs registration on definition)
from fanflow.artifacts.materializers import BaseMaterializer

__all__ = ["BaseMaterializer"]
