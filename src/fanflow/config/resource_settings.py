"""ZenML's `ResourceSettings`, importable where ZenML users import it from
(`fanflow.config.ResourceSettings`, `fanflow.config.resource_settings.ResourceSettings`).

`settings={"resources": ResourceSettings(cpu_count=2, gpu_count=1, memory="2GB")}` on a step or
pipeline becomes the step's resource requests (see `fanflow.config.step_settings`): `CPU`, `GPU`
and `memory` (bytes). The deployment scaling fields are accepted and have no effect (fanflow
does not deploy pipelines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

# ZenML's units; the letter case of the unit is not significant ("4Gb", as ZenML's YAML page
# writes it, is 4 GB).
_MEMORY = re.compile(r"^([0-9]+)\s*([KMGTP])(i?)B$", re.IGNORECASE)
_UNITS = {
    "KB": 10**3,
    "KiB": 2**10,
    "MB": 10**6,
    "MiB": 2**20,
    "GB": 10**9,
    "GiB": 2**30,
    "TB": 10**12,
    "TiB": 2**40,
    "PB": 10**15,
    "PiB": 2**50,
}


def memory_bytes(memory: str) -> int:
    """`"2GB"` -> 2_000_000_000, `"1GiB"` -> 1_073_741_824; ZenML's units (KB, KiB, ... PiB)."""
    match = _MEMORY.match(memory) if isinstance(memory, str) else None
    if match is None:
        raise ValueError(
            f"ResourceSettings: memory must be a whole number with a unit like '2GB' or "
            f"'512MiB' (KB, KiB, MB, MiB, GB, GiB, TB, TiB, PB, PiB), got {memory!r}."
        )
    unit = match.group(2).upper() + ("iB" if match.group(3) else "B")
    return int(match.group(1)) * _UNITS[unit]


@dataclass
class ResourceSettings:
    """CPU, GPU and memory a step needs; `None` means "not set" (merged from below)."""

    cpu_count: float | None = None
    gpu_count: int | None = None
    memory: str | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    autoscaling_metric: str | None = None
    autoscaling_target: float | None = None
    max_concurrency: int | None = None

    def __post_init__(self) -> None:
        if self.cpu_count is not None and (
            isinstance(self.cpu_count, bool)
            or not isinstance(self.cpu_count, (int, float))
            or self.cpu_count <= 0
        ):
            raise ValueError(
                f"ResourceSettings: cpu_count must be a positive number, got {self.cpu_count!r}."
            )
        if self.gpu_count is not None and (
            isinstance(self.gpu_count, bool)
            or not isinstance(self.gpu_count, int)
            or self.gpu_count < 0
        ):
            raise ValueError(
                "ResourceSettings: gpu_count must be a whole number, 0 or more, got "
                f"{self.gpu_count!r}."
            )
        if self.memory is not None:
            memory_bytes(self.memory)

    @property
    def empty(self) -> bool:
        """True when no field is set (ZenML's `ResourceSettings().empty`)."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def get_memory(self, unit: str = "GB") -> float | None:
        """The memory in `unit` (ZenML's `get_memory`), or None when not set."""
        if self.memory is None:
            return None
        if unit not in _UNITS:
            raise ValueError(f"ResourceSettings.get_memory: unknown unit {unit!r}.")
        return memory_bytes(self.memory) / _UNITS[unit]

    def model_dump(self, exclude_unset: bool = True, **_ignored: Any) -> dict[str, Any]:
        """The fields that are set, as a plain dict (what merging and recording use)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if not exclude_unset or getattr(self, f.name) is not None
        }
