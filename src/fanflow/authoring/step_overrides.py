"""Applying configured step values (`steps:` in a run configuration, `@step(parameters=...)`)
to one step call while a pipeline is traced.

ZenML's rules: a configured parameter fills in an input the call leaves out; a call that passes
the same input with a different value (or an artifact) is a conflict and raises a RuntimeError
naming the step; configured `enable_cache` and `extra` replace or extend the step's own options
for this invocation only. Settings merge per key as ZenML does (`fanflow.config.step_settings`):
the pipeline's, under the step's own, under the file's `steps.<id>.settings`; the merged
`resources` become the step's resource requests unless the step sets `resources=` itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from fanflow.authoring.run_config import StepOverrides, expand_env
from fanflow.config.step_settings import (
    merge_settings,
    report_ignored_settings,
    resources_from_settings,
)
from fanflow.exceptions import ConfigurationError, ParameterConflictError
from fanflow.spec import StepDefinition, frozen_mapping


def _same(configured: Any, given: Any) -> bool:
    try:
        return bool(configured == given) and type(configured) is type(given)
    except Exception:
        return False


def check_conflicts(
    step_label: str, bound: Mapping[str, Any], configured: Mapping[str, Any]
) -> None:
    """Raise when the call passes a configured parameter with another value."""
    for key, value in configured.items():
        if key in bound and not _same(value, bound[key]):
            raise ParameterConflictError(
                f"Configured parameter for the step '{step_label}' conflict with parameter "
                f"passed in runtime: `{key}` is configured as {value!r} but the call passes "
                f"{bound[key]!r}. Remove it from the call or from the configuration."
            )


def _with_expanded_extra(step: StepDefinition) -> StepDefinition:
    """`${VAR}` in a step's `extra` values replaced from the environment when the pipeline is
    composed (a variable that is not set is left as written)."""
    extra = step.config.extra
    if not extra or "${" not in repr(dict(extra)):
        return step
    expanded = expand_env(dict(extra), strict=False, where=f"step {step.name!r} extra")
    return dataclasses.replace(
        step, config=dataclasses.replace(step.config, extra=frozen_mapping(expanded))
    )


def _with_settings(
    step: StepDefinition,
    pipeline_settings: Mapping[str, Any],
    step_file_settings: Mapping[str, Any],
    substitutions: Mapping[str, str],
) -> StepDefinition:
    """The step with pipeline < step < file settings merged, and resources taken from them."""
    config = step.config
    settings = merge_settings(pipeline_settings, config.settings, step_file_settings)
    if substitutions:
        settings["substitutions"] = {
            **dict(config.settings.get("substitutions") or {}),
            **substitutions,
        }
    changes: dict[str, Any] = {"settings": frozen_mapping(settings)}
    explicit = bool(config.resources) and not config.resources_from_settings
    if not explicit and settings.get("resources") is not None:
        changes["resources"] = frozen_mapping(
            resources_from_settings(settings["resources"], f"Step {step.name!r}")
        )
        changes["resources_from_settings"] = True
    return dataclasses.replace(step, config=dataclasses.replace(config, **changes))


def with_pipeline_settings(
    step: StepDefinition, pipeline_settings: Mapping[str, Any] | None
) -> StepDefinition:
    """The step with the pipeline's settings merged under its own (for calls that have no
    invocation-level configuration, such as a dynamic pipeline's map branches)."""
    if pipeline_settings:
        step = _with_settings(step, pipeline_settings, {}, {})
    if step.config.settings:
        report_ignored_settings(step.config.settings, f"Step {step.name!r}")
    return step


def apply_step_overrides(
    step: StepDefinition,
    invocation_id: str,
    bound: Mapping[str, Any],
    parameter_defaults: Mapping[str, Any],
    overrides: Mapping[str, StepOverrides],
    pipeline_settings: Mapping[str, Any] | None = None,
) -> tuple[StepDefinition, dict[str, Any]]:
    """The step definition and configured parameters this invocation runs with."""
    check_conflicts(invocation_id, bound, parameter_defaults)
    step = _with_expanded_extra(step)
    found = overrides.get(invocation_id)
    if found is None:
        if pipeline_settings:
            step = _with_settings(step, pipeline_settings, {}, {})
        if step.config.settings:
            report_ignored_settings(step.config.settings, f"Step {step.name!r}")
        return step, dict(parameter_defaults)
    inputs = {signature.name for signature in step.inputs}
    unknown = sorted(set(found.parameters) - inputs)
    if unknown:
        raise ConfigurationError(
            f"The configuration of step {invocation_id!r} sets parameter(s) {unknown}, but "
            f"the step's inputs are {sorted(inputs)}."
        )
    check_conflicts(invocation_id, bound, found.parameters)
    config = step.config
    changes: dict[str, Any] = {}
    if found.enable_cache is not None:
        changes["enable_cache"] = found.enable_cache
    if found.extra:
        changes["extra"] = frozen_mapping({**config.extra, **found.extra})
    if changes:
        step = dataclasses.replace(step, config=dataclasses.replace(config, **changes))
    if pipeline_settings or found.settings or found.substitutions:
        step = _with_settings(
            step, pipeline_settings or {}, found.settings, found.substitutions
        )
    if step.config.settings:
        report_ignored_settings(step.config.settings, f"Step {step.name!r}")
    return step, {**parameter_defaults, **found.parameters}
