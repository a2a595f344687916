"""The compiled form of a pipeline: frozen, plain data, no decorators.

Tracing a pipeline function produces a :class:`PipelineSpec`; the scheduler, the executors and the
metadata store only ever see these objects. Invariants:
- every object here is immutable once built (frozen dataclasses, tuples, read-only mappings);
- an :class:`Invocation`'s `upstream` holds every invocation it must wait for (data inputs and
  `after=`), sorted and without duplicates;
- a :class:`StepDefinition` holds the plain function, never the `@step` object, so it can be
  pickled to another process with cloudpickle.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fanflow.config.retry_config import StepRetryConfig

EMPTY_MAPPING: Mapping[str, Any] = types.MappingProxyType({})


class _Missing:
    """Marks a step input without a default value."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def frozen_mapping(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not values:
        return EMPTY_MAPPING
    return types.MappingProxyType(dict(values))


# How a Tuple[...] return annotation maps to outputs (quoted by the errors that depend on it).
MAP_BRANCH_PREFIX = "map:"


def map_branch_id(group: str, index: int) -> str:
    """ZenML's name for the index-th branch of a map: `map:<group>:<index>`."""
    return f"{MAP_BRANCH_PREFIX}{group}:{index}"


def split_branch_id(invocation_id: str) -> tuple[str | None, int]:
    """`map:<group>:<index>` back into its group and index; `(None, -1)` for any other id."""
    if not invocation_id.startswith(MAP_BRANCH_PREFIX):
        return None, -1
    group, _, index = invocation_id[len(MAP_BRANCH_PREFIX) :].rpartition(":")
    if not group or not index.isdigit() or (index != "0" and index.startswith("0")):
        return None, -1
    return group, int(index)


TUPLE_RULE = (
    "ZenML's rule: a Tuple[...] return annotation declares one output per element only when "
    "the function's `return` statement is a literal tuple (`return a, b`); returning a tuple "
    "held in a variable (`return pair`) makes the whole tuple one output named 'output'."
)


@dataclass(frozen=True, slots=True)
class InputSignature:
    name: str
    annotation: Any
    default: Any = MISSING

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass(frozen=True, slots=True)
class OutputSignature:
    name: str
    annotation: Any
    artifact_name: str | None = None
    materializer: type | None = None
    config: Any = None  # an `ArtifactConfig` (version, tags, run_metadata, artifact_type)


@dataclass(frozen=True, slots=True)
class StepConfig:
    """Options of a step that do not change its signature. `None` means "inherit"."""

    enable_cache: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING)
    retry: StepRetryConfig | None = None
    timeout: float | None = None
    max_concurrency: int | None = None
    min_success_ratio: float | None = None
    on_failure: Callable[..., Any] | None = None
    on_success: Callable[..., Any] | None = None
    settings: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING)
    on_start: Callable[..., Any] | None = None
    on_end: Callable[..., Any] | None = None
    resources: Mapping[str, float] = field(default_factory=lambda: EMPTY_MAPPING)
    # True when `resources` came from ZenML's `settings["resources"]` rather than `resources=`:
    # this machine's executors then check them only against a declared `FANFLOW_RESOURCES`
    # (ZenML's local orchestrator ignores resource settings; a program must still run).
    resources_from_settings: bool = False


@dataclass(frozen=True, eq=False)
class StepDefinition:
    """What a step is: its function, interface and options (identity-compared)."""

    name: str
    func: Callable[..., Any]
    source: str
    inputs: tuple[InputSignature, ...]
    outputs: tuple[OutputSignature, ...]
    returns_tuple: bool
    config: StepConfig = field(default_factory=StepConfig)

    def input(self, name: str) -> InputSignature | None:
        for signature in self.inputs:
            if signature.name == name:
                return signature
        return None


@dataclass(frozen=True, slots=True)
class OutputRef:
    """An output of another invocation in the same pipeline."""

    invocation_id: str
    output_name: str


@dataclass(frozen=True, slots=True)
class ExternalArtifactRef:
    """An artifact version recorded earlier (for example fetched with the Client)."""

    artifact_version_id: str


@dataclass(frozen=True, slots=True)
class ListRef:
    """A fan-in input: several artifacts delivered to one `list[T]` parameter, in this order."""

    items: tuple[OutputRef | ExternalArtifactRef, ...]


InputRef = OutputRef | ExternalArtifactRef | ListRef


@dataclass(frozen=True, slots=True)
class Invocation:
    id: str
    step: StepDefinition
    inputs: Mapping[str, InputRef]
    parameters: Mapping[str, Any]
    upstream: tuple[str, ...]
    after: tuple[str, ...] = ()
    enable_cache: bool = True
    map_group: str | None = None
    map_index: int | None = None
    # Creation order within a dynamic run (call order; a map's branches in index order), so
    # `run.steps` lists a dynamic run as its function called the steps. None in static runs.
    position: int | None = None

    def input_refs(self) -> list[OutputRef | ExternalArtifactRef]:
        refs: list[OutputRef | ExternalArtifactRef] = []
        for ref in self.inputs.values():
            if isinstance(ref, ListRef):
                refs.extend(ref.items)
            else:
                refs.append(ref)
        return refs


def effective_enable_cache(step_setting: bool | None, pipeline_setting: bool | None) -> bool:
    """A step's own `enable_cache` wins, then the pipeline's; caching is on by default."""
    if step_setting is not None:
        return step_setting
    return pipeline_setting if pipeline_setting is not None else True


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Options of one pipeline run (decorator values overridden by `with_options`)."""

    run_name: str | None = None
    enable_cache: bool | None = None
    max_parallelism: int | None = None
    orchestrator: str | None = None
    substitutions: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAPPING)
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING)
    tags: tuple[str, ...] = ()
    max_fan_out: int | None = None
    execution_mode: str | None = None
    retry: StepRetryConfig | None = None
    on_failure: Callable[..., Any] | None = None
    on_success: Callable[..., Any] | None = None
    on_start: Callable[..., Any] | None = None
    on_end: Callable[..., Any] | None = None
    # Dynamic pipelines only (ZenML ignores them on static ones): the graceful stop and resume.
    on_pause: Callable[..., Any] | None = None
    on_resume: Callable[..., Any] | None = None


@dataclass(frozen=True)
class PipelineSpec:
    name: str | None
    source: str
    invocations: Mapping[str, Invocation]
    parameters: Mapping[str, Any]
    options: RunOptions
