"""Public face for ZenML's `zenml.steps` import path: `from fanflow.steps import step`.

The implementation lives in `fanflow.authoring`; this module only re-exports it so programs
written against ZenML's older import paths run after changing `zenml` to `fanflow`.
"""

from __future__ import annotations

from fanflow.authoring.context import StepContext, get_step_context
from fanflow.authoring.steps import Step, step

BaseStep = Step

__all__ = ["BaseStep", "Step", "StepContext", "get_step_context", "step"]
