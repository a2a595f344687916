"""Named pipeline shapes reused across tests: fan_out_fan_in, diamond, wide, chain.

Each builder returns a fresh `@pipeline` (steps defined inside, so tests stay independent) and
records the order in which step bodies start and finish in `events`.
"""

from __future__ import annotations

import threading
import time

from fanflow import pipeline, step


class EventLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str, float]] = []

    def mark(self, kind: str, name: str) -> None:
        with self._lock:
            self.events.append((kind, name, time.perf_counter()))

    def started(self) -> list[str]:
        return [name for kind, name, _ in self.events if kind == "start"]

    def times(self, kind: str) -> dict[str, float]:
        return {name: at for k, name, at in self.events if k == kind}


def fan_out_fan_in(width: int = 8, delay: float = 0.0, log: EventLog | None = None):
    log = log or EventLog()

    @step(enable_cache=False)
    def source() -> int:
        log.mark("start", "source")
        log.mark("end", "source")
        return 1

    @step(enable_cache=False)
    def branch(value: int, offset: int) -> int:
        log.mark("start", f"branch_{offset}")
        time.sleep(delay)
        log.mark("end", f"branch_{offset}")
        return value + offset

    @step(enable_cache=False)
    def combine(values: list[int]) -> int:
        log.mark("start", "combine")
        log.mark("end", "combine")
        return sum(values)

    @pipeline(enable_cache=False, name=f"fan_out_fan_in_{width}")
    def fan_out_fan_in_pipeline():
        value = source()
        results = [branch(value, offset=i, id=f"branch_{i}") for i in range(width)]
        combine(results)

    return fan_out_fan_in_pipeline, log


def diamond(log: EventLog | None = None):
    log = log or EventLog()

    @step(enable_cache=False)
    def top() -> int:
        log.mark("start", "top")
        return 2

    @step(enable_cache=False)
    def left(x: int) -> int:
        log.mark("start", "left")
        return x * 3

    @step(enable_cache=False)
    def right(x: int) -> int:
        log.mark("start", "right")
        return x * 5

    @step(enable_cache=False)
    def bottom(a: int, b: int) -> int:
        log.mark("start", "bottom")
        return a + b

    @pipeline(enable_cache=False)
    def diamond_pipeline():
        t = top()
        bottom(left(t), right(t))

    return diamond_pipeline, log
