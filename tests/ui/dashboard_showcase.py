"""Pipelines whose records the dashboard tests read: previews of every kind, retries, failures,
hostile names and log lines, maps."""

from __future__ import annotations

import sys
from typing import Annotated

import numpy as np
import pandas as pd

from fanflow import get_step_context, pipeline, step, unmapped
from fanflow.config.retry_config import StepRetryConfig
from fanflow.ui.previews import encode_png

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_LOG = "<script>window.__pwned = 1</script><img src=y onerror=alert(2)>"


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value


@step(enable_cache=False)
def make_array() -> np.ndarray:
    ramp = np.arange(32, dtype=np.uint8) * 8
    return np.stack(
        [np.tile(ramp, (32, 1)), np.tile(ramp[:, None], (1, 32)), np.full((32, 32), 90, np.uint8)],
        axis=2,
    )


@step(enable_cache=False)
def make_frame() -> pd.DataFrame:
    return pd.DataFrame({"city": ["Oslo", "Lima", "<b>Pune</b>"], "temp": [3.5, 19.0, 31.2]})


@step(enable_cache=False)
def make_png() -> bytes:
    return encode_png(np.full((8, 8, 3), 200, np.uint8))


@step(enable_cache=False)
def make_object() -> Opaque:
    return Opaque(7)


@step(enable_cache=False)
def talk(array: np.ndarray) -> Annotated[dict, "report"]:
    print("first line of output")
    print(HOSTILE_LOG)
    print("error stream line", file=sys.stderr)
    return {"mean": float(array.mean()), "label": HOSTILE}


_calls: dict[str, int] = {}


@step(enable_cache=False, retry=StepRetryConfig(max_retries=2, delay=0))
def flaky() -> int:
    run = get_step_context().pipeline_run.name
    _calls[run] = _calls.get(run, 0) + 1
    if _calls[run] == 1:  # the first attempt in each run
        raise RuntimeError("first attempt fails")
    return 42


@pipeline(enable_cache=False)
def showcase() -> None:
    array = make_array()
    make_frame()
    make_png()
    make_object()
    talk(array, id=HOSTILE)
    flaky()


@step(enable_cache=False)
def scale(item: int, factor: int) -> int:
    if item in (4, 11):
        raise ValueError(f"item {item} is bad")
    return item * factor


@step(enable_cache=False)
def add_up(values: list[int]) -> int:
    return sum(values)


@step(enable_cache=False)
def get_factor() -> int:
    return 2


@pipeline(enable_cache=False)
def failing_map(n: int = 30) -> None:
    add_up(scale.map(list(range(n)), factor=unmapped(get_factor())))


@step(enable_cache=False)
def list_items(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def square(item: int) -> int:
    print(f"squaring {item}")
    return item * item


@pipeline(dynamic=True, enable_cache=False)
def wide(n: int = 1000) -> None:
    add_up(square.map(list_items(n)))
