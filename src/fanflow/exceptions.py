"""The one exception hierarchy of fanflow.

Invariants:
- Every error fanflow raises on purpose derives from :class:`FanflowError`.
- Names follow ZenML where ZenML has the concept, so `except` clauses written for ZenML keep
  working after the import line changes.
- Definition errors (found while tracing a pipeline, before any run is recorded) are
  :class:`RuntimeError` subclasses, as are failed runs; "not found" errors are :class:`KeyError`
  subclasses so `load_artifact("missing")` behaves like a mapping lookup.
- Messages say what went wrong, where (step, input, output, run) and how to fix it.
"""

from __future__ import annotations


class FanflowError(Exception):
    """Base class of every error raised by fanflow itself."""

    def __str__(self) -> str:
        # KeyError subclasses would otherwise print their message wrapped in quotes.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


ZenMLBaseException = FanflowError


# --- definition errors: raised while tracing/compiling, before anything runs -----------------


class PipelineDefinitionError(FanflowError, RuntimeError):
    """A pipeline or step definition is invalid; nothing was run or recorded."""


class StepInterfaceError(PipelineDefinitionError):
    """A step was called with inputs that do not fit its signature (missing, unknown, extra)."""


class PipelineInterfaceError(PipelineDefinitionError):
    """A pipeline was called with arguments that do not fit its signature."""


class StepParameterTypeError(PipelineDefinitionError, TypeError):
    """A literal argument of a step does not match the step's annotation."""


class InvalidAfterReferenceError(PipelineDefinitionError):
    """`after=` names an invocation id that does not exist in the pipeline."""


class DuplicateInvocationIdError(PipelineDefinitionError):
    """Two step invocations in one pipeline use the same `id`."""


class PipelineCycleError(PipelineDefinitionError):
    """The invocations of a pipeline depend on each other in a cycle."""


class ForeignHandleError(PipelineDefinitionError):
    """A step output handle from another pipeline (or no pipeline) was passed to a step."""


class StaticOutputUseError(PipelineDefinitionError, TypeError):
    """A step output was used as a value (compared, branched on, iterated) while a static
    pipeline was being defined, where outputs are only handles to future values."""


class ReservedInvocationIdError(DuplicateInvocationIdError):
    """An explicit `id=` uses the `map:` prefix reserved for the branches of `.map(...)`."""


class MaterializerConflictError(FanflowError, RuntimeError):
    """Two materializers claim the same type and neither is marked as an override."""


# --- runtime errors ---------------------------------------------------------------------------


class StepExecutionException(FanflowError, RuntimeError):
    """A step failed while running; `original_exception` (and `__cause__`) is what it raised."""

    def __init__(self, message: str, original_exception: BaseException | None = None) -> None:
        super().__init__(message)
        self.original_exception = original_exception


class RunFailedError(FanflowError, RuntimeError):
    """A pipeline run ended in failure; `__cause__` holds the first failed step's exception.

    A `RuntimeError` (as ZenML's failed runs are) but not a :class:`StepExecutionException`:
    the run failed, not a step call the caller made. A dynamic run whose pipeline function
    called a step that failed raises :class:`DynamicRunStepFailedError`, which is both.
    """

    def __init__(
        self,
        message: str,
        run_name: str,
        failed_steps: tuple[str, ...],
        original_exception: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.original_exception = original_exception
        self.run_name = run_name
        self.failed_steps = failed_steps


class DynamicRunStepFailedError(RunFailedError, StepExecutionException):
    """A dynamic pipeline failed because a step it called failed (ZenML raises
    `StepExecutionException` there); still a :class:`RunFailedError` naming the run."""


class StepOutputError(StepExecutionException, TypeError):
    """A step returned a value that does not fit its declared outputs."""


class StepContextError(FanflowError, RuntimeError):
    """`get_step_context()` (or an in-step API) was used outside a running step."""


# --- storage errors ---------------------------------------------------------------------------


class EntityExistsError(FanflowError):
    """An entity with this name already exists (for example a pipeline run name)."""


class DoesNotExistError(FanflowError, KeyError):
    """The requested pipeline, run, step or artifact is not recorded in the store."""


EntityNotFoundError = DoesNotExistError
DoesNotExistException = DoesNotExistError


class UnknownFilterError(FanflowError, TypeError):
    """A Client `list_*` method got a keyword filter it does not know (a typo, or a ZenML
    filter fanflow does not implement); raised instead of silently returning everything."""


class AmbiguousIdentifierError(FanflowError, KeyError):
    """A name or id prefix matches more than one entity."""


class MaterializerError(FanflowError):
    """An artifact could not be saved or loaded by its materializer."""


class ArtifactMissingError(MaterializerError, FileNotFoundError):
    """An artifact is recorded in the metadata store but its data is gone from the store."""


class ArtifactCorruptedError(MaterializerError):
    """An artifact's files do not match the sizes and hashes recorded when it was published
    (or lead outside the artifact store), so fanflow refuses to load them."""


class MetadataStoreError(FanflowError, RuntimeError):
    """The metadata store cannot be used (corrupted, foreign, or from a newer fanflow)."""


class MetadataStoreBusyError(MetadataStoreError):
    """Another process held the metadata store's write lock for longer than fanflow waits."""


class MetadataStoreUnavailableError(MetadataStoreError):
    """The metadata store could not be written: its file vanished, its disk is full, or its
    folder is read-only. The message names the path."""


class SchemaVersionError(MetadataStoreError):
    """The metadata store was written by a newer fanflow than the one running."""


class MaterializerInterfaceError(FanflowError, TypeError):
    """A custom materializer class is declared wrongly (for example no ASSOCIATED_TYPES)."""


ZenKeyError = AmbiguousIdentifierError


class MapInputError(StepInterfaceError, TypeError):
    """`.map(...)` / `.product(...)` got inputs it cannot fan out over."""


class FanOutLimitError(PipelineDefinitionError):
    """A map would create more branches than the run's `max_fan_out` allows."""


class StepTimeoutError(StepExecutionException, TimeoutError):
    """A step ran longer than its `timeout`."""


class RunStoppedError(FanflowError, KeyboardInterrupt):
    """The run was stopped by Ctrl-C; finished steps are recorded and the run can be resumed."""


class ResumeError(FanflowError, RuntimeError):
    """A run cannot be resumed (still running, already completed, or its pipeline is gone)."""


class ConfigurationError(FanflowError, ValueError):
    """A run configuration (YAML file or `with_options(...)`) is malformed."""


class ParameterConflictError(FanflowError, RuntimeError):
    """A parameter is set both in code and in the run configuration, to different values
    (ZenML raises a RuntimeError here too)."""


class ResourceUnavailableError(FanflowError, RuntimeError):
    """A step declares `resources=` that the machine or cluster running it does not offer."""
