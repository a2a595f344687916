"""`DynamicPipelineRunContext`: the dynamic run whose pipeline function is executing.

ZenML 0.98 exposes it at `zenml.execution.pipeline.dynamic.run_context`; code written for
ZenML reads `DynamicPipelineRunContext.get().run` in a dynamic pipeline's function and in its
run-level hooks (`on_start`, `on_end`, `on_success`, `on_failure`, `on_pause`, `on_resume`),
which fire outside any step. Outside a dynamic run, `get()` returns None, as in ZenML.

The run is read fresh from the store on each `.run` access (a Client run view), so its status
and steps are current; the view is built by a loader the authoring layer hands in, which keeps
this module free of the Client (the execution layer sits below it).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

_active: contextvars.ContextVar[DynamicPipelineRunContext | None] = contextvars.ContextVar(
    "fanflow_dynamic_pipeline_run_context", default=None
)


class DynamicPipelineRunContext:
    """What a dynamic pipeline function (and its run-level hooks) can read about its run."""

    def __init__(
        self, pipeline: Any, run_id: str, load_run: Callable[[str], Any], runner: Any
    ) -> None:
        self._pipeline = pipeline
        self._run_id = run_id
        self._load_run = load_run
        self._runner = runner
        self._token: contextvars.Token[DynamicPipelineRunContext | None] | None = None

    @classmethod
    def get(cls) -> DynamicPipelineRunContext | None:
        """The context of the dynamic run executing in this thread or task, or None."""
        return _active.get()

    @classmethod
    def is_active(cls) -> bool:
        return _active.get() is not None

    @property
    def pipeline(self) -> Any:
        """The `@pipeline(dynamic=True)` object being run."""
        return self._pipeline

    @property
    def run(self) -> Any:
        """The pipeline run, as `Client().get_pipeline_run(...)` returns it (read now)."""
        return self._load_run(self._run_id)

    @property
    def runner(self) -> Any:
        """The live run that launches the function's steps."""
        return self._runner

    def __enter__(self) -> DynamicPipelineRunContext:
        if self._token is not None:
            raise RuntimeError("Re-entering the same dynamic pipeline run context is not allowed.")
        self._token = _active.set(self)
        return self

    def __exit__(self, *_: Any) -> None:
        if self._token is None:
            raise RuntimeError(
                "Can't exit DynamicPipelineRunContext because it has not been entered."
            )
        _active.reset(self._token)
        self._token = None
