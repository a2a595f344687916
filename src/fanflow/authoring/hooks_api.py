"""`run_hook(func, *args, kwargs=None, name=None, hook_type=CUSTOM, store_return=False,
track=True)`: call a function and record the call as a hook invocation (ZenML 0.98).

ZenML's way to instrument callbacks (an agent's tool calls, say) inside a step or a dynamic
pipeline function: the function's return value flows through, and one invocation is recorded
with the step (or, in a dynamic pipeline's function, with the run), its exception too when it
raises (the exception is then re-raised).

`store_return=True` also saves the return value as artifact versions, the invocation's
`outputs`: an unannotated (or single) return is one output named `output` (or its `Annotated`
name), an annotated tuple one output per element. As in ZenML, each output is an artifact named
after the output, and reading them back goes through `Client().list_hook_invocations(...)`:
`invocation.outputs["output"][0].load()`.

Outside a step and a dynamic pipeline the function still runs and its value is returned; the
call cannot be recorded, which is logged as an error (ZenML does the same); `track=False` skips
recording silently.
"""

from __future__ import annotations

import logging
import pkgutil
import traceback
from collections.abc import Callable
from typing import Any

from fanflow.authoring.hook_outputs import named_outputs, save_in_step, save_outside
from fanflow.authoring.tracing import active_dynamic_run
from fanflow.enums import HookType
from fanflow.execution.recording import hook_records
from fanflow.execution.runtime import active_step
from fanflow.execution.step_hooks import HookCall, finish_awaitable, hook_name
from fanflow.ids import utcnow
from fanflow.metadata.store import MetadataStore

logger = logging.getLogger("fanflow")


def run_hook(
    func: Callable[..., Any] | str,
    *args: Any,
    kwargs: dict[str, Any] | None = None,
    name: str | None = None,
    hook_type: HookType | str = HookType.CUSTOM,
    store_return: bool = False,
    track: bool = True,
) -> Any:
    """Call `func(*args, **kwargs)` (awaiting it if async) and record the call."""
    loaded = pkgutil.resolve_name(func) if isinstance(func, str) else func
    kind = HookType(hook_type).value
    runtime = active_step()
    dynamic = active_dynamic_run() if runtime is None else None
    started = utcnow()
    status, error, outputs = "completed", None, None
    try:
        try:
            result = finish_awaitable(loaded(*args, **(kwargs or {})))
        except BaseException as exc:
            status, error = "failed", "".join(traceback.format_exception(exc))
            raise
        if store_return:  # after the call succeeded: a bad return does not fail the record
            outputs = named_outputs(loaded, result)
        return result
    finally:
        if track:
            call = HookCall(kind, name or hook_name(loaded), status, started, utcnow(), error)
            try:
                if runtime is not None:
                    if outputs:
                        call.outputs = save_in_step(runtime, outputs)
                    runtime.hook_calls.append(call)
                elif dynamic is not None:
                    settings = dynamic.settings
                    if outputs:
                        call.outputs = save_outside(outputs, settings)
                    MetadataStore(settings.metadata_url).record_hook_invocations(
                        hook_records([call], dynamic.orchestrator.run_id, None)
                    )
                else:
                    raise RuntimeError(
                        "Recording a hook invocation requires an active pipeline run context. "
                        "It can only be called from inside a step or a dynamic pipeline."
                    )
            except Exception as exc:
                logger.error("Failed to record `%s` hook invocation: %s", kind, exc)
