"""The seed pipeline written the fanflow way: the fan-in step takes the branches' outputs as a
list, so it needs no Client query, no step-name prefix and no `after=`; it returns the joined
text as an artifact, and the branches run in parallel (also in worker processes).

python examples/fan_out_fan_in_fanflow.py                 # 8 branches, threads
python examples/fan_out_fan_in_fanflow.py 100 processes   # 100 branches, worker processes
"""

from __future__ import annotations

import sys

from fanflow import pipeline, step


@step
def load_step() -> str:
    return "Hello from ZenML!"


@step
def process_step(input_data: str) -> str:
    return input_data


@step
def combine_step(results: list[str], names: list[str]) -> str:
    """The fan-in: the branches' outputs arrive in the order the branches were declared."""
    return ",".join(f"{name}: {result}" for name, result in zip(names, results, strict=True))


@pipeline(enable_cache=False)
def fan_out_fan_in_pipeline(parallel_count: int) -> None:
    input_data = load_step()
    names = [f"process_{i}" for i in range(parallel_count)]
    results = [process_step(input_data, id=name) for name in names]
    combine_step(results, names)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    orchestrator = sys.argv[2] if len(sys.argv) > 2 else "local"
    run = fan_out_fan_in_pipeline.with_options(orchestrator=orchestrator)(parallel_count=count)
    print(run.steps["combine_step"].output.load())
