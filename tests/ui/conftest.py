"""A store with real runs for the dashboard tests, built once per module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("starlette")

from dashboard_harness import build_showcase, settings_for


@pytest.fixture(scope="module")
def showcase_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs: `showcase` (previews, retries, hostile names), `failing_map` (30 branches, 2
    fail), `wide` (a dynamic 50-branch map)."""
    return build_showcase(tmp_path_factory.mktemp("dashboard-home"), wide=50)


@pytest.fixture
def settings(showcase_home: Path):  # type: ignore[no-untyped-def]
    return settings_for(showcase_home)


@pytest.fixture
def http(settings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from fanflow.ui.server import create_app

    with TestClient(create_app(settings)) as client:
        yield client
