"""Settings read from the environment into one frozen object.

Invariants: nothing here does I/O at import; `load_settings()` reads the environment each time it
is called (a run or a Client reads it once), so tests and users can change `FANFLOW_HOME` between
runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fanflow.config.retry_config import StepRetryConfig

__all__ = [
    "ORCHESTRATOR_MODES",
    "Settings",
    "StepRetryConfig",
    "default_max_parallelism",
    "load_settings",
]

ORCHESTRATOR_MODES = ("local", "sequential", "processes")


def default_max_parallelism() -> int:
    """Threads run I/O-bound steps side by side, so allow more than one per core, at least 8."""
    return min(32, max(8, 4 * (os.cpu_count() or 1)))


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    metadata_url: str
    artifact_root: str
    max_parallelism: int | None
    orchestrator: str
    logging_verbosity: str


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def load_settings() -> Settings:
    home = Path(os.environ.get("FANFLOW_HOME") or Path.home() / ".fanflow").expanduser()
    metadata_url = os.environ.get("FANFLOW_METADATA_URL") or f"sqlite:///{home / 'fanflow.db'}"
    artifact_root = os.environ.get("FANFLOW_ARTIFACT_ROOT") or str(home / "artifacts")
    orchestrator = (os.environ.get("FANFLOW_ORCHESTRATOR") or "local").strip().lower()
    if orchestrator not in ORCHESTRATOR_MODES:
        raise ValueError(
            f"FANFLOW_ORCHESTRATOR must be one of {', '.join(ORCHESTRATOR_MODES)}; "
            f"got {orchestrator!r}"
        )
    return Settings(
        home=home,
        metadata_url=metadata_url,
        artifact_root=artifact_root,
        max_parallelism=_env_int("FANFLOW_MAX_PARALLELISM"),
        orchestrator=orchestrator,
        logging_verbosity=(os.environ.get("FANFLOW_LOGGING_VERBOSITY") or "INFO").upper(),
    )
