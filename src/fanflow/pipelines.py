"""Public face for ZenML's `zenml.pipelines` import path: `from fanflow.pipelines import pipeline`.

The implementation lives in `fanflow.authoring`; this module only re-exports it.
"""

from __future__ import annotations

from fanflow.authoring.pipelines import Pipeline, pipeline

__all__ = ["Pipeline", "pipeline"]
