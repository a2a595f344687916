"""Settings read from the environment into one frozen object: every `FANFLOW_*` variable.

| variable | meaning | default |
|---|---|---|
| `FANFLOW_HOME` | where the store and artifacts live | `~/.fanflow` |
| `FANFLOW_METADATA_URL` | metadata store URL: SQLite or PostgreSQL | SQLite file in the home |
| `FANFLOW_ARTIFACT_ROOT` | artifact folder or fsspec URL (`s3://...`) | `<home>/artifacts` |
| `FANFLOW_ARTIFACT_STORAGE_OPTIONS` | fsspec options: a JSON object or a JSON file | none |
| `FANFLOW_ORCHESTRATOR` | `local` (= `threads`), `sequential` or `processes` | `local` |
| `FANFLOW_MAX_PARALLELISM` | steps running at once (positive integer) | by CPU count |
| `FANFLOW_LOGGING_VERBOSITY` | engine log level (DEBUG, INFO, WARNING, ERROR, CRITICAL) | INFO |
| `FANFLOW_HEARTBEAT_INTERVAL` | seconds between a run's heartbeats (at least 0.05) | 10 |
| `FANFLOW_STOP_GRACE_PERIOD` | seconds running steps get after Ctrl-C (0 or more) | 30 |
| `FANFLOW_STEP_LOG_PREFIX` | `auto`, or a true/false word: prefix step output lines | auto |
| `FANFLOW_MAX_STEP_LOG_BYTES` | bound on one step's captured log (positive integer) | 50 MiB |
| `FANFLOW_ENFORCE_TYPE_ANNOTATIONS` | true/false: steps must annotate inputs and return | false |
| `FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS` | true/false: store lifecycle hook return values | false |

`ZENML_ENFORCE_TYPE_ANNOTATIONS` is read too when `FANFLOW_ENFORCE_TYPE_ANNOTATIONS` is unset,
and `ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS` when `FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS` is unset.

Invariants: nothing here does I/O at import; `load_settings()` reads the environment each time it
is called (a run or a Client reads it once), so tests and users can change `FANFLOW_HOME` between
runs in one process. A value that does not parse is an error naming the variable, never a silent
fallback to the default.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fanflow.config.docker_settings import DockerSettings
from fanflow.config.resource_settings import ResourceSettings
from fanflow.config.retry_config import StepRetryConfig

__all__ = [
    "ORCHESTRATOR_MODES",
    "DockerSettings",
    "ResourceSettings",
    "Settings",
    "StepLogSettings",
    "StepRetryConfig",
    "default_max_parallelism",
    "enforce_type_annotations",
    "load_settings",
    "parse_resources",
    "step_log_settings",
    "storage_options_from",
    "track_lifecycle_hook_outputs",
]

ORCHESTRATOR_MODES = ("local", "threads", "sequential", "processes", "dask")


def default_max_parallelism() -> int:
    """Threads run I/O-bound steps side by side, so allow more than one per core, at least 8."""
    return min(32, max(8, 4 * (os.cpu_count() or 1)))


DEFAULT_HEARTBEAT_INTERVAL_S = 10.0
MIN_HEARTBEAT_INTERVAL_S = 0.05
DEFAULT_STOP_GRACE_S = 30.0
DEFAULT_MAX_STEP_LOG_BYTES = 50 * 1024 * 1024
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "always"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off", "never"})


@dataclass(frozen=True, slots=True)
class StepLogSettings:
    """How step output is captured: `prefix` is `auto`, `always` or `never`; `prefix_chosen`
    says whether the user set it (a caller's default then does not apply)."""

    prefix: str
    prefix_chosen: bool
    max_bytes: int


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    metadata_url: str
    artifact_root: str
    max_parallelism: int | None
    orchestrator: str
    logging_verbosity: str
    dask_address: str | None = None
    """`FANFLOW_DASK_ADDRESS`: the scheduler of an existing Dask cluster (`tcp://host:8786`);
    unset, `orchestrator="dask"` starts a local cluster for the run."""
    resources: tuple[tuple[str, float], ...] = ()
    """`FANFLOW_RESOURCES` (`GPU=1,memory=16e9`): what this machine offers to steps that declare
    `resources=`; also the resources of each worker of a local Dask cluster."""
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL_S
    stop_grace_period: float = DEFAULT_STOP_GRACE_S
    step_log: StepLogSettings = StepLogSettings("auto", False, DEFAULT_MAX_STEP_LOG_BYTES)
    # SQLite: how long one attempt waits for another process's write lock (its busy timeout),
    # then how much longer fanflow keeps retrying, with backoff, before giving up on a write.
    metadata_busy_timeout_s: float = 30.0
    metadata_lock_patience_s: float = 300.0
    # Options for the artifact store's file system (fsspec), e.g. S3 credentials or endpoint.
    artifact_storage_options: dict[str, Any] = field(default_factory=dict)
    enforce_type_annotations: bool = False
    """`FANFLOW_ENFORCE_TYPE_ANNOTATIONS` (or ZenML's `ZENML_ENFORCE_TYPE_ANNOTATIONS`): defining
    a step whose inputs or return value lack a type annotation raises, as in ZenML."""
    track_lifecycle_hook_outputs: bool = False
    """`FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS` (or ZenML's `ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS`):
    lifecycle hooks' return values are saved as artifact versions, the outputs of their hook
    invocation (as `run_hook(..., store_return=True)` does). Off, they are discarded."""


def _blank(raw: str | None) -> bool:
    return raw is None or raw.strip() == ""


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or _blank(raw):
        return None
    return _positive_int(name, raw)


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _env_seconds(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or _blank(raw):
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= minimum or value == float("inf"):
        raise ValueError(f"{name} must be a number of seconds of at least {minimum}, got {raw!r}")
    return value


@functools.lru_cache(maxsize=8)
def parse_step_log(prefix_raw: str | None, max_bytes_raw: str | None) -> StepLogSettings:
    """`FANFLOW_STEP_LOG_PREFIX` and `FANFLOW_MAX_STEP_LOG_BYTES` (raw values; cached, because
    each step's capture asks)."""
    prefix = "auto"
    if not _blank(prefix_raw):
        word = (prefix_raw or "").strip().lower()
        if word == "auto":
            prefix = "auto"
        elif word in _TRUE_WORDS:
            prefix = "always"
        elif word in _FALSE_WORDS:
            prefix = "never"
        else:
            raise ValueError(
                f"FANFLOW_STEP_LOG_PREFIX must be auto, or a true/false word (1/0, true/false, "
                f"yes/no, on/off), got {prefix_raw!r}"
            )
    max_bytes = DEFAULT_MAX_STEP_LOG_BYTES
    if max_bytes_raw is not None and not _blank(max_bytes_raw):
        max_bytes = _positive_int("FANFLOW_MAX_STEP_LOG_BYTES", max_bytes_raw)
    return StepLogSettings(prefix, prefix_raw is not None, max_bytes)


def step_log_settings() -> StepLogSettings:
    """The step-log part of the settings, cheap enough for every step."""
    environ = os.environ
    return parse_step_log(
        environ.get("FANFLOW_STEP_LOG_PREFIX"), environ.get("FANFLOW_MAX_STEP_LOG_BYTES")
    )


ENFORCE_TYPE_ANNOTATIONS_VARIABLES = (
    "FANFLOW_ENFORCE_TYPE_ANNOTATIONS",
    "ZENML_ENFORCE_TYPE_ANNOTATIONS",
)


TRACK_LIFECYCLE_HOOK_OUTPUTS_VARIABLES = (
    "FANFLOW_TRACK_LIFECYCLE_HOOK_OUTPUTS",
    "ZENML_TRACK_LIFECYCLE_HOOK_OUTPUTS",
)


def enforce_type_annotations() -> bool:
    """Whether steps must annotate every input and their return value.

    The first of `FANFLOW_ENFORCE_TYPE_ANNOTATIONS` and ZenML's `ZENML_ENFORCE_TYPE_ANNOTATIONS`
    that is set decides, so a program written for ZenML keeps its behaviour. Read each time a
    step is defined (cheap: two environment lookups). Unlike ZenML, which treats a word it does
    not know as false, a value that is not a true/false word is an error naming the variable.
    """
    return _env_flag(ENFORCE_TYPE_ANNOTATIONS_VARIABLES)


def track_lifecycle_hook_outputs() -> bool:
    """Whether lifecycle hooks' return values are stored (ZenML's default: no).

    Read once per run into `Settings`, with the same rules as `enforce_type_annotations`: the
    first of the fanflow and ZenML variables that is set decides; a word that is not true/false
    is an error naming the variable.
    """
    return _env_flag(TRACK_LIFECYCLE_HOOK_OUTPUTS_VARIABLES)


def _env_flag(names: tuple[str, ...]) -> bool:
    for name in names:
        raw = os.environ.get(name)
        if raw is None or _blank(raw):
            continue
        word = raw.strip().lower()
        if word in _TRUE_WORDS or word == "y":  # ZenML also reads y/n
            return True
        if word in _FALSE_WORDS or word == "n":
            return False
        raise ValueError(
            f"{name} must be a true/false word (1/0, true/false, yes/no, on/off), got {raw!r}"
        )
    return False


def parse_resources(raw: str | None, source: str = "FANFLOW_RESOURCES") -> dict[str, float]:
    """`"GPU=1,memory=8e9"` -> `{"GPU": 1.0, "memory": 8e9}`."""
    resources: dict[str, float] = {}
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        name, sep, amount = part.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or value <= 0:
            raise ValueError(
                f"{source} must look like 'GPU=1,memory=8e9' (name=positive amount, comma "
                f"separated); got {raw!r}"
            )
        resources[name.strip()] = value
    return resources


def storage_options_from(raw: str | None) -> dict[str, Any]:
    """`FANFLOW_ARTIFACT_STORAGE_OPTIONS`: a JSON object, or the path of a JSON file holding one.

    A file keeps credentials out of the environment and shell history; either way the result
    must be a JSON object (fsspec's keyword arguments for the store's file system).
    """
    name = "FANFLOW_ARTIFACT_STORAGE_OPTIONS"
    if raw is None or not raw.strip():
        return {}
    text = raw.strip()
    source = "its value"
    if not text.startswith(("{", "[")):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(
                f"{name} must be a JSON object or the path of a JSON file; "
                f"cannot read {str(path)!r}: {exc.strerror or exc}"
            ) from None
        source = f"the file {str(path)!r}"
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: {source} is not valid JSON ({exc})") from None
    if not isinstance(options, dict):
        raise ValueError(
            f"{name}: {source} must hold a JSON object of storage options, "
            f"got {type(options).__name__}"
        )
    return options


def load_settings() -> Settings:
    home = Path(os.environ.get("FANFLOW_HOME") or Path.home() / ".fanflow").expanduser()
    metadata_url = os.environ.get("FANFLOW_METADATA_URL") or f"sqlite:///{home / 'fanflow.db'}"
    artifact_root = os.environ.get("FANFLOW_ARTIFACT_ROOT") or str(home / "artifacts")
    orchestrator = (os.environ.get("FANFLOW_ORCHESTRATOR") or "local").strip().lower()
    if orchestrator not in ORCHESTRATOR_MODES:
        raise ValueError(
            f"FANFLOW_ORCHESTRATOR must be one of {', '.join(ORCHESTRATOR_MODES)}; "
            f"got {orchestrator!r}"
        )
    verbosity = (os.environ.get("FANFLOW_LOGGING_VERBOSITY") or "INFO").strip().upper()
    if verbosity not in LOGGING_LEVELS:
        raise ValueError(
            f"FANFLOW_LOGGING_VERBOSITY must be one of {', '.join(LOGGING_LEVELS)}; "
            f"got {verbosity.lower()!r}"
        )
    return Settings(
        home=home,
        metadata_url=metadata_url,
        artifact_root=artifact_root,
        max_parallelism=_env_int("FANFLOW_MAX_PARALLELISM"),
        orchestrator=orchestrator,
        logging_verbosity=verbosity,
        heartbeat_interval=_env_seconds(
            "FANFLOW_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL_S, MIN_HEARTBEAT_INTERVAL_S
        ),
        stop_grace_period=_env_seconds("FANFLOW_STOP_GRACE_PERIOD", DEFAULT_STOP_GRACE_S, 0.0),
        step_log=step_log_settings(),
        metadata_busy_timeout_s=_env_seconds("FANFLOW_METADATA_BUSY_TIMEOUT", 30.0, 0.0),
        metadata_lock_patience_s=_env_seconds("FANFLOW_METADATA_LOCK_PATIENCE", 300.0, 0.0),
        dask_address=(os.environ.get("FANFLOW_DASK_ADDRESS") or "").strip() or None,
        resources=tuple(parse_resources(os.environ.get("FANFLOW_RESOURCES")).items()),
        artifact_storage_options=storage_options_from(
            os.environ.get("FANFLOW_ARTIFACT_STORAGE_OPTIONS")
        ),
        enforce_type_annotations=enforce_type_annotations(),
        track_lifecycle_hook_outputs=track_lifecycle_hook_outputs(),
    )
