"""The seam through which `PipelineRunView.resume()` reaches the layer that starts runs.

The Client only reads; resuming starts work, which is the authoring layer's job, and that layer
sits above the Client. So the Client never imports it: the top-level `fanflow` package (which
every `import fanflow.…` runs first) registers the function that resumes a run, and the view
calls whatever is registered. Tests or other front ends may register their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fanflow.exceptions import ResumeError

if TYPE_CHECKING:
    from fanflow.client.views import PipelineRunView


class RunResumer(Protocol):
    def __call__(self, run: PipelineRunView) -> PipelineRunView: ...


_resumer: RunResumer | None = None


def register_resumer(resumer: RunResumer) -> RunResumer | None:
    """Make `resumer` the function `run.resume()` calls; returns the one it replaces."""
    global _resumer
    previous, _resumer = _resumer, resumer
    return previous


def resume(run: PipelineRunView) -> PipelineRunView:
    if _resumer is None:
        raise ResumeError(
            f"Cannot resume run {run.name!r}: no launcher is registered (the `fanflow` package "
            "registers one when imported)."
        )
    return _resumer(run)
