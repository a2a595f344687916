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
import os
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from fanflow.authoring.signature import parse_inputs
from fanflow.authoring.tracing import active_trace, tracing
from fanflow.config import ORCHESTRATOR_MODES
from fanflow.config.retry_config import StepRetryConfig
from fanflow.enums import ExecutionMode
from fanflow.exceptions import PipelineInterfaceError
from fanflow.execution.lifecycle import resolve_hook
from fanflow.spec import RunOptions, frozen_mapping
from fanflow.typecheck import describe, mismatch

F = TypeVar("F", bound=Callable[..., Any])

# The module name a resume loads a `__main__` script under (it cannot be `__main__` again).
RESUMED_SCRIPT_MODULE = "__fanflow_resumed_main__"

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
        "config_path",
        "prevent_build_reuse",
        "step_configurations",
        "steps",
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
        **zenml_options: Any,
    ) -> None:
        _check_zenml_options(zenml_options, "@pipeline")
        self._func = func
        self.name = name or func.__name__
        self.dynamic = dynamic
        self.unlisted = unlisted
        self.zenml_options = dict(zenml_options)
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
            )
        )
        self._signature = inspect.signature(func)
        self._inputs = parse_inputs(func, self.name)
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
        **zenml_options: Any,
    ) -> Pipeline:
        """A copy of this pipeline with run options changed (ZenML's `with_options`)."""
        _check_zenml_options(zenml_options, "with_options")
        current = self.options
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
        }
        clone = copy.copy(self)
        clone.options = _validated(
            dataclasses.replace(
                current,
                substitutions=frozen_mapping({**current.substitutions, **(substitutions or {})}),
                extra=frozen_mapping({**current.extra, **(extra or {})}),
                **{key: value for key, value in changes.items() if value is not None},
            )
        )
        if unlisted is not None:
            clone.unlisted = unlisted
        clone.zenml_options = {**self.zenml_options, **zenml_options}
        return clone

    def configure(self, **changes: Any) -> Pipeline:
        updated = self.with_options(**changes)
        self.__dict__.update(updated.__dict__)
        return self

    # --- running ---------------------------------------------------------------------------------

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self._signature.bind(*args, **kwargs)
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
            failure_policy=self.options.execution_mode
            or ("stop_on_failure" if self.dynamic else "continue_on_failure"),
        )
        settings = load_settings()
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
            )
        with tracing(self.name) as trace:
            trace.max_fan_out = self.options.max_fan_out
            self._func(**parameters)
        spec = trace.compile(
            source=self.source,
            parameters=parameters,
            options=self.options,
            pipeline_enable_cache=self.options.enable_cache,
        )
        from fanflow.authoring.launch import launch

        return launch(
            spec, description=description, settings=settings, unlisted=self.unlisted, resume=resume
        )


def _check_zenml_options(options: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(options) - _ACCEPTED_ZENML_OPTIONS)
    if unknown:
        raise TypeError(f"{where} got unexpected option(s) {unknown}.")


def _validated(options: RunOptions) -> RunOptions:
    if options.orchestrator is not None and options.orchestrator not in ORCHESTRATOR_MODES:
        raise ValueError(
            f"orchestrator must be one of {ORCHESTRATOR_MODES}, got {options.orchestrator!r}."
        )
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
