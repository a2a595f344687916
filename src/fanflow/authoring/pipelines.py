"""`@pipeline`: a function whose step calls describe a graph; calling it runs the graph.

Calling a pipeline binds its parameters, traces the function into a `PipelineSpec` (every
definition error is raised here, before anything is recorded), runs the spec and returns the
finished run's view; a failed run raises `RunFailedError`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import logging
import os
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from fanflow.authoring.context import PipelineContext, pipeline_context
from fanflow.authoring.run_config import (
    RunConfig,
    StepOverrides,
    expand_env,
    load_run_config,
    step_overrides,
)
from fanflow.authoring.signature import parse_inputs
from fanflow.authoring.tracing import active_trace, tracing
from fanflow.config.retry_config import StepRetryConfig
from fanflow.config.step_settings import merge_settings, report_ignored_settings
from fanflow.enums import ExecutionMode
from fanflow.exceptions import ConfigurationError, ParameterConflictError, PipelineInterfaceError
from fanflow.execution.step_hooks import resolve_hook
from fanflow.spec import RunOptions, frozen_mapping
from fanflow.typecheck import describe, mismatch

if TYPE_CHECKING:
    from fanflow.client import PipelineRunView, PipelineView

F = TypeVar("F", bound=Callable[..., Any])

# The module name a resume loads a `__main__` script under (it cannot be `__main__` again).
RESUMED_SCRIPT_MODULE = "__fanflow_resumed_main__"

logger = logging.getLogger("fanflow")

# Pipelines defined in this process, by source, so a run can be resumed without re-importing.
KNOWN_PIPELINES: weakref.WeakValueDictionary[str, Pipeline] = weakref.WeakValueDictionary()

_ACCEPTED_ZENML_OPTIONS = frozenset(
    {
        "enable_artifact_metadata",
        "enable_artifact_visualization",
        "enable_step_logs",
        "enable_pipeline_logs",
        "settings",
        "model",
        "environment",
        "secrets",
        "on_init",
        "on_init_kwargs",
        "on_cleanup",
        "cache_policy",
        "schedule",
        "build",
        "prevent_build_reuse",
        "enable_heartbeat",
        "depends_on",
    }
)


class Pipeline:
    """A pipeline: call it (with its parameters) to run it."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        enable_cache: bool | None = None,
        max_parallelism: int | None = None,
        orchestrator: str | None = None,
        dynamic: bool = False,
        run_name: str | None = None,
        substitutions: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        unlisted: bool = False,
        max_fan_out: int | None = None,
        execution_mode: Any = None,
        retry: StepRetryConfig | None = None,
        on_failure: Any = None,
        on_success: Any = None,
        on_start: Any = None,
        on_end: Any = None,
        on_pause: Any = None,
        on_resume: Any = None,
        **zenml_options: Any,
    ) -> None:
        _check_zenml_options(zenml_options, "@pipeline")
        self._func = func
        self.name = name or func.__name__
        self.dynamic = dynamic
        self.unlisted = unlisted
        self.zenml_options = dict(zenml_options)
        if zenml_options.get("settings") is not None:
            self.zenml_options["settings"] = merge_settings(zenml_options["settings"])
        self.options = _validated(
            RunOptions(
                run_name=run_name,
                enable_cache=enable_cache,
                max_parallelism=max_parallelism,
                orchestrator=orchestrator,
                substitutions=frozen_mapping(substitutions),
                extra=frozen_mapping(extra),
                tags=tuple(tags or ()),
                max_fan_out=max_fan_out,
                execution_mode=None if execution_mode is None else str(execution_mode),
                retry=retry,
                on_failure=resolve_hook(on_failure, "on_failure"),
                on_success=resolve_hook(on_success, "on_success"),
                on_start=resolve_hook(on_start, "on_start"),
                on_end=resolve_hook(on_end, "on_end"),
                on_pause=resolve_hook(on_pause, "on_pause"),
                on_resume=resolve_hook(on_resume, "on_resume"),
            )
        )
        _note_ignored_pause_hooks(self)
        self._signature = inspect.signature(func)
        self._inputs = parse_inputs(func, self.name)
        self._config_parameters: dict[str, Any] = {}
        self._step_overrides: dict[str, StepOverrides] = {}
        self._from_file: dict[str, Any] = {}  # option values a config file set, to warn on change
        functools.update_wrapper(self, func)  # type: ignore[arg-type]
        KNOWN_PIPELINES[self.source] = self

    @property
    def enable_cache(self) -> bool | None:
        return self.options.enable_cache

    @property
    def entrypoint(self) -> Callable[..., Any]:
        return self._func

    @property
    def source(self) -> str:
        return f"{self._func.__module__}:{self._func.__qualname__}"

    @property
    def recorded_source(self) -> str:
        """The source a run records: a script loaded again by a resume still counts as the
        `__main__` script it was, so a resume of that resume finds it the same way."""
        module = self._func.__module__
        if module == RESUMED_SCRIPT_MODULE:
            module = "__main__"
        return f"{module}:{self._func.__qualname__}"

    @property
    def script_path(self) -> str | None:
        """The file of the script this pipeline was defined in (None for an imported module)."""
        module = self._func.__module__
        if module not in ("__main__", RESUMED_SCRIPT_MODULE):
            return None
        path = getattr(sys.modules.get(module), "__file__", None)
        return os.path.abspath(path) if path else None

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    # --- fetching runs (ZenML's `pipeline.model.last_run`, `pipeline.last_run`, ...) -------------

    @property
    def model(self) -> PipelineView:
        """This pipeline's record (KeyError before its first run)."""
        from fanflow.client import Client

        return Client().get_pipeline(self.name)

    @property
    def runs(self) -> list[PipelineRunView]:
        return self.model.runs

    @property
    def last_run(self) -> PipelineRunView:
        return self.model.last_run

    @property
    def last_successful_run(self) -> PipelineRunView:
        return self.model.last_successful_run

    def get_runs(self, **filters: Any) -> list[PipelineRunView]:
        return self.model.get_runs(**filters)

    # --- options -------------------------------------------------------------------------------

    def with_options(
        self,
        run_name: str | None = None,
        enable_cache: bool | None = None,
        max_parallelism: int | None = None,
        orchestrator: str | None = None,
        substitutions: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        unlisted: bool | None = None,
        max_fan_out: int | None = None,
        execution_mode: Any = None,
        retry: StepRetryConfig | None = None,
        on_failure: Any = None,
        on_success: Any = None,
        on_start: Any = None,
        on_end: Any = None,
        on_pause: Any = None,
        on_resume: Any = None,
        config_path: str | os.PathLike[str] | None = None,
        steps: Mapping[str, Any] | None = None,
        step_configurations: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        **zenml_options: Any,
    ) -> Pipeline:
        """A copy of this pipeline with run options changed (ZenML's `with_options`).

        `config_path=` reads a YAML run configuration first; values given here in code are
        applied after it, so code wins (with a warning when it changes a value the file set).
        """
        _check_zenml_options(zenml_options, "with_options")
        clone = copy.copy(self)
        clone._config_parameters = dict(self._config_parameters)
        clone._step_overrides = dict(self._step_overrides)
        clone._from_file = dict(self._from_file)
        if config_path is not None:
            clone._apply_config_file(load_run_config(config_path))
        code_values = {
            "run_name": run_name,
            "enable_cache": enable_cache,
            "extra": extra,
            "tags": tags,
            "execution_mode": execution_mode,
        }
        for key, value in code_values.items():
            if value is not None and key in clone._from_file and clone._from_file[key] != value:
                logger.warning(
                    "Pipeline %s: %s set in code (%r) replaces the value from the configuration "
                    "file (%r).",
                    self.name,
                    key,
                    value,
                    clone._from_file[key],
                )
        current = clone.options
        changes: dict[str, Any] = {
            "run_name": run_name,
            "enable_cache": enable_cache,
            "max_parallelism": max_parallelism,
            "orchestrator": orchestrator,
            "tags": tuple(tags) if tags is not None else None,
            "max_fan_out": max_fan_out,
            "execution_mode": None if execution_mode is None else str(execution_mode),
            "retry": retry,
            "on_failure": resolve_hook(on_failure, "on_failure"),
            "on_success": resolve_hook(on_success, "on_success"),
            "on_start": resolve_hook(on_start, "on_start"),
            "on_end": resolve_hook(on_end, "on_end"),
            "on_pause": resolve_hook(on_pause, "on_pause"),
            "on_resume": resolve_hook(on_resume, "on_resume"),
        }
        clone.options = _validated(
            dataclasses.replace(
                current,
                substitutions=frozen_mapping({**current.substitutions, **(substitutions or {})}),
                extra=frozen_mapping({**current.extra, **(extra or {})}),
                **{key: value for key, value in changes.items() if value is not None},
            )
        )
        if on_pause is not None or on_resume is not None:
            _note_ignored_pause_hooks(clone)
        if parameters is not None:
            unknown = sorted(set(parameters) - set(self._signature.parameters))
            if unknown:
                raise ConfigurationError(
                    f"Pipeline {self.name!r} has no parameter(s) {unknown}; its parameters are "
                    f"{list(self._signature.parameters)}."
                )
            if "parameters" in clone._from_file:
                logger.warning(
                    "Pipeline %s: parameters set in code replace those from the configuration "
                    "file.",
                    self.name,
                )
            clone._config_parameters.update(parameters)
        for raw in (step_configurations, steps):
            if raw:
                clone._step_overrides.update(step_overrides(raw, f"{self.name}: steps"))
        if unlisted is not None:
            clone.unlisted = unlisted
        code_settings = zenml_options.pop("settings", None)
        clone.zenml_options = {**clone.zenml_options, **zenml_options}
        if code_settings is not None:  # merged per key over the decorator's and the file's
            clone.zenml_options["settings"] = merge_settings(
                clone.zenml_options.get("settings"), code_settings
            )
        return clone

    def configure(self, **changes: Any) -> Pipeline:
        """Change this pipeline's options in place (ZenML's `configure`); returns it."""
        updated = self.with_options(**changes)
        self.__dict__.update(updated.__dict__)
        return self

    def _apply_config_file(self, config: RunConfig) -> None:
        values = dict(config.values)
        if "execution_mode" in values:
            values["execution_mode"] = str(values["execution_mode"])
        current = self.options
        replaced: dict[str, Any] = {}
        for key in ("run_name", "enable_cache", "execution_mode"):
            if key in values:
                replaced[key] = values[key]
        if "tags" in values:
            replaced["tags"] = tuple(values["tags"])
        if "extra" in values:
            replaced["extra"] = frozen_mapping({**current.extra, **values["extra"]})
        if "substitutions" in values:
            replaced["substitutions"] = frozen_mapping(
                {**current.substitutions, **values["substitutions"]}
            )
        self.options = _validated(dataclasses.replace(current, **replaced))
        unknown = sorted(set(config.parameters) - set(self._signature.parameters))
        if unknown:
            raise ConfigurationError(
                f"{config.source}: pipeline {self.name!r} has no parameter(s) {unknown}; its "
                f"parameters are {list(self._signature.parameters)}."
            )
        self._config_parameters.update(config.parameters)
        self._step_overrides.update(config.steps)
        if "settings" in values:
            self.zenml_options = {
                **self.zenml_options,
                "settings": merge_settings(self.zenml_options.get("settings"), values["settings"]),
            }
        self._from_file.update(values)
        if config.parameters:
            self._from_file["parameters"] = dict(config.parameters)

    def write_run_configuration_template(self, path: str, stack: Any = None) -> None:
        """Write a YAML template of this pipeline's run configuration, every line commented
        out (ZenML's method; `stack` is accepted and has no effect). Steps are listed when the
        pipeline can be traced with its configured and default parameters, as ZenML does."""
        from fanflow.authoring.run_template import write_pipeline_template

        try:
            parameters: dict[str, Any] | None = None if self.dynamic else self._bind((), {})
        except PipelineInterfaceError:
            parameters = None
        write_pipeline_template(self, path, parameters, self._inputs, self._step_overrides)

    @property
    def configuration(self) -> PipelineConfiguration:
        """The pipeline's current configuration (ZenML's `pipeline.configuration`)."""
        options = self.options
        return PipelineConfiguration(
            name=self.name,
            enable_cache=options.enable_cache,
            run_name=options.run_name,
            extra=dict(options.extra),
            tags=list(options.tags),
            substitutions=dict(options.substitutions),
            parameters=dict(self._config_parameters),
            execution_mode=options.execution_mode,
            settings=dict(self.zenml_options.get("settings") or {}),
        )

    # --- running ---------------------------------------------------------------------------------

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            given = self._signature.bind_partial(*args, **kwargs).arguments
        except TypeError as exc:
            raise PipelineInterfaceError(
                f"Wrong arguments when calling pipeline {self.name!r}: {exc}."
            ) from None
        for key, configured in self._config_parameters.items():
            if key in given and not _same_value(given[key], configured):
                raise ParameterConflictError(
                    f"Configured parameter for the pipeline `{self.name}` conflict with "
                    f"parameter passed in runtime: `{key}` is configured as {configured!r} but "
                    f"the call passes {given[key]!r}."
                )
        try:
            bound = self._signature.bind(**{**self._config_parameters, **given})
        except TypeError as exc:
            raise PipelineInterfaceError(
                f"Wrong arguments when calling pipeline {self.name!r}: {exc}."
            ) from None
        bound.apply_defaults()
        for signature in self._inputs:
            value = bound.arguments[signature.name]
            problem = mismatch(value, signature.annotation)
            if problem is not None:
                raise PipelineInterfaceError(
                    f"Pipeline {self.name!r} parameter {signature.name!r} expects "
                    f"{describe(signature.annotation)}, got {value!r} ({problem})."
                )
        return dict(bound.arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if active_trace() is not None:  # a pipeline used inside another: inline its steps
            return self._func(*args, **kwargs)
        return self._run(self._bind(args, kwargs))

    def _run(self, parameters: dict[str, Any], resume: Any = None) -> Any:
        """Run with bound parameters; `resume` (from `fanflow.authoring.resume`) reuses an
        earlier run's finished steps."""
        from fanflow.config import load_settings
        from fanflow.execution.run_setup import RunDescription

        description = RunDescription(
            name=self.name,
            source=self.recorded_source,
            main_file=self.script_path,
            parameters=parameters,
            options=self.options,
            dynamic=self.dynamic,
            failure_policy=ExecutionMode(
                self.options.execution_mode
                or (ExecutionMode.STOP_ON_FAILURE if self.dynamic else "continue_on_failure")
            ),
        )
        settings = load_settings()
        if self.options.extra and "${" in repr(dict(self.options.extra)):
            expanded = expand_env(
                dict(self.options.extra), strict=False, where=f"pipeline {self.name!r} extra"
            )
            description = dataclasses.replace(
                description,
                options=dataclasses.replace(description.options, extra=frozen_mapping(expanded)),
            )
        context = PipelineContext(
            name=self.name,
            extra=dict(description.options.extra),
            enable_cache=self.options.enable_cache,
            run_name=self.options.run_name,
            parameters=dict(parameters),
            tags=list(self.options.tags),
        )
        with pipeline_context(context):
            return self._run_in_context(parameters, description, settings, resume)

    def _run_in_context(
        self, parameters: dict[str, Any], description: Any, settings: Any, resume: Any
    ) -> Any:
        from fanflow.execution.observers import ensure_console_logging

        ensure_console_logging(settings.logging_verbosity)
        pipeline_settings = dict(self.zenml_options.get("settings") or {})
        report_ignored_settings(pipeline_settings, f"Pipeline {self.name!r}")
        if self.dynamic:
            from fanflow.authoring.dynamic import run_dynamic

            return run_dynamic(
                self._func,
                parameters,
                description,
                settings,
                unlisted=self.unlisted,
                max_fan_out=self.options.max_fan_out,
                resume=resume,
                step_overrides=self._step_overrides,
                pipeline_settings=pipeline_settings,
                pipeline=self,
            )
        with tracing(self.name) as trace:
            trace.max_fan_out = self.options.max_fan_out
            trace.step_overrides = self._step_overrides
            trace.pipeline_settings = pipeline_settings
            self._func(**parameters)
        unused = sorted(set(self._step_overrides) - set(trace.drafts))
        if unused:
            logger.warning(
                "Pipeline %s: the configuration names step(s) %s that this run does not call; "
                "its steps are %s.",
                self.name,
                unused,
                sorted(trace.drafts),
            )
        spec = trace.compile(
            source=self.source,
            parameters=parameters,
            options=description.options,
            pipeline_enable_cache=description.options.enable_cache,
        )
        from fanflow.authoring.launch import launch

        return launch(
            spec, description=description, settings=settings, unlisted=self.unlisted, resume=resume
        )


def _same_value(given: Any, configured: Any) -> bool:
    try:
        return bool(given == configured) and type(given) is type(configured)
    except Exception:
        return False


@dataclasses.dataclass(frozen=True)
class PipelineConfiguration:
    """A read-only view of a pipeline's configuration."""

    name: str
    enable_cache: bool | None
    run_name: str | None
    extra: dict[str, Any]
    tags: list[str]
    substitutions: dict[str, str]
    parameters: dict[str, Any]
    execution_mode: str | None
    settings: dict[str, Any]


def _check_zenml_options(options: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(options) - _ACCEPTED_ZENML_OPTIONS)
    if unknown:
        raise TypeError(f"{where} got unexpected option(s) {unknown}.")


def _validated(options: RunOptions) -> RunOptions:
    if options.orchestrator is not None:
        from fanflow.execution.executors import check_executor_name

        check_executor_name(options.orchestrator)
    for name in ("max_parallelism", "max_fan_out"):
        value = getattr(options, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    modes = [mode.value for mode in ExecutionMode]
    if options.execution_mode is not None and options.execution_mode not in modes:
        raise ValueError(f"execution_mode must be one of {modes}, got {options.execution_mode!r}.")
    return options


def _note_ignored_pause_hooks(pipeline: Pipeline) -> None:
    """ZenML ignores `on_pause`/`on_resume` on static pipelines; say so rather than be silent."""
    if not pipeline.dynamic and (pipeline.options.on_pause or pipeline.options.on_resume):
        logger.warning(
            "Pipeline %s: on_pause/on_resume hooks fire only for dynamic pipelines "
            "(@pipeline(dynamic=True)); they are ignored on this static pipeline.",
            pipeline.name,
        )


@overload
def pipeline(_func: F) -> Pipeline: ...


@overload
def pipeline(
    _func: None = None,
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    max_parallelism: int | None = None,
    orchestrator: str | None = None,
    dynamic: bool = False,
    substitutions: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    **zenml_options: Any,
) -> Callable[[F], Pipeline]: ...


def pipeline(_func: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a pipeline: `@pipeline` or `@pipeline(name=..., enable_cache=...)`."""
    if _func is not None:
        return Pipeline(_func, **options)

    def decorate(func: Callable[..., Any]) -> Pipeline:
        return Pipeline(func, **options)

    return decorate
