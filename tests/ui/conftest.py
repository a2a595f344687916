"""A store with real runs for the dashboard tests, built once per module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("starlette")


@pytest.fixture(scope="module")
def showcase_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Runs: `showcase` (previews, retries, hostile names), `failing_map` (30 branches, 2
    fail), `wide` (a dynamic 50-branch map)."""
    import dashboard_showcase as show

    from fanflow.metadata.engine import dispose_all

    home = tmp_path_factory.mktemp("dashboard-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FANFLOW_HOME", str(home))
        for name in ("FANFLOW_METADATA_URL", "FANFLOW_ARTIFACT_ROOT", "FANFLOW_ORCHESTRATOR"):
            mp.delenv(name, raising=False)
        show.showcase()
        with pytest.raises(Exception, match="scale"):
            show.failing_map()
        show.wide(n=50)
        dispose_all()
    yield home


@pytest.fixture
def settings(showcase_home: Path):  # type: ignore[no-untyped-def]
    from fanflow.config import Settings

    return Settings(
        home=showcase_home,
        metadata_url=f"sqlite:///{showcase_home / 'fanflow.db'}",
        artifact_root=str(showcase_home / "artifacts"),
        max_parallelism=None,
        orchestrator="local",
        logging_verbosity="INFO",
    )


@pytest.fixture
def http(settings):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from fanflow.ui.server import create_app

    with TestClient(create_app(settings)) as client:
        yield client
