"""Success and failure hooks, ZenML-compatible.

A hook is a callable (or an import path string such as `"my_module.alert"`). `on_success` takes no
arguments; `on_failure` takes none or one, the exception. Hooks observe: one that raises is logged
and recorded, and never changes the outcome of the step or run it belongs to.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from typing import Any

from fanflow.exceptions import FanflowError

logger = logging.getLogger("fanflow")

Hook = Callable[..., Any]


class HookValidationError(FanflowError, ValueError):
    """A hook has a signature fanflow cannot call."""


def resolve_hook(hook: Hook | str | None, kind: str) -> Hook | None:
    """The callable for `hook`, checked against what `kind` ("on_success"/"on_failure") passes."""
    if hook is None:
        return None
    if isinstance(hook, str):
        if "." not in hook and ":" not in hook:
            raise HookValidationError(f"{kind} hook {hook!r} is not an import path (module.name).")
        import pkgutil

        hook = pkgutil.resolve_name(hook)
    if not callable(hook):
        raise HookValidationError(f"{kind} hook {hook!r} is not a valid function.")
    parameters = [
        p
        for p in inspect.signature(hook).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    allowed = 1 if kind == "on_failure" else 0
    if len(parameters) > allowed:
        names = [p.name for p in parameters]
        raise HookValidationError(
            f"Failed to validate hook arguments for {getattr(hook, '__name__', hook)}: {kind} "
            f"hooks take {'at most one argument (the exception)' if allowed else 'no arguments'}"
            f", but it requires {names}."
        )
    return hook


def _wants_exception(hook: Hook) -> bool:
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )


def run_hook(
    hook: Hook | None, kind: str, where: str, exception: BaseException | None = None
) -> str | None:
    """Call a hook; returns None, or the formatted error if the hook itself raised."""
    if hook is None:
        return None
    try:
        if kind == "on_failure" and _wants_exception(hook):
            hook(exception)
        else:
            hook()
    except Exception as exc:
        logger.exception("The %s hook of %s raised; the outcome stands.", kind, where)
        return "".join(traceback.format_exception(exc))
    return None
