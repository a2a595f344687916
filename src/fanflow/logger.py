"""`from fanflow.logger import get_logger` (ZenML's `zenml.logger.get_logger`).

As in ZenML, the logger of that name logs at INFO and prints to stderr itself (it does not
propagate to the root logger), unless the program already gave it handlers. Inside a step, its
records also land in the step's captured log.
"""

from __future__ import annotations

import logging
import sys


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time, so redirections are honoured."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def get_logger(logger_name: str) -> logging.Logger:
    """The logger for a module (`get_logger(__name__)`), logging at INFO to stderr."""
    logger = logging.getLogger(logger_name)
    if not logger.handlers:
        logger.addHandler(_StderrHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
