"""Applying configured step values (`steps:` in a run configuration, `@step(parameters=...)`)
to one step call while a pipeline is traced.

ZenML's rules: a configured parameter fills in an input the call leaves out; a call that passes
the same input with a different value (or an artifact) is a conflict and raises a RuntimeError
naming the step; configured `enable_cache`, `extra` and `settings` replace or extend the step's
own options for this invocation only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from fanflow.authoring.run_config import StepOverrides, expand_env
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


def apply_step_overrides(
    step: StepDefinition,
    invocation_id: str,
    bound: Mapping[str, Any],
    parameter_defaults: Mapping[str, Any],
    overrides: Mapping[str, StepOverrides],
) -> tuple[StepDefinition, dict[str, Any]]:
    """The step definition and configured parameters this invocation runs with."""
    check_conflicts(invocation_id, bound, parameter_defaults)
    step = _with_expanded_extra(step)
    found = overrides.get(invocation_id)
    if found is None:
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
    if found.settings or found.substitutions:
        settings = {**config.settings, **found.settings}
        if found.substitutions:
            settings["substitutions"] = {
                **dict(config.settings.get("substitutions") or {}),
                **found.substitutions,
            }
        changes["settings"] = frozen_mapping(settings)
    if changes:
        step = dataclasses.replace(step, config=dataclasses.replace(config, **changes))
    return step, {**parameter_defaults, **found.parameters}
