"""Status values shared by the scheduler, the metadata store and the Client.

Invariant: values are ZenML's lower-case strings, and members compare equal to them
(`ExecutionStatus.COMPLETED == "completed"`), so stored rows and user code can use either.
"""

from __future__ import annotations

from enum import Enum


class ExecutionStatus(str, Enum):
    INITIALIZING = "initializing"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CACHED = "cached"
    SKIPPED = "skipped"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value

    @property
    def is_finished(self) -> bool:
        return self not in (ExecutionStatus.INITIALIZING, ExecutionStatus.RUNNING)

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
