"""ZenML's `settings={...}` on steps and pipelines: how layers merge, and what fanflow acts on.

Merge order, lowest first, per settings key: the pipeline's settings (decorator, then the YAML
file's `settings:`, then `with_options(settings=...)` given after the file), then the step's own
(`@step(settings=...)`, then the file's `steps.<id>.settings`). When two layers set the same key
and both are mappings or settings objects, their fields merge (the higher layer wins per field);
otherwise the higher layer replaces the value. So a pipeline's `ResourceSettings(cpu_count=2)`
and a step's `ResourceSettings(gpu_count=1)` give the step both.

Acted on: `resources` (`ResourceSettings` or a mapping with `cpu_count`, `gpu_count`,
`memory`) becomes the step's resource requests `CPU`, `GPU` and `memory` (bytes), unless the
step sets `resources=` itself. Every other key (`docker`, `orchestrator`, `step_operator`,
`experiment_tracker.mlflow`, `deployment`, ...) is kept in the recorded configuration and
reported once per process as having no effect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fanflow.config.resource_settings import ResourceSettings, memory_bytes

logger = logging.getLogger("fanflow")

# Settings keys with an effect in fanflow; `substitutions` is how a step keeps its own
# placeholders (set by `@step(substitutions=...)` and the YAML file).
ACTED_ON = frozenset({"resources", "substitutions"})

# Options ZenML steps accept that have no effect here (stacks, trackers, visualizations); `@step`
# keeps them in the step's settings so a ZenML program still runs, and announces them itself.
STEP_OPTIONS = frozenset(
    {
        "experiment_tracker",
        "step_operator",
        "enable_artifact_metadata",
        "enable_artifact_visualization",
        "enable_step_logs",
        "model",
        "substitutions",
        "cache_policy",
        "environment",
        "secrets",
        "heartbeat_healthy_threshold",
        "group",
        "runtime",
    }
)

_reported: set[str] = set()


def plain_setting(value: Any) -> Any:
    """A settings value as a plain dict when it is a settings object or a mapping."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dict(dump(exclude_unset=True))
    if isinstance(value, Mapping):
        return dict(value)
    return value


def merge_settings(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Settings layers merged per key, lowest layer first (see the module docstring)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, raw in (layer or {}).items():
            value = plain_setting(raw)
            below = merged.get(key)
            if isinstance(below, dict) and isinstance(value, dict):
                merged[key] = {**below, **value}
            else:
                merged[key] = value
    return merged


def resources_from_settings(resources: Any, where: str) -> dict[str, float]:
    """`settings["resources"]` as resource requests: `CPU`, `GPU` and `memory` (bytes)."""
    plain = plain_setting(resources)
    if not isinstance(plain, dict):
        raise ValueError(
            f"{where}: settings['resources'] must be a ResourceSettings or a mapping with "
            f"cpu_count, gpu_count and memory; got {resources!r}."
        )
    try:
        checked = ResourceSettings(
            **{k: v for k, v in plain.items() if k in ResourceSettings.__dataclass_fields__}
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    unknown = sorted(set(plain) - set(ResourceSettings.__dataclass_fields__))
    if unknown:
        raise ValueError(
            f"{where}: settings['resources'] has unknown field(s) {unknown}; ResourceSettings "
            f"takes {sorted(ResourceSettings.__dataclass_fields__)}."
        )
    requests: dict[str, float] = {}
    if checked.cpu_count:
        requests["CPU"] = float(checked.cpu_count)
    if checked.gpu_count:
        requests["GPU"] = float(checked.gpu_count)
    if checked.memory is not None:
        requests["memory"] = float(memory_bytes(checked.memory))
    return requests


def report_ignored_settings(keys: Iterable[str], where: str, skip: Iterable[str] = ()) -> None:
    """Log, once per process and key, the settings keys fanflow keeps but does not act on."""
    skipped = set(skip) | ACTED_ON | STEP_OPTIONS
    fresh = sorted({key for key in keys if key not in skipped and key not in _reported})
    if not fresh:
        return
    _reported.update(fresh)
    logger.info(
        "%s: settings %s have no effect in fanflow (no containers, stack components or "
        "deployments); they are kept in the recorded configuration and otherwise ignored.",
        where,
        ", ".join(repr(key) for key in fresh),
    )
