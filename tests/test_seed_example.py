"""The first user's program (the seed) runs unchanged but for the import line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import run_python

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fan_out_fan_in.py"
EXPECTED = ",".join(f"process_{i}: Hello from ZenML!" for i in range(8))


def test_seed_prints_exactly_what_zenml_prints(fanflow_home):
    import os

    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED + "\n"


def test_seed_run_is_queryable_from_another_process(fanflow_home):
    import os

    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    subprocess.run(
        [sys.executable, str(EXAMPLE)], check=True, capture_output=True, env=env, timeout=120
    )
    result = run_python(
        "from fanflow.client import Client\n"
        "run = Client().get_pipeline('fan_out_fan_in_pipeline').last_run\n"
        "print(repr(run.steps['process_3'].outputs['output'][0].load()))\n",
        fanflow_home,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr("Hello from ZenML!")
