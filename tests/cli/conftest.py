"""Fixtures for the CLI tests: stores filled with real runs, and a way to invoke `fanflow`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fanflow.cli.app import cli


class Fanflow:
    """Runs `fanflow ARGS` in-process (click's CliRunner) against the current FANFLOW_HOME."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = self.runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"fanflow {' '.join(args)}: {result.output}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def fanflow() -> Fanflow:
    return Fanflow()


def fill_small_store(home: Path) -> dict[str, str]:
    """A static run, a failed run and its resumed run, and a run whose step was retried."""
    import cli_flows
    from fanflow.client import Client
    from fanflow.exceptions import RunFailedError

    names: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANFLOW_HOME", str(home))
        patch.delenv(cli_flows.FIX_ENV, raising=False)
        names["static"] = cli_flows.static_flow().name
        with pytest.raises(RunFailedError) as failed:
            cli_flows.failing_flow()
        names["failed"] = failed.value.run_name
        patch.setenv(cli_flows.FIX_ENV, "1")
        names["resumed"] = Client().get_pipeline_run(names["failed"]).resume().name
        cli_flows.ATTEMPTS["flaky"] = 0
        names["retried"] = cli_flows.retry_flow().name
    return names


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    from fanflow.metadata.engine import dispose_all

    home = tmp_path_factory.mktemp("small-store")
    names = fill_small_store(home)
    dispose_all()
    yield home, names


@pytest.fixture
def small(small_store, fanflow_home, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Point this test at the shared small store (read-only use)."""
    home, names = small_store
    monkeypatch.setenv("FANFLOW_HOME", str(home))
    return names


def env_for(home: Path, **extra: str) -> dict[str, str]:
    tests = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "FANFLOW_HOME": str(home), **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tests, env.get("PYTHONPATH")) if p)
    return env
