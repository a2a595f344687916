"""examples/dynamic_map_reduce.py runs as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dynamic_map_reduce.py"


def test_dynamic_example_runs(fanflow_home):
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "40"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"total: {3 * sum(range(40))}",
        "branch 7 of map process -> 21",
    ]
