"""The storage test services are required in CI: a missing PostgreSQL fails the run there and
skips only on a developer's machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import free_port

TESTS = Path(__file__).parent
ONE_POSTGRES_TEST = "tests/metadata/test_backends.py::test_id_prefixes_find_runs_and_artifacts"


def run_one_postgres_test(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["FANFLOW_TEST_POSTGRES_URL"] = f"postgresql+psycopg://root@127.0.0.1:{free_port()}/test"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rfEs",
            f"{ONE_POSTGRES_TEST}[postgresql]",
        ],
        cwd=str(TESTS.parent),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "developer"])
def test_missing_postgres_fails_in_ci_and_skips_elsewhere(ci: bool) -> None:
    result = run_one_postgres_test(ci)
    output = result.stdout + result.stderr
    assert "PostgreSQL is not reachable" in output
    if ci:
        assert result.returncode != 0
        assert "CI requires it" in output
    else:
        assert result.returncode == 0
        assert "1 skipped" in output
