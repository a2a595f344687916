"""`from fanflow.logger import get_logger` (ZenML's `zenml.logger.get_logger`).

Loggers from here sit under `fanflow.user` and log at INFO by default, printed to stderr as
ZenML's do (unless the program configured that logger itself). Inside a step their records also
land in the step's captured log.
"""

from __future__ import annotations

import logging
import sys

_USER_ROOT = "fanflow.user"


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


def _user_root() -> logging.Logger:
    root = logging.getLogger(_USER_ROOT)
    if not root.handlers:
        root.addHandler(_StderrHandler())
        root.propagate = False
        root.setLevel(logging.INFO)
    return root


def get_logger(logger_name: str) -> logging.Logger:
    """The logger for a module (`get_logger(__name__)`), logging at INFO to stderr."""
    _user_root()
    return logging.getLogger(f"{_USER_ROOT}.{logger_name}")
