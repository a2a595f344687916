"""ZenML's import path `fanflow.materializers.materializer_registry.materializer_registry`.

`import fanflow.materializers.materializer_registry` makes this module the package attribute of
the same name, so the module forwards every other attribute to the registry: code that reaches
the registry through the package (`fanflow.materializers.materializer_registry.register(...)`)
works either way.
"""

from __future__ import annotations

from typing import Any

from fanflow.artifacts.registry import MaterializerRegistry, materializer_registry

__all__ = ["MaterializerRegistry", "materializer_registry"]


def __getattr__(name: str) -> Any:
    return getattr(materializer_registry, name)
