"""`fanflow run MODULE_OR_PATH:PIPELINE [--param k=v ...]`: run a pipeline from the shell.

`pkg.flows:training` is imported as `python -m` would (the current directory first on the path);
`path/to/flows.py:training` is imported as the module `flows` from its folder, so the run's
recorded source stays importable and `fanflow runs resume` finds the pipeline again. A module
that calls its pipeline at import time should keep that call under
`if __name__ == "__main__":`. Parameter values are read as JSON (`n=3`, `names=["a","b"]`) and
taken as text when they are not JSON (`name=alice`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import click

from fanflow.cli.output import note


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="--param")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


def _is_pipeline(candidate: Any) -> bool:
    """A `@pipeline` object (steps also have `with_options`, but no run options or `dynamic`)."""
    return callable(candidate) and all(
        hasattr(candidate, name) for name in ("with_options", "options", "dynamic")
    )


def load_pipeline(target: str) -> Any:
    module_part, sep, attribute = target.rpartition(":")
    if not sep or not module_part or not attribute:
        raise click.BadParameter(
            f"{target!r} should be MODULE:PIPELINE or PATH.py:PIPELINE "
            "(for example my_pkg.flows:training).",
            param_hint="MODULE_OR_PATH:PIPELINE",
        )
    if module_part.endswith(".py") or os.sep in module_part:
        path = os.path.abspath(module_part)
        if not os.path.isfile(path):
            raise click.ClickException(f"No such file: {module_part}")
        folder, filename = os.path.split(path)
        sys.path.insert(0, folder)
        module_name = os.path.splitext(filename)[0]
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module_name = module_part
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise click.ClickException(f"Cannot import {module_name!r}: no such module.") from None
        raise
    candidate: Any = module
    for part in attribute.split("."):
        if not hasattr(candidate, part):
            names = [n for n in dir(module) if _is_pipeline(getattr(module, n))]
            hint = f" Pipelines there: {', '.join(names)}." if names else ""
            raise click.ClickException(f"{module_name} has no attribute {attribute!r}.{hint}")
        candidate = getattr(candidate, part)
    if not _is_pipeline(candidate):
        raise click.ClickException(
            f"{target} is not a pipeline (decorate the function with @pipeline)."
        )
    return candidate


def run_pipeline(
    target: str,
    params: tuple[str, ...],
    orchestrator: str | None,
    run_name: str | None,
    no_cache: bool,
) -> None:
    from fanflow.exceptions import RunFailedError, RunStoppedError

    pipeline = load_pipeline(target)
    options: dict[str, Any] = {
        "orchestrator": orchestrator,
        "run_name": run_name,
        "enable_cache": False if no_cache else None,
    }
    configured = pipeline.with_options(**{k: v for k, v in options.items() if v is not None})
    try:
        run = configured(**parse_params(params))
    except RunFailedError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    except RunStoppedError as exc:
        note(str(exc))
        raise click.exceptions.Exit(130) from None
    except TypeError as exc:
        raise click.ClickException(f"{target}: {exc}") from None
    if run is not None:
        note(f"Run {run.name}: {run.status}.")
