"""`@step`: turning a function into a step.

A `Step` holds a frozen `StepDefinition` (function, inputs, outputs, options) and decides what a
call means where it happens:
- inside a pipeline being traced, it records an invocation and returns output handles;
- inside a running step, it is a plain function call (as in ZenML);
- anywhere else, it runs as a single-step pipeline (uncached, recorded under a pipeline named
  after the step) and returns the values.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from fanflow.authoring.signature import (
    attach_materializers,
    check_annotations,
    parse_inputs,
    parse_outputs,
)
from fanflow.authoring.tracing import active_dynamic_run, active_trace, check_explicit_id
from fanflow.config import enforce_type_annotations
from fanflow.config.resource_settings import ResourceSettings
from fanflow.config.retry_config import StepRetryConfig
from fanflow.config.step_settings import (
    STEP_OPTIONS,
    merge_settings,
    resources_from_settings,
)
from fanflow.execution.runtime import active_step
from fanflow.execution.step_hooks import resolve_hook
from fanflow.spec import StepConfig, StepDefinition, frozen_mapping

logger = logging.getLogger("fanflow")

F = TypeVar("F", bound=Callable[..., Any])

# Options ZenML steps accept that have no effect here (kept in the step's settings).
_ACCEPTED_ZENML_OPTIONS = STEP_OPTIONS


def _checked_retry(retry: Any, step_name: str) -> StepRetryConfig | None:
    if retry is None or isinstance(retry, StepRetryConfig):
        return retry
    if isinstance(retry, dict):
        return StepRetryConfig(**retry)
    raise TypeError(f"Step {step_name!r}: retry= takes a StepRetryConfig, got {retry!r}.")


def _checked_timeout(timeout: Any, step_name: str) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(
            f"Step {step_name!r}: timeout= must be a positive number of seconds, got {timeout!r}."
        )
    return float(timeout)


def _checked_success_ratio(
    allow_failures: Any, min_success_ratio: Any, step_name: str
) -> float | None:
    """A map's tolerated share of failed branches: `allow_failures=True` is ratio 0 (any)."""
    if not isinstance(allow_failures, bool):
        raise ValueError(
            f"Step {step_name!r}: allow_failures= must be True or False, got {allow_failures!r}."
        )
    if min_success_ratio is None:
        return 0.0 if allow_failures else None
    if (
        isinstance(min_success_ratio, bool)
        or not isinstance(min_success_ratio, (int, float))
        or not 0 < min_success_ratio <= 1
    ):
        raise ValueError(
            f"Step {step_name!r}: min_success_ratio= must be a number with 0 < r <= 1, got "
            f"{min_success_ratio!r}."
        )
    return float(min_success_ratio)


def _checked_resources(resources: Any, step_name: str) -> dict[str, float]:
    """`resources={"GPU": 1, "memory": 8e9}`: abstract amounts a step holds while it runs (Dask
    worker resources; checked against `FANFLOW_RESOURCES` on this machine)."""
    if resources is None:
        return {}
    if isinstance(resources, ResourceSettings) or (
        not isinstance(resources, Mapping)
        and (hasattr(resources, "gpu_count") or hasattr(resources, "cpu_count"))
    ):  # ZenML's ResourceSettings (or its shape): CPU, GPU and memory (bytes) requests
        fields = ("cpu_count", "gpu_count", "memory")
        return resources_from_settings(
            {name: getattr(resources, name, None) for name in fields}, f"Step {step_name!r}"
        )
    if not isinstance(resources, Mapping):
        raise ValueError(
            f"Step {step_name!r}: resources= must be a mapping of resource name to amount, "
            f"like {{'GPU': 1}}; got {resources!r}."
        )
    checked: dict[str, float] = {}
    for name, amount in resources.items():
        if (
            not isinstance(name, str)
            or not name
            or isinstance(amount, bool)
            or not isinstance(amount, (int, float))
            or amount <= 0
        ):
            raise ValueError(
                f"Step {step_name!r}: resources= needs a positive number per resource name; "
                f"got {name!r}: {amount!r}."
            )
        checked[name] = float(amount)
    return checked


def _source_of(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', repr(func))}"


@dataclasses.dataclass(frozen=True)
class StepSource:
    """A step function's module and attribute path."""

    module: str
    attribute: str

    @property
    def import_path(self) -> str:
        return f"{self.module}.{self.attribute}"


class StepConfiguration:
    """A step's options (`enable_cache`, `extra`, ...) plus its configured `parameters`."""

    __slots__ = ("_config", "parameters")

    def __init__(self, config: StepConfig, parameters: dict[str, Any]) -> None:
        self._config = config
        self.parameters = parameters

    def __getattr__(self, name: str) -> Any:
        return getattr(self._config, name)

    def __repr__(self) -> str:
        return f"StepConfiguration(parameters={self.parameters!r}, {self._config!r})"


class Step:
    """A step: call it inside a `@pipeline` function to add it to the pipeline."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        enable_cache: bool | None = None,
        output_materializers: Any = None,
        extra: Mapping[str, Any] | None = None,
        retry: StepRetryConfig | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        on_failure: Callable[..., Any] | None = None,
        on_success: Callable[..., Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        on_start: Callable[..., Any] | str | None = None,
        on_end: Callable[..., Any] | str | None = None,
        allow_failures: bool = False,
        min_success_ratio: float | None = None,
        resources: Mapping[str, float] | None = None,
        **zenml_options: Any,
    ) -> None:
        step_name = name or func.__name__
        unknown = sorted(set(zenml_options) - _ACCEPTED_ZENML_OPTIONS)
        if unknown:
            raise TypeError(f"@step got unexpected option(s) {unknown} for step {step_name!r}.")
        self._func = func
        self._options: dict[str, Any] = {
            "name": name,
            "enable_cache": enable_cache,
            "output_materializers": output_materializers,
            "extra": extra,
            "retry": retry,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
            "on_failure": on_failure,
            "on_success": on_success,
            "settings": settings,
            "parameters": parameters,
            "on_start": on_start,
            "on_end": on_end,
            "allow_failures": allow_failures,
            "min_success_ratio": min_success_ratio,
            "resources": resources,
            **zenml_options,
        }
        if zenml_options:
            logger.debug(
                "Step %s: options %s have no effect in fanflow.", step_name, sorted(zenml_options)
            )
        if enforce_type_annotations():
            check_annotations(func, step_name)
        outputs, returns_tuple = parse_outputs(func, step_name)
        outputs = attach_materializers(outputs, output_materializers, step_name)
        settings_all = merge_settings(settings)
        settings_resources = (
            resources_from_settings(settings_all["resources"], f"Step {step_name!r}")
            if resources is None and settings_all.get("resources") is not None
            else None
        )
        settings_all.update(  # a component option never replaces that component's settings
            {
                key: value
                for key, value in zenml_options.items()
                if value is not None and key not in settings_all
            }
        )
        self.definition = StepDefinition(
            name=step_name,
            func=func,
            source=_source_of(func),
            inputs=parse_inputs(func, step_name),
            outputs=outputs,
            returns_tuple=returns_tuple,
            config=StepConfig(
                enable_cache=enable_cache,
                extra=frozen_mapping(extra),
                retry=_checked_retry(retry, step_name),
                timeout=_checked_timeout(timeout, step_name),
                max_concurrency=max_concurrency,
                min_success_ratio=_checked_success_ratio(
                    allow_failures, min_success_ratio, step_name
                ),
                on_failure=resolve_hook(on_failure, "on_failure"),
                on_success=resolve_hook(on_success, "on_success"),
                settings=frozen_mapping(settings_all),
                on_start=resolve_hook(on_start, "on_start"),
                on_end=resolve_hook(on_end, "on_end"),
                resources=frozen_mapping(
                    settings_resources
                    if settings_resources is not None
                    else _checked_resources(resources, step_name)
                ),
                resources_from_settings=settings_resources is not None,
            ),
        )
        self._parameter_defaults = dict(parameters or {})
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    # --- identity -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def entrypoint(self) -> Callable[..., Any]:
        """The undecorated function (call it to run the step's code directly)."""
        return self._func

    @property
    def enable_cache(self) -> bool | None:
        return self.definition.config.enable_cache

    @property
    def configuration(self) -> StepConfiguration:
        """The step's options and configured `parameters` (ZenML's `step.configuration`)."""
        return StepConfiguration(self.definition.config, dict(self._parameter_defaults))

    def resolve(self) -> StepSource:
        """Where this step's function is defined (ZenML's `Step.resolve()` source)."""
        module, _, attribute = self.definition.source.partition(":")
        return StepSource(module=module, attribute=attribute)

    def call_entrypoint(self, *args: Any, **kwargs: Any) -> Any:
        return self._func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    # --- options ------------------------------------------------------------------------------

    def with_options(self, **changes: Any) -> Step:
        """A copy of this step with some options changed (`enable_cache=False`, ...)."""
        options = {**self._options, **changes}
        if "extra" in changes and changes["extra"] is not None and self._options.get("extra"):
            options["extra"] = {**self._options["extra"], **changes["extra"]}
        return Step(self._func, **options)

    def configure(self, **changes: Any) -> Step:
        """Change options of this step in place (ZenML's `configure`)."""
        updated = self.with_options(**changes)
        self.__dict__.update(updated.__dict__)
        return self

    def copy(self) -> Step:
        return copy.copy(self)

    # --- calling --------------------------------------------------------------------------------

    def __call__(self, *args: Any, id: str | None = None, after: Any = None, **kwargs: Any) -> Any:
        if id is not None:
            check_explicit_id(self.name, id)
        trace = active_trace()
        if trace is not None:
            return trace.add_invocation(
                self.definition,
                args,
                kwargs,
                custom_id=id,
                after=after,
                parameter_defaults=self._parameter_defaults,
            )
        dynamic = active_dynamic_run()
        if dynamic is not None:
            return self._launch(dynamic, args, kwargs, id, after, wait=True)
        if active_step() is not None:
            return self._func(*args, **kwargs)
        from fanflow.authoring.single_step import run_single_step

        return run_single_step(self, args, kwargs)

    def submit(self, *args: Any, id: str | None = None, after: Any = None, **kwargs: Any) -> Any:
        """Launch the step without waiting (dynamic pipelines); returns a `StepFuture`."""
        dynamic = active_dynamic_run()
        if dynamic is None:
            raise RuntimeError(
                f"Submitting step {self.name!r} is only possible within a dynamic pipeline "
                "(@pipeline(dynamic=True))."
            )
        if id is not None:
            check_explicit_id(self.name, id)
        return self._launch(dynamic, args, kwargs, id, after, wait=False)

    def _launch(
        self,
        dynamic: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        custom_id: str | None,
        after: Any,
        *,
        wait: bool,
    ) -> Any:
        """One call of this step in a running dynamic pipeline (`wait`: a plain call blocks for
        its outputs, `.submit` returns a future)."""
        return dynamic.launch(
            self.definition,
            args,
            kwargs,
            custom_id=custom_id,
            after=after,
            parameter_defaults=self._parameter_defaults,
            wait=wait,
        )

    def map(self, *args: Any, after: Any = None, **kwargs: Any) -> Any:
        """One branch per item of the mapped inputs (`unmapped(x)` passes `x` whole)."""
        return self._fan_out(args, kwargs, after=after, product=False)

    def product(self, *args: Any, after: Any = None, **kwargs: Any) -> Any:
        """One branch per combination of the mapped inputs' items (cartesian product)."""
        return self._fan_out(args, kwargs, after=after, product=True)

    def _fan_out(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], *, after: Any, product: bool
    ) -> Any:
        dynamic = active_dynamic_run()
        if dynamic is not None:
            return dynamic.map(
                self.definition,
                args,
                kwargs,
                after=after,
                product=product,
                parameter_defaults=self._parameter_defaults,
            )
        trace = active_trace()
        if trace is not None:
            from fanflow.authoring.mapping import trace_map

            return trace_map(
                trace,
                self.definition,
                args,
                kwargs,
                after=after,
                product=product,
                parameter_defaults=self._parameter_defaults,
            )
        raise RuntimeError(
            f"Mapping over the inputs of step {self.name!r} is only possible inside a pipeline."
        )


@overload
def step(_func: F) -> Step: ...


@overload
def step(
    _func: None = None,
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    output_materializers: Any = None,
    extra: Mapping[str, Any] | None = None,
    retry: StepRetryConfig | None = None,
    timeout: float | None = None,
    max_concurrency: int | None = None,
    on_failure: Callable[..., Any] | None = None,
    on_success: Callable[..., Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    allow_failures: bool = False,
    min_success_ratio: float | None = None,
    resources: Mapping[str, float] | None = None,
    **zenml_options: Any,
) -> Callable[[F], Step]: ...


def step(_func: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a step: `@step` or `@step(name=..., enable_cache=..., ...)`."""
    if _func is not None:
        return Step(_func, **options)

    def decorate(func: Callable[..., Any]) -> Step:
        return Step(func, **options)

    return decorate
