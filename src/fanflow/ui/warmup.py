"""Warming a fresh dashboard process before it listens (`server.serve` calls `warm_up`)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("fanflow.ui")

WARM_UP_TIMEOUT_S = 10.0
WARM_UP_PATHS = ("/", "/static/app.js", "/static/app.css", "/api/pipelines", "/api/runs?size=1")


def warm_up(app: Any) -> list[int]:
    """Send the page's first requests through `app` in-process, before the server listens, and
    return their status codes. A fresh process pays for its first request (lazy imports, MIME
    tables, the first connection to the store, compiling the first queries): paid here, the
    first visit's page does not wait for it. No run is read, so nothing is cached that a visit
    would not compute itself."""
    import asyncio

    statuses: list[int] = []

    async def get(target: str) -> None:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 0),
        }

        done = asyncio.Event()
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # as a client does: it goes away once the response is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await app(scope, receive, send)

    async def main() -> None:
        for target in WARM_UP_PATHS:
            await asyncio.wait_for(get(target), WARM_UP_TIMEOUT_S)

    try:
        asyncio.run(main())
    except Exception as exc:  # a failed warm-up only costs the first visit its speed
        logger.debug("dashboard warm-up failed: %s", exc)
    return statuses
