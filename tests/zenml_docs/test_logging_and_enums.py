"""Imports ZenML programs use for logging and enums (`zenml.logger.get_logger`,
`zenml.enums`), run with `zenml` -> `fanflow`."""

from __future__ import annotations

import logging

from fanflow import pipeline, step
from fanflow.enums import (
    ArtifactType,
    ExecutionMode,
    ExecutionStatus,
    HookType,
    MetadataResourceTypes,
    StepRuntime,
    VisualizationType,
)
from fanflow.logger import get_logger

logger = get_logger(__name__)


def test_get_logger_messages_land_in_the_step_log_and_on_stderr(capfd):
    @step(enable_cache=False)
    def chatty() -> int:
        logger.info("Training with learning rate 0.01")
        return 1

    @pipeline
    def logging_pipeline():
        chatty()

    run = logging_pipeline()
    assert "Training with learning rate 0.01" in run.steps["chatty"].logs.read()
    assert "Training with learning rate 0.01" in capfd.readouterr().err
    assert logger.getEffectiveLevel() == logging.INFO


def test_enum_names_zenml_programs_use():
    assert {m.name for m in ExecutionMode} == {
        "FAIL_FAST",
        "STOP_ON_FAILURE",
        "CONTINUE_ON_FAILURE",
    }
    assert (
        ExecutionStatus.COMPLETED == "completed" and ExecutionStatus.RETRYING.is_finished is False
    )
    assert ArtifactType.MODEL == "ModelArtifact"
    assert HookType.STEP_START == "step_start" and HookType.CUSTOM == "custom"
    assert StepRuntime("inline") is StepRuntime.INLINE
    assert MetadataResourceTypes.PIPELINE_RUN == "pipeline_run"
    assert VisualizationType.HTML == "html"
