"""The `processes` executor: the process pool of `execution/process_pool.py` behind the seam."""

from __future__ import annotations

from fanflow.execution.process_pool import ProcessExecutor

__all__ = ["ProcessExecutor"]
