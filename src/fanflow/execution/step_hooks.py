"""Lifecycle hooks (`on_start`, `on_end`, `on_success`, `on_failure`), ZenML-compatible.

A hook is a callable (or an import path string such as `"my_module.alert"`). `on_start` and
`on_success` take no arguments; `on_end` and `on_failure` take none or one, the exception (None
for an `on_end` after success). An `async def` hook is run to completion before going on.
Hooks observe: one that raises is logged and recorded, and never changes the outcome of the
step or run it belongs to. Every call is described by a `HookCall` record.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fanflow.exceptions import FanflowError
from fanflow.ids import utcnow

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
    allowed = 1 if kind in ("on_failure", "on_end") else 0
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


@dataclass(slots=True)
class HookCall:
    """One call of a hook: what ran, for which lifecycle point, and how it ended."""

    hook_type: str  # a `HookType` value: "step_start", "run_end", "custom", ...
    name: str
    status: str  # "completed" | "failed"
    start_time: datetime
    end_time: datetime
    exception: str | None = None
    attempt: int | None = None
    # Output name -> artifact version ids stored by `run_hook(..., store_return=True)`.
    outputs: dict[str, list[str]] | None = None


def hook_name(hook: Hook) -> str:
    module = getattr(hook, "__module__", None)
    qualname = getattr(hook, "__qualname__", None) or repr(hook)
    return f"{module}.{qualname}" if module else qualname


def finish_awaitable(result: Any) -> Any:
    """Run a coroutine an `async def` hook returned to completion (in a fresh thread when this
    thread already runs an event loop); other values pass through."""
    if not inspect.isawaitable(result):
        return result
    import asyncio  # only for async hooks: ~30 ms of every run's start-up otherwise

    async def wait() -> Any:
        return await result

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(wait())
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="fanflow-async-hook")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def call_hook(
    hook: Hook | None,
    kind: str,
    where: str,
    exception: BaseException | None = None,
    *,
    hook_type: str | None = None,
    attempt: int | None = None,
    store_return: Callable[[Hook, Any], dict[str, list[str]]] | None = None,
) -> HookCall | None:
    """Call a lifecycle hook (awaiting it if async); its failure is logged and recorded, never
    raised. Returns the record of the call, or None when there is no hook.

    `store_return` (given when lifecycle hook outputs are tracked) saves the return value of a
    hook that succeeded and gives the invocation's outputs; when saving fails the error is
    logged and the invocation stays `completed` without outputs, as in ZenML.
    """
    if hook is None:
        return None
    started = utcnow()
    error: str | None = None
    outputs: dict[str, list[str]] | None = None
    try:
        if kind in ("on_failure", "on_end") and _wants_exception(hook):
            result = finish_awaitable(hook(exception))
        else:
            result = finish_awaitable(hook())
    except Exception as exc:
        logger.exception("The %s hook of %s raised; the outcome stands.", kind, where)
        error = "".join(traceback.format_exception(exc))
    else:
        if store_return is not None:
            try:
                outputs = store_return(hook, result) or None
            except Exception:
                logger.exception("Could not store what the %s hook of %s returned.", kind, where)
    return HookCall(
        hook_type=hook_type or kind.replace("on_", "step_"),
        name=hook_name(hook),
        status="failed" if error else "completed",
        start_time=started,
        end_time=utcnow(),
        exception=error,
        attempt=attempt,
        outputs=outputs,
    )


def run_hook(
    hook: Hook | None, kind: str, where: str, exception: BaseException | None = None
) -> str | None:
    """Call a hook; returns None, or the formatted error if the hook itself raised."""
    call = call_hook(hook, kind, where, exception)
    return call.exception if call is not None else None
