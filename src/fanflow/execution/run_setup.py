"""What a run is before it starts: its description, its name and its recorded configuration.

Invariants: a run name is the template with `{date}`, `{time}` (UTC, ZenML's formats), `{pipeline}`
and the user's substitutions filled in, never empty; the recorded configuration is plain JSON and
holds what a later resume needs (parameters, options, the pipeline's source and script path).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fanflow.artifacts.json_codec import dumps_each, to_plain_json
from fanflow.enums import ExecutionMode, ExecutionStatus
from fanflow.spec import RunOptions

DEFAULT_RUN_NAME = "{pipeline}-{date}-{time}"


@dataclass
class RunOutcome:
    run_id: str
    run_name: str
    status: str
    failures: list[tuple[str, BaseException | None, str | None]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ratio_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunDescription:
    """What the orchestrator needs to know about the pipeline besides its invocations."""

    name: str | None
    source: str
    parameters: dict[str, Any]
    options: RunOptions
    dynamic: bool = False
    failure_policy: ExecutionMode = ExecutionMode.CONTINUE_ON_FAILURE
    # The script a `__main__` pipeline was defined in, when the caller knows it.
    main_file: str | None = None
    # The whole planned graph (invocation id, step name, upstream ids) when known up front.
    planned: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


def format_run_name(
    template: str, pipeline_name: str, start: datetime, substitutions: dict[str, str]
) -> str:
    values = {
        "date": start.strftime("%Y_%m_%d"),
        "time": start.strftime("%H_%M_%S_%f"),
        "pipeline": pipeline_name,
        **substitutions,
    }
    try:
        name = template.format(**values)
    except KeyError as exc:
        raise KeyError(
            f"Could not format the run name template `{template}`. Missing key: {exc}. "
            "Pass it with substitutions={...}; {date} and {time} are always available."
        ) from None
    if not name.strip():
        raise ValueError("Empty run names are not allowed.")
    return name


def main_file(source: str) -> str | None:
    """The script a `__main__` pipeline was defined in (so a later resume can load it)."""
    if not source.startswith("__main__:"):
        return None
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.abspath(path) if path else None


def planned_spec(description: RunDescription) -> dict[str, Any] | None:
    """What is recorded as the run's spec: its planned steps, so a reader can list the steps a
    run never started (after a crash, say)."""
    if not description.planned:
        return None
    return {
        "planned_steps": [
            [inv_id, step_name, list(upstream)]
            for inv_id, step_name, upstream in description.planned
        ]
    }


def run_name_template(description: RunDescription) -> str:
    pipeline_name = description.name or "unlisted"
    return description.options.run_name or DEFAULT_RUN_NAME.replace("{pipeline}", pipeline_name)


def run_config(
    description: RunDescription,
    template: str,
    mode: str,
    max_parallelism: int,
    heartbeat_interval: float,
) -> dict[str, Any]:
    options = description.options
    return {
        "name": description.name,
        "parameters": to_plain_json(dict(description.parameters)),
        "enable_cache": options.enable_cache,
        "max_parallelism": max_parallelism,
        "orchestrator": mode,
        "dynamic": description.dynamic,
        "execution_mode": ExecutionMode(description.failure_policy).value,
        "substitutions": dict(options.substitutions),
        "extra": to_plain_json(dict(options.extra)),
        "tags": list(options.tags),
        "run_name_template": template,
        "source": description.source,
        "main_file": description.main_file or main_file(description.source),
        "parameter_values": dumps_each(description.parameters),
        "heartbeat_interval": heartbeat_interval,
    }


def final_status(
    interrupted: bool,
    error: BaseException | None,
    failures: list[tuple[str, BaseException | None, str | None]],
    ratio_errors: list[str],
) -> tuple[ExecutionStatus, str | None]:
    """A finished run's status and the error text recorded with it."""
    if interrupted or isinstance(error, KeyboardInterrupt):
        text = "stopped by Ctrl-C or SIGTERM" if error is None else type(error).__name__
        return ExecutionStatus.STOPPED, text
    if error is not None:
        return ExecutionStatus.FAILED, f"{type(error).__name__}: {error}"
    if failures:
        texts = ratio_errors + [f"{node}: {message}" for node, _, message in failures]
        return ExecutionStatus.FAILED, "; ".join(texts)
    # A run whose every step was a cache hit is `completed` (its steps are `cached`), as in
    # ZenML.
    return ExecutionStatus.COMPLETED, None
