"""Run configuration files (`with_options(config_path="config.yaml")`), as ZenML reads them.

A file holds pipeline-level keys (`run_name`, `enable_cache`, `parameters`, `extra`, `tags`,
`substitutions`, `execution_mode`, `settings`, ...) and a `steps:` section keyed by step
invocation id with per-step `parameters`, `enable_cache`, `extra`, `settings`, ...

Invariants:
- `${VAR}` in any string is replaced by the environment variable `VAR` when the file is read; a
  variable that is not set is an error in `parameters` and `extra` (the values a run uses) and is
  left as written elsewhere (settings for stack components fanflow does not have);
- keys fanflow does not act on (stack components, model, schedule, logging switches) are
  accepted and reported once per process, never silently dropped; `settings:` (pipeline and
  per step) are merged with the code's settings and acted on or reported where the run starts
  (`fanflow.config.step_settings`);
- anything malformed is a `ConfigurationError` naming the file and the key.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fanflow.exceptions import ConfigurationError

logger = logging.getLogger("fanflow")

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Pipeline-level keys with an effect in fanflow.
PIPELINE_KEYS = frozenset(
    {
        "run_name",
        "enable_cache",
        "parameters",
        "steps",
        "extra",
        "tags",
        "substitutions",
        "execution_mode",
        "settings",
    }
)
# Step-level keys with an effect in fanflow.
STEP_KEYS = frozenset({"parameters", "enable_cache", "extra", "settings", "substitutions"})
_reported: set[str] = set()


@dataclass(frozen=True)
class StepOverrides:
    """What a run configuration sets for one step invocation."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    enable_cache: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    substitutions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """A parsed run configuration: pipeline-level values and per-step overrides."""

    source: str
    values: Mapping[str, Any]  # pipeline-level keys fanflow acts on, except parameters/steps
    parameters: Mapping[str, Any]
    steps: Mapping[str, StepOverrides]
    ignored: tuple[str, ...]


def expand_env(value: Any, *, strict: bool, where: str) -> Any:
    """`${VAR}` replaced by the environment's value, through dicts and lists."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            found = os.environ.get(name)
            if found is None:
                if strict:
                    raise ConfigurationError(
                        f"{where}: the environment variable {name!r} (written ${{{name}}}) is "
                        "not set."
                    )
                return match.group(0)
            return found

        return _ENV_PATTERN.sub(replace, value)
    if isinstance(value, dict):
        return {key: expand_env(item, strict=strict, where=where) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_env(item, strict=strict, where=where) for item in value]
    return value


def _report_ignored(keys: list[str], source: str) -> None:
    fresh = [key for key in keys if key not in _reported]
    if fresh:
        _reported.update(fresh)
        logger.info(
            "Run configuration %s: %s have no effect in fanflow (no stacks, containers or "
            "model control plane) and are ignored.",
            source,
            ", ".join(sorted(fresh)),
        )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} must be a mapping, got {type(value).__name__}.")
    return {str(key): item for key, item in value.items()}


def _bool(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ConfigurationError(f"{where} must be true or false, got {value!r}.")


def step_overrides(raw: Mapping[str, Any] | None, where: str) -> dict[str, StepOverrides]:
    """Per-step overrides from a `steps:` mapping (YAML) or `with_options(steps=...)`."""
    found: dict[str, StepOverrides] = {}
    ignored: list[str] = []
    for step_id, body in _mapping(raw, where).items():
        here = f"{where}.{step_id}"
        data = _mapping(body, here)
        ignored.extend(f"steps.{step_id}.{key}" for key in data if key not in STEP_KEYS)
        settings = _mapping(data.get("settings"), f"{here}.settings")
        found[step_id] = StepOverrides(
            parameters=expand_env(
                _mapping(data.get("parameters"), f"{here}.parameters"),
                strict=True,
                where=f"{here}.parameters",
            ),
            enable_cache=_bool(data.get("enable_cache"), f"{here}.enable_cache"),
            extra=expand_env(_mapping(data.get("extra"), f"{here}.extra"), strict=True, where=here),
            settings=expand_env(settings, strict=False, where=here),
            substitutions=_mapping(data.get("substitutions"), f"{here}.substitutions"),
        )
    _report_ignored(ignored, where.split(":")[0])
    return found


def parse_run_config(data: Any, source: str) -> RunConfig:
    """A `RunConfig` from an already-loaded mapping (`source` names it in errors)."""
    raw = _mapping(data, source)
    ignored = [key for key in raw if key not in PIPELINE_KEYS]
    values: dict[str, Any] = {}
    if raw.get("settings") is not None:
        values["settings"] = expand_env(
            _mapping(raw["settings"], f"{source}: settings"), strict=False, where=source
        )
    if "run_name" in raw:
        if not isinstance(raw["run_name"], str) or not raw["run_name"].strip():
            raise ConfigurationError(f"{source}: run_name must be a non-empty string.")
        values["run_name"] = raw["run_name"]
    if "enable_cache" in raw:
        values["enable_cache"] = _bool(raw["enable_cache"], f"{source}: enable_cache")
    if "extra" in raw:
        values["extra"] = expand_env(
            _mapping(raw["extra"], f"{source}: extra"), strict=True, where=f"{source}: extra"
        )
    if "tags" in raw:
        tags = raw["tags"] or []
        if not isinstance(tags, list):
            raise ConfigurationError(f"{source}: tags must be a list of strings.")
        values["tags"] = [str(tag) for tag in tags]
    if "substitutions" in raw:
        values["substitutions"] = {
            key: str(value)
            for key, value in _mapping(raw["substitutions"], f"{source}: substitutions").items()
        }
    if "execution_mode" in raw:
        values["execution_mode"] = str(raw["execution_mode"])
    _report_ignored(ignored, source)
    return RunConfig(
        source=source,
        values=values,
        parameters=expand_env(
            _mapping(raw.get("parameters"), f"{source}: parameters"),
            strict=True,
            where=f"{source}: parameters",
        ),
        steps=step_overrides(raw.get("steps"), f"{source}: steps"),
        ignored=tuple(ignored),
    )


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read a YAML run configuration file (PyYAML is imported only here)."""
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - PyYAML is a dependency of the yaml extra
        raise ConfigurationError(
            "Reading a run configuration file needs PyYAML: pip install 'fanflow[yaml]'."
        ) from exc
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"Run configuration file {source!r} does not exist.") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"Run configuration file {source!r} is not valid YAML: {exc}"
        ) from exc
    return parse_run_config(data if data is not None else {}, source)
