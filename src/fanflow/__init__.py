"""fanflow: ZenML-style steps and pipelines whose fan-out really runs in parallel.

    from fanflow import step, pipeline, get_step_context, unmapped
    from fanflow.client import Client

Invariant: importing `fanflow` loads nothing heavy (no SQLAlchemy, NumPy, pandas, Dask, rich)
and reads no configuration; each public name is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fanflow.client.resuming import register_resumer
from fanflow.client.writing import register_metadata_writer

__version__ = "0.1.0"

_EXPORTS = {
    "step": "fanflow.authoring.steps",
    "Step": "fanflow.authoring.steps",
    "pipeline": "fanflow.authoring.pipelines",
    "Pipeline": "fanflow.authoring.pipelines",
    "get_step_context": "fanflow.authoring.context",
    "StepContext": "fanflow.authoring.context",
    "get_pipeline_context": "fanflow.authoring.context",
    "PipelineContext": "fanflow.authoring.context",
    "ExternalArtifact": "fanflow.artifacts.external_artifact",
    "add_tags": "fanflow.authoring.artifact_api",
    "run_hook": "fanflow.authoring.hooks_api",
    "log_metadata": "fanflow.authoring.artifact_api",
    "bulk_log_metadata": "fanflow.authoring.artifact_api",
    "save_artifact": "fanflow.authoring.artifact_api",
    "load_artifact": "fanflow.authoring.artifact_api",
    "register_artifact": "fanflow.authoring.artifact_api",
    "log_artifact_metadata": "fanflow.authoring.artifact_api",
    "PreexistingArtifactPath": "fanflow.artifacts.preexisting_data_materializer",
    "unmapped": "fanflow.authoring.binding",
    "MapResults": "fanflow.execution.map_results",
    "ExecutionStatus": "fanflow.enums",
    "ArtifactType": "fanflow.enums",
    "ArtifactConfig": "fanflow.artifacts.artifact_config",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from fanflow.artifacts.artifact_config import ArtifactConfig
    from fanflow.artifacts.external_artifact import ExternalArtifact
    from fanflow.artifacts.preexisting_data_materializer import PreexistingArtifactPath
    from fanflow.authoring.artifact_api import (
        add_tags,
        bulk_log_metadata,
        load_artifact,
        log_artifact_metadata,
        log_metadata,
        register_artifact,
        save_artifact,
    )
    from fanflow.authoring.binding import unmapped
    from fanflow.authoring.context import (
        PipelineContext,
        StepContext,
        get_pipeline_context,
        get_step_context,
    )
    from fanflow.authoring.hooks_api import run_hook
    from fanflow.authoring.pipelines import Pipeline, pipeline
    from fanflow.authoring.steps import Step, step
    from fanflow.client import PipelineRunView
    from fanflow.enums import ArtifactType, ExecutionStatus
    from fanflow.execution.map_results import MapResults


def _resume_run(run: PipelineRunView) -> PipelineRunView:
    """What `run.resume()` calls: the Client cannot import the authoring layer, this can."""
    from fanflow.authoring.resume import resume_run

    return resume_run(run)


register_resumer(_resume_run)


def _write_metadata(changes: Any, metadata_url: str) -> None:
    """What `Client().create_run_metadata` writes through: only the authoring layer knows
    whether a step is running (its changes then travel with the step's result)."""
    from fanflow.authoring.artifact_api import route_metadata

    route_metadata(changes, metadata_url)


register_metadata_writer(_write_metadata)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fanflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
