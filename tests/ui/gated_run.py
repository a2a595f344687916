"""A dynamic run whose later branches wait until a gate file exists (the live-update test).

python gated_run.py N OPEN_FIRST GATE_FILE
"""

from __future__ import annotations

import os
import sys
import time

from fanflow import pipeline, step, unmapped


@step(enable_cache=False)
def list_jobs(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def job(item: int, open_first: int, gate: str) -> int:
    deadline = time.monotonic() + 120
    while item >= open_first and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"job {item} done")
    return item


@pipeline(dynamic=True, enable_cache=False, max_parallelism=4)
def gated(n: int, open_first: int, gate: str) -> None:
    job.map(list_jobs(n), open_first=unmapped(open_first), gate=unmapped(gate))


if __name__ == "__main__":
    gated(n=int(sys.argv[1]), open_first=int(sys.argv[2]), gate=sys.argv[3])
