"""Status values shared by the scheduler, the metadata store and the Client.

Invariant: values are ZenML's lower-case strings, and members compare equal to them
(`ExecutionStatus.COMPLETED == "completed"`), so stored rows and user code can use either.
"""

from __future__ import annotations

from enum import Enum


class ExecutionStatus(str, Enum):
    INITIALIZING = "initializing"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    RETRYING = "retrying"
    RETRIED = "retried"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"
    CACHED = "cached"
    SKIPPED = "skipped"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value

    @property
    def is_finished(self) -> bool:
        return self not in (
            ExecutionStatus.INITIALIZING,
            ExecutionStatus.PROVISIONING,
            ExecutionStatus.RUNNING,
            ExecutionStatus.RETRYING,
            ExecutionStatus.STOPPING,
        )

    @property
    def is_successful(self) -> bool:
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.CACHED)


class ArtifactType(str, Enum):
    """What kind of thing an artifact is (ZenML's values), set by its materializer."""

    DATA = "DataArtifact"
    MODEL = "ModelArtifact"
    SCHEMA = "SchemaArtifact"
    SERVICE = "ServiceArtifact"
    STATISTICS = "StatisticsArtifact"
    DATA_ANALYSIS = "DataAnalysisArtifact"
    BASE = "BaseArtifact"

    def __str__(self) -> str:
        return self.value


class ArtifactSaveType(str, Enum):
    """How an artifact version came to be: a step's output or an explicit `save_artifact`."""

    STEP_OUTPUT = "step_output"
    MANUAL = "manual"
    PREEXISTING = "preexisting"  # registered in place with `register_artifact`

    def __str__(self) -> str:
        return self.value


class ExecutionMode(str, Enum):
    """What a run does when a step fails (ZenML's `execution_mode`).

    - CONTINUE_ON_FAILURE: steps that do not depend on the failed one still run; its dependents
      are skipped (the default of static pipelines);
    - STOP_ON_FAILURE: running steps finish, nothing new starts (the default of dynamic ones);
    - FAIL_FAST: like STOP_ON_FAILURE, and the run does not wait for running steps.
    """

    FAIL_FAST = "fail_fast"
    STOP_ON_FAILURE = "stop_on_failure"
    CONTINUE_ON_FAILURE = "continue_on_failure"

    def __str__(self) -> str:
        return self.value


class HookType(str, Enum):
    """What a recorded hook invocation was: a step or run lifecycle point, or `run_hook`."""

    STEP_START = "step_start"
    STEP_END = "step_end"
    STEP_SUCCESS = "step_success"
    STEP_FAILURE = "step_failure"
    RUN_START = "run_start"
    RUN_END = "run_end"
    RUN_SUCCESS = "run_success"
    RUN_FAILURE = "run_failure"
    RUN_PAUSE = "run_pause"
    RUN_RESUME = "run_resume"
    CUSTOM = "custom"

    def __str__(self) -> str:
        return self.value


class StepRuntime(str, Enum):
    """Where a step of a dynamic pipeline runs (`@step(runtime=...)`): both run locally here."""

    INLINE = "inline"
    ISOLATED = "isolated"

    def __str__(self) -> str:
        return self.value


class MetadataResourceTypes(str, Enum):
    """What a piece of run metadata is attached to."""

    PIPELINE_RUN = "pipeline_run"
    STEP_RUN = "step_run"
    ARTIFACT_VERSION = "artifact_version"
    MODEL_VERSION = "model_version"

    def __str__(self) -> str:
        return self.value


class VisualizationType(str, Enum):
    """Kinds of artifact visualizations (accepted for compatibility)."""

    CSV = "csv"
    HTML = "html"
    IMAGE = "image"
    MARKDOWN = "markdown"
    JSON = "json"

    def __str__(self) -> str:
        return self.value
