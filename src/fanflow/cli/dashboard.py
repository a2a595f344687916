"""`fanflow ui`: serves the web dashboard, which is an optional part (`fanflow[ui]`).

The server lives in `fanflow.ui.server` and is imported only here, so the CLI works without it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

UI_MODULE = "fanflow.ui.server"
UI_REQUIREMENTS = ("starlette", "uvicorn")


def load_server() -> Any:
    """`fanflow.ui.server.serve`, or a clear error when the dashboard is not installed."""
    try:
        module = importlib.import_module(UI_MODULE)
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        raise click.ClickException(
            "The dashboard is not available in this installation "
            f'(missing module {missing!r}): install it with pip install "fanflow[ui]".'
        ) from None
    serve = getattr(module, "serve", None)
    if serve is None:
        raise click.ClickException(f"{UI_MODULE} has no serve(host, port) function.")
    return serve


def serve(host: str, port: int) -> None:
    server = load_server()
    try:
        server(host, port)
    except ModuleNotFoundError as exc:  # the web server (uvicorn) is imported when serving
        if exc.name not in UI_REQUIREMENTS:
            raise
        raise click.ClickException(
            f'The dashboard needs {exc.name!r}, which is not installed: pip install "fanflow[ui]".'
        ) from None
