"""What the dashboard tests and `benchmarks/dashboard.py` both need: headless Chromium's path and
flags, a store's settings, a dashboard on a free loopback port (in a thread, or in a process of
its own for cold-start figures), and a store holding the showcase runs and a wide map.

Imports nothing heavy at module level: the benchmark loads it before it knows what it will run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STORE_ENV = (
    "FANFLOW_METADATA_URL",
    "FANFLOW_ARTIFACT_ROOT",
    "FANFLOW_ORCHESTRATOR",
    "FANFLOW_MAX_PARALLELISM",
    "FANFLOW_ARTIFACT_STORAGE_OPTIONS",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(home: Path) -> Any:
    """Settings of the default store layout under `home` (SQLite file and local artifacts)."""
    from fanflow.config import Settings

    return Settings(
        home=home,
        metadata_url=f"sqlite:///{home / 'fanflow.db'}",
        artifact_root=str(home / "artifacts"),
        max_parallelism=None,
        orchestrator="local",
        logging_verbosity="INFO",
    )


@contextmanager
def store_env(home: Path) -> Iterator[None]:
    """FANFLOW_HOME set to `home` and the other store variables unset, restored afterwards."""
    saved = {name: os.environ.get(name) for name in ("FANFLOW_HOME", *STORE_ENV)}
    os.environ["FANFLOW_HOME"] = str(home)
    for name in STORE_ENV:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_showcase(home: Path, wide: int) -> Path:
    """Runs in `home`: `showcase` (previews, retries, hostile names), `failing_map` (30 branches,
    2 fail) and `wide` (a dynamic map of `wide` branches). Returns `home`."""
    import dashboard_showcase as show

    from fanflow.metadata.engine import dispose_all

    with store_env(home):
        show.showcase()
        try:
            show.failing_map()
        except Exception as exc:  # two branches fail by design, so the run does
            if "scale" not in str(exc):
                raise
        else:
            raise AssertionError("failing_map was meant to fail")
        show.wide(n=wide)
        dispose_all()
    return home


@contextmanager
def serve_in_thread(settings: Any) -> Iterator[str]:
    """The dashboard over `settings` on a free loopback port, in a thread of this process;
    yields its base URL."""
    import uvicorn

    from fanflow.ui.server import LOOPBACK_HOSTS, create_app

    port = free_port()
    app = create_app(settings, allowed_hosts=LOOPBACK_HOSTS)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the dashboard server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def serve_in_process(
    home: Path, python: str, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """`fanflow ui`'s server over the store in `home`, in a fresh process (cold caches, as on a
    user's first visit); returns it and its base URL once it accepts connections."""
    port = free_port()
    code = f"from fanflow.ui.server import serve; serve('127.0.0.1', {port})"
    proc = subprocess.Popen(
        [python, "-c", code],
        env={**env, "FANFLOW_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the dashboard server did not start")
