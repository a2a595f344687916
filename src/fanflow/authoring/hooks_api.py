"""`run_hook(func, *args, **kwargs)`: call a function and record the call as a hook invocation.

ZenML's way to instrument callbacks (an agent's tool calls, say) inside a step: the function's
return value flows through, and one `custom` hook invocation is recorded with the step (its
exception too, when it raises; the exception is then re-raised).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from fanflow.execution.runtime import active_step
from fanflow.execution.step_hooks import HookCall, finish_awaitable, hook_name
from fanflow.ids import utcnow


def run_hook(
    func: Callable[..., Any], *args: Any, store_return: bool = False, **kwargs: Any
) -> Any:
    """Call `func(*args, **kwargs)` (awaiting it if async) inside a step and record the call."""
    runtime = active_step()
    if runtime is None:
        raise RuntimeError(
            "run_hook() records its call with the running step, so it works only inside a step."
        )
    if store_return:
        raise NotImplementedError(
            "run_hook(store_return=True) is not supported by fanflow; save the value with "
            "save_artifact(...) instead."
        )
    started = utcnow()
    try:
        result = finish_awaitable(func(*args, **kwargs))
    except Exception as exc:
        runtime.hook_calls.append(
            HookCall(
                "custom",
                hook_name(func),
                "failed",
                started,
                utcnow(),
                "".join(traceback.format_exception(exc)),
            )
        )
        raise
    runtime.hook_calls.append(HookCall("custom", hook_name(func), "completed", started, utcnow()))
    return result
