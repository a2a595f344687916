"""Pipelines the CLI tests run and resume (importable as `cli_flows`, so resume can find them)."""

from __future__ import annotations

import logging
import os
import time

from fanflow import pipeline, step, unmapped
from fanflow.config.retry_config import StepRetryConfig

FIX_ENV = "CLI_FLOWS_FIXED"


@step
def load(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def square(values: list[int], power: int) -> int:
    print(f"square {power} says hi")
    return sum(v**power for v in values)


@step
def combine(results: list[int]) -> int:
    return sum(results)


@pipeline
def static_flow(branches: int = 3):
    data = load(3)
    combine([square(data, power=p, id=f"square_{p}") for p in range(branches)])


@step
def process(shard: int, factor: int) -> int:
    print(f"branch {shard} processing")
    if shard in (11, 22) and not os.environ.get(FIX_ENV):
        raise ValueError(f"shard {shard} is bad\nsecond line of the error\nthird\nfourth line")
    return shard * factor


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def mapped_flow(n: int = 1000, reduce: bool = True):
    shards = load(n)
    results = process.map(shards, factor=unmapped(3))
    if reduce:  # waiting for the results stops the run at the first failed branch
        total(results)


@step(enable_cache=False)
def fragile(value: list[int]) -> int:
    if not os.environ.get(FIX_ENV):
        raise ValueError("bad input\nsecond line\nthird line\nfourth line")
    return len(value)


@step
def report(size: int) -> str:
    return f"size={size}"


@pipeline(execution_mode="continue_on_failure")
def failing_flow():
    report(fragile(load(4)))


ATTEMPTS = {"flaky": 0}


@step(enable_cache=False, retry=StepRetryConfig(max_retries=2, delay=0, backoff=1))
def flaky() -> int:
    ATTEMPTS["flaky"] += 1
    print(f"attempt {ATTEMPTS['flaky']} output")
    logging.getLogger("cli_flows").warning("attempt %d warns", ATTEMPTS["flaky"])
    if ATTEMPTS["flaky"] < 3:
        raise ConnectionError(f"try again ({ATTEMPTS['flaky']})")
    return ATTEMPTS["flaky"]


@pipeline(enable_cache=False)
def retry_flow():
    flaky()


@step(enable_cache=False)
def slow_talker(lines: int, pause: float) -> int:
    for i in range(lines):
        print(f"line {i}", flush=True)
        time.sleep(pause)
    return lines


@pipeline(enable_cache=False)
def slow_flow(lines: int = 5, pause: float = 0.5):
    slow_talker(lines, pause)


@step(enable_cache=False)
def echo(word: str, times: int) -> str:
    print(" ".join([word] * times))
    return word


@pipeline(enable_cache=False)
def param_flow(word: str = "hi", times: int = 2):
    echo(word, times)


@step
def make(n: int) -> list[int]:
    return list(range(n))


@step
def use(values: list[int]) -> int:
    return sum(values)


@pipeline
def cached_flow(n: int = 50):
    use(make(n))
