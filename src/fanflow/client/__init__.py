"""`from fanflow.client import Client`: read access to everything fanflow recorded.

Names are imported on first use so that modules needing only the view classes do not pull in
the database layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Client": "fanflow.client.client",
    "ArtifactVersionView": "fanflow.client.views",
    "ArtifactView": "fanflow.client.views",
    "HookInvocationView": "fanflow.client.views",
    "Page": "fanflow.client.views",
    "PipelineRunView": "fanflow.client.views",
    "PipelineView": "fanflow.client.views",
    "StepRunView": "fanflow.client.views",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from fanflow.client.client import Client
    from fanflow.client.views import (
        ArtifactVersionView,
        ArtifactView,
        HookInvocationView,
        Page,
        PipelineRunView,
        PipelineView,
        StepRunView,
    )


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fanflow.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
