"""A pipeline script without a `__main__` guard, with a closure step: run with
FANFLOW_ORCHESTRATOR=dask. Prints SCRIPT STARTED once per execution of this file."""

import os

from fanflow import pipeline, step, unmapped

print("SCRIPT STARTED", flush=True)


def make_scaler(factor: int):
    @step(enable_cache=False)
    def scale(x: int, offset: int) -> int:
        print(f"scaling {x}")
        return x * factor + offset

    return scale


scale = make_scaler(int(os.environ.get("FACTOR", "3")))


@step(enable_cache=False)
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def where() -> int:
    return os.getpid()


@step(enable_cache=False)
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def unguarded(n: int = 5):
    where()
    total(scale.map(numbers(n), unmapped(1)))


run = unguarded(n=5)
print("TOTAL", run.steps["total"].output.load())
print("WORKER PID", run.steps["where"].output.load(), "ORCHESTRATOR PID", os.getpid())
print("LOG", run.steps["map:scale:2"].logs.read().strip())
