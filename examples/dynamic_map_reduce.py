"""Dynamic fan-out: the number of branches is only known while the pipeline runs.

python examples/dynamic_map_reduce.py            # 1000 shards
python examples/dynamic_map_reduce.py 50         # 50 shards
"""

import sys

from fanflow import pipeline, step, unmapped
from fanflow.client import Client


@step
def list_shards(n: int) -> list[int]:
    return list(range(n))


@step
def process(shard: int, factor: int) -> int:
    return shard * factor


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True)
def shards_pipeline(n: int = 1000):
    shards = list_shards(n)  # width known only at run time
    results = process.map(shards, factor=unmapped(3))
    total(results)  # fan-in: the list of branch results, in order


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    run = shards_pipeline(n=count)
    print("total:", run.steps["total"].output.load())
    branch = Client().get_pipeline_run(run.name).steps["map:process:7"]
    print("branch", branch.map_index, "of map", branch.map_group, "->", branch.output.load())
