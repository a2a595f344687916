"""Retry settings of a step, importable where ZenML users import them from.

Invariant: a plain frozen dataclass (no pydantic at import time) with ZenML's field names and
defaults; keyword construction is the same as ZenML's model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRetryConfig:
    """How often and how patiently a failing step is tried again.

    `delay` is the wait in seconds before the first retry; each further wait is multiplied by
    `backoff`.
    """

    max_retries: int = 1
    delay: float = 0
    backoff: float = 0

    def __post_init__(self) -> None:
        for field_name in ("max_retries", "delay", "backoff"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"StepRetryConfig.{field_name} must be a non-negative number, got {value!r}"
                )

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1-based).

        As in ZenML, each wait is the previous one times `backoff`: `delay`, `delay*backoff`,
        ... (so the default `backoff=0` waits `delay` once and not at all afterwards).
        """
        return float(self.delay) * float(self.backoff) ** (retry_number - 1)
