"""`@pipeline`: a function whose step calls describe a graph; calling it runs the graph.

Calling a pipeline binds its parameters, traces the function into a `PipelineSpec` (every
definition error is raised here, before anything is recorded), runs the spec and returns the
finished run's view; a failed run raises `RunFailedError`.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from fanflow.config import ORCHESTRATOR_MODES
from fanflow.exceptions import PipelineInterfaceError
from fanflow.signature import parse_inputs
from fanflow.spec import RunOptions, frozen_mapping
from fanflow.tracing import active_trace, tracing
from fanflow.typecheck import describe, mismatch

F = TypeVar("F", bound=Callable[..., Any])

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
        "retry",
        "cache_policy",
        "execution_mode",
        "on_failure",
        "on_success",
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
        **zenml_options: Any,
    ) -> None:
        unknown = sorted(set(zenml_options) - _ACCEPTED_ZENML_OPTIONS)
        if unknown:
            raise TypeError(f"@pipeline got unexpected option(s) {unknown}.")
        if orchestrator is not None and orchestrator not in ORCHESTRATOR_MODES:
            raise ValueError(
                f"orchestrator must be one of {ORCHESTRATOR_MODES}, got {orchestrator!r}."
            )
        if max_parallelism is not None and (
            not isinstance(max_parallelism, int) or max_parallelism < 1
        ):
            raise ValueError(
                f"max_parallelism must be a positive integer, got {max_parallelism!r}."
            )
        self._func = func
        self.name = name or func.__name__
        self.enable_cache = enable_cache
        self.dynamic = dynamic
        self.unlisted = unlisted
        self.zenml_options = dict(zenml_options)
        self.options = RunOptions(
            run_name=run_name,
            enable_cache=enable_cache,
            max_parallelism=max_parallelism,
            orchestrator=orchestrator,
            substitutions=frozen_mapping(substitutions),
            extra=frozen_mapping(extra),
            tags=tuple(tags or ()),
        )
        self._signature = inspect.signature(func)
        self._inputs = parse_inputs(func, self.name)
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    @property
    def entrypoint(self) -> Callable[..., Any]:
        return self._func

    @property
    def source(self) -> str:
        return f"{self._func.__module__}:{self._func.__qualname__}"

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
        **zenml_options: Any,
    ) -> Pipeline:
        """A copy of this pipeline with run options changed (ZenML's `with_options`)."""
        clone = copy.copy(self)
        current = self.options
        clone.options = RunOptions(
            run_name=run_name if run_name is not None else current.run_name,
            enable_cache=enable_cache if enable_cache is not None else current.enable_cache,
            max_parallelism=max_parallelism or current.max_parallelism,
            orchestrator=orchestrator or current.orchestrator,
            substitutions=frozen_mapping({**current.substitutions, **(substitutions or {})}),
            extra=frozen_mapping({**current.extra, **(extra or {})}),
            tags=tuple(tags) if tags is not None else current.tags,
        )
        if enable_cache is not None:
            clone.enable_cache = enable_cache
        if unlisted is not None:
            clone.unlisted = unlisted
        unknown = sorted(set(zenml_options) - _ACCEPTED_ZENML_OPTIONS)
        if unknown:
            raise TypeError(f"with_options got unexpected option(s) {unknown}.")
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
        parameters = self._bind(args, kwargs)
        with tracing(self.name) as trace:
            self._func(**parameters)
        spec = trace.compile(
            source=self.source,
            parameters=parameters,
            options=self.options,
            pipeline_enable_cache=self.options.enable_cache,
        )
        from fanflow.launch import launch

        return launch(spec, unlisted=self.unlisted)


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
