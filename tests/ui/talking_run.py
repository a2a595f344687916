"""A run whose one step prints a line, then waits for a gate file before the next (the live log
test): `go0` lets it print line 1, `go1` line 2, `go2` lets it finish.

python talking_run.py GATE_DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fanflow import pipeline, step

HOSTILE_LINE = "<img src=z onerror=alert(3)> & <b>not bold</b>"


@step(enable_cache=False)
def talk(gates: str) -> int:
    for i in range(3):
        print(f"line {i}: {HOSTILE_LINE}", flush=True)
        deadline = time.monotonic() + 120
        while not (Path(gates) / f"go{i}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return 3


@pipeline(enable_cache=False)
def talking(gates: str) -> None:
    talk(gates)


if __name__ == "__main__":
    talking(gates=sys.argv[1])
