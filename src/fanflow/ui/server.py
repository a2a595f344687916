"""The dashboard's web server: a read-only JSON API over the metadata store, and its static page.

`create_app()` builds the Starlette application (tests drive it in-process); `serve()` runs it on
uvicorn and blocks. Every response is computed from the same reads as the Client (runs, steps,
artifacts) plus the aggregate reads of `fanflow.metadata.summaries`, so a run with 100,000
branches costs the page a few grouped queries, never 100,000 rows.

Invariants:
- read-only: only GET routes exist (anything else is 405), so a page cannot change a run;
- nothing user-provided is ever turned into markup here: the API returns JSON and the page builds
  its DOM with `textContent`; the Content-Security-Policy allows only the page's own script and
  styles (no inline script, no inline event handlers) as a second wall;
- files (previews, logs, downloads) are served only from inside the artifact store's root;
- `serve()` binds 127.0.0.1 unless told otherwise, warns when told otherwise, and then also
  refuses requests whose Host header names another host (DNS-rebinding protection).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fanflow.artifacts.io import inline_files
from fanflow.config import Settings, load_settings
from fanflow.exceptions import DoesNotExistError
from fanflow.ids import normalize_id, utcnow
from fanflow.metadata import lineage, summaries
from fanflow.metadata import schema as t
from fanflow.metadata.liveness import as_seen, run_is_orphaned, step_as_seen
from fanflow.metadata.queries import _step
from fanflow.metadata.records import ArtifactVersionRecord, RunRecord, StepRunRecord
from fanflow.metadata.store import MetadataStore
from fanflow.ui import previews
from fanflow.ui.logreader import LOG_CHUNK, LogFiles
from fanflow.ui.warmup import warm_up

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
DEFAULT_PORT = 8237
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
logger = logging.getLogger("fanflow.ui")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def _int(request: Request, name: str, default: int, low: int = 1, high: int = 10_000) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


class BadRequest(Exception):
    pass


class Dashboard:
    """The reads behind each route, over one store and artifact root."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = MetadataStore(settings.metadata_url)
        self.engine = self.store.engine
        self.root = settings.artifact_root
        self.log_files = LogFiles(settings.artifact_root, settings.artifact_storage_options)

    # --- records as JSON ----------------------------------------------------------------------

    def run_json(self, run: RunRecord) -> dict[str, Any]:
        end = run.end_time or (utcnow() if run.status == "running" else None)
        return {
            "id": run.id,
            "name": run.name,
            "pipeline": run.pipeline_name,
            "pipeline_id": run.pipeline_id,
            "status": run.status,
            "created": _iso(run.created),
            "start_time": _iso(run.start_time),
            "end_time": _iso(run.end_time),
            "duration": _seconds(run.start_time, end),
            "exception": run.exception,
            "original_run_id": run.original_run_id,
        }

    def version_json(self, av: ArtifactVersionRecord) -> dict[str, Any]:
        return {
            "id": av.id,
            "artifact_id": av.artifact_id,
            "name": av.name,
            "version": av.version,
            "data_type": av.data_type,
            "materializer": av.materializer,
            "artifact_type": av.artifact_type,
            "size": av.size,
            "content_hash": av.content_hash,
            "save_type": av.save_type,
            "producer_step_run_id": av.producer_step_run_id,
            "producer_run_id": av.producer_run_id,
            "created": _iso(av.created),
            "metadata": av.run_metadata,
        }

    def _live_run(self, ident: str) -> RunRecord:
        """The run as the Client shows it: one whose orchestrator died reads as failed."""
        return as_seen(self.store.get_run(ident))

    def _step_record(self, step_id: str) -> StepRunRecord:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.step_runs).where(t.step_runs.c.id == normalize_id(step_id))
            ).first()
        if row is None:
            raise DoesNotExistError(f"No step run with id {step_id}.")
        return _step(row)

    # --- routes -------------------------------------------------------------------------------

    def pipelines(self, request: Request) -> dict[str, Any]:
        return {
            "items": [
                {"id": p.id, "name": p.name, "created": _iso(p.created)}
                for p in self.store.list_pipelines()
            ]
        }

    def runs(self, request: Request) -> dict[str, Any]:
        page = _int(request, "page", 1, high=1_000_000)
        size = _int(request, "size", 20, high=200)
        pipeline = request.query_params.get("pipeline") or None
        status = request.query_params.get("status") or None
        pipeline_id = None
        if pipeline:
            try:
                pipeline_id = self.store.get_pipeline(pipeline).id
            except KeyError:
                return {"items": [], "total": 0, "page": page, "size": size}
        orphaned = [r.id for r in self.store.running_runs() if run_is_orphaned(r)] if status else []
        records, total = self.store.list_runs(
            pipeline_id=pipeline_id, status=status, page=page, size=size, orphaned=orphaned
        )
        live = [as_seen(r) for r in records]
        return {
            "items": [self.run_json(r) for r in live],
            "total": total,
            "page": page,
            "size": size,
        }

    def run(self, request: Request) -> dict[str, Any]:
        """The run and its nodes. With `durations=0` the groups' p50/max durations are left out
        (null, and no cursor): the page paints from that at once, then asks `changes` for the
        full nodes and the cursor it polls with."""
        record = self._live_run(request.path_params["run_id"])
        quick = request.query_params.get("durations") in ("0", "false")
        if quick:
            nodes = summaries.node_summaries(self.engine, record.id, durations=False)
            cursor = None
        else:
            changes = summaries.changes_since(self.engine, record.id)
            nodes, cursor = changes.nodes, changes.cursor
        nodes = summaries.as_seen_nodes(nodes, record.status)
        return {
            "run": self.run_json(record),
            "parameters": record.config.get("parameters", {}),
            "config": {k: v for k, v in record.config.items() if k != "parameters"},
            "metadata": record.run_metadata,
            "nodes": [n.to_dict() for n in nodes],
            "cursor": cursor,
        }

    def changes(self, request: Request) -> dict[str, Any]:
        record = self._live_run(request.path_params["run_id"])
        since = request.query_params.get("since")
        changes = summaries.changes_since(self.engine, record.id, since)
        seen = dataclasses.replace(
            changes,
            run_status=record.status,
            nodes=summaries.as_seen_nodes(changes.nodes, record.status),
        )
        return {"run": self.run_json(record), **seen.to_dict()}

    def timeline(self, request: Request) -> dict[str, Any]:
        record = self.store.get_run(request.path_params["run_id"])
        max_bars = _int(request, "max_bars", 200, high=2000)
        buckets = _int(request, "buckets", 120, high=1000)
        return summaries.timeline(
            self.engine, record.id, max_bars=max_bars, buckets=buckets, now=utcnow()
        ).to_dict()

    def branches(self, request: Request) -> dict[str, Any]:
        record = as_seen(self.store.get_run(request.path_params["run_id"]))
        sort = request.query_params.get("sort", "index")
        if sort not in summaries.BRANCH_SORTS:
            raise BadRequest(f"sort must be one of {', '.join(summaries.BRANCH_SORTS)}")
        status = request.query_params.get("status") or None
        page = summaries.list_branches(
            self.engine,
            record.id,
            request.path_params["group"],
            page=_int(request, "page", 1, high=10_000_000),
            size=_int(request, "size", 50, high=500),
            sort=sort,
            descending=request.query_params.get("desc") in ("1", "true"),
            status=status,
        )
        result = page.to_dict()
        if record.status not in summaries.ACTIVE_STATUSES:  # as the Client shows such steps
            for row in result["rows"]:
                if row["status"] == "running":
                    row["status"] = "failed"
        return result

    def step(self, request: Request) -> dict[str, Any]:
        raw = self._step_record(request.path_params["step_id"])
        run = as_seen(self.store.get_run(raw.run_id))
        record = step_as_seen(raw, run)
        links = lineage.step_links(self.engine, record.id)
        output_ids = [v.id for linked in links.outputs for v in linked.versions]
        consumers = lineage.consumers(self.engine, output_ids)

        def linked_json(linked: lineage.LinkedArtifacts, with_consumers: bool) -> dict[str, Any]:
            versions = []
            for v in linked.versions:
                entry = self.version_json(v)
                producer = links.producers.get(v.id)
                entry["producer"] = producer.to_dict() if producer else None
                if with_consumers:
                    total, refs = consumers.get(v.id, (0, []))
                    entry["consumers"] = [r.to_dict() for r in refs]
                    entry["consumer_total"] = total
                versions.append(entry)
            return {"name": linked.name, "total": linked.total, "versions": versions}

        end = record.end_time or (utcnow() if record.status == "running" else None)
        return {
            "id": record.id,
            "name": record.name,
            "step_name": record.step_name,
            "status": record.status,
            "run": self.run_json(run),
            "created": _iso(record.created),
            "start_time": _iso(record.start_time),
            "end_time": _iso(record.end_time),
            "duration": _seconds(record.start_time, end),
            "parameters": record.config.get("parameters", {}),
            "config": {k: v for k, v in record.config.items() if k != "parameters"},
            "metadata": record.run_metadata,
            "map_group": record.map_group,
            "map_index": record.map_index,
            "cache_key": record.cache_key,
            "original_step_run_id": record.original_step_run_id,
            "exception": record.exception,
            "traceback": record.traceback,
            "attempts": record.attempts or [],
            "has_logs": record.logs_uri is not None,
            "inputs": [linked_json(linked, False) for linked in links.inputs],
            "outputs": [linked_json(linked, True) for linked in links.outputs],
            "source": record.source,
        }

    def logs(self, request: Request) -> dict[str, Any]:
        """A byte range of the step's log from `offset`: the stored log once the step has one,
        else, while it runs, the live copy the worker appends to (`source` says which). `offset`
        in the answer is where to ask from next; `tail=N` on the first ask starts N bytes from
        the end. A running step's answers hold whole lines only."""
        raw = self._step_record(request.path_params["step_id"])
        record = step_as_seen(raw, as_seen(self.store.get_run(raw.run_id)))
        finished = record.status not in summaries.ACTIVE_STATUSES
        offset = _int(request, "offset", 0, low=0, high=2**62)
        tail = (
            _int(request, "tail", LOG_CHUNK, low=1, high=LOG_CHUNK)
            if request.query_params.get("tail")
            else None
        )
        source = "stored" if record.logs_uri is not None else None if finished else "live"
        found = None
        if source is not None:
            uri = record.logs_uri or self.log_files.live_uri(record.run_id, record.id)
            try:
                found = self.log_files.read(uri, offset, tail=tail, whole_lines=source == "live")
            except previews.OutsideStore:
                raise BadRequest("the step's log is recorded outside the artifact store") from None
        if found is None:  # nothing written yet (or the live copy just gave way to the stored log)
            return {
                "text": "",
                "start": offset,
                "offset": offset,
                "size": 0,
                "finished": finished,
                "exists": False,
                "source": source,
            }
        return {
            "text": found.text,
            "start": found.start,
            "offset": found.offset,
            "size": found.size,
            "finished": finished,
            "exists": True,
            "source": source,
        }

    def artifact(self, request: Request) -> dict[str, Any]:
        av = self.store.get_artifact_version_by_id(request.path_params["av_id"])
        versions, total = lineage.artifact_versions_of(
            self.engine, av.artifact_id, page=_int(request, "page", 1, high=1_000_000)
        )
        producer = None
        if av.producer_step_run_id:
            try:
                p = self._step_record(av.producer_step_run_id)
                producer = {"id": p.id, "name": p.name, "run_id": p.run_id, "status": p.status}
            except KeyError:
                producer = None
        count, refs = lineage.consumers(self.engine, [av.id]).get(av.id, (0, []))
        return {
            "version": self.version_json(av),
            "versions": [self.version_json(v) for v in versions],
            "version_total": total,
            "producer": producer,
            "consumers": [r.to_dict() for r in refs],
            "consumer_total": count,
            "preview": previews.preview(av, self.root),
        }

    def image(self, request: Request) -> Response:
        av = self.store.get_artifact_version_by_id(request.path_params["av_id"])
        if av.inline_payload is not None:
            mime = previews.image_type(av.inline_payload[:16])
            if mime:
                return Response(av.inline_payload, media_type=mime)
            raise DoesNotExistError(f"Artifact version {av.id} holds no image.")
        try:
            files = previews.artifact_files(self.root, av.uri)
        except previews.OutsideStore:
            raise BadRequest("the artifact is recorded outside the artifact store") from None
        for path in files:
            if path.name == "array.npy":
                return Response(previews.numpy_png(path), media_type="image/png")
            with open(path, "rb") as handle:
                mime = previews.image_type(handle.read(16))
            if mime:
                return FileResponse(path, media_type=mime)
        raise DoesNotExistError(f"Artifact version {av.id} holds no image.")

    def download(self, request: Request) -> Response:
        av = self.store.get_artifact_version_by_id(request.path_params["av_id"])
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{av.name}-v{av.version}")
        if av.inline_payload is not None:
            # An inline value downloads as the one file it would have been stored as.
            for name, payload in inline_files(av.materializer, av.inline_payload).items():
                return Response(
                    payload,
                    media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{stem}-{name}"'},
                )
        try:
            files = previews.artifact_files(self.root, av.uri)
            base = previews.inside(self.root, av.uri)
        except previews.OutsideStore:
            raise BadRequest("the artifact is recorded outside the artifact store") from None
        if not files:
            raise DoesNotExistError(f"The files of artifact version {av.id} are missing.")
        if len(files) == 1 and base.is_dir():
            return FileResponse(files[0], filename=f"{stem}-{files[0].name}")
        if base.is_file():
            return FileResponse(base, filename=f"{stem}-{base.name}")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, str(path.relative_to(base)))
        return Response(
            buffer.getvalue(),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{stem}.zip"'},
        )


def _json_route(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:  # the reads block, so they run on a worker thread, not the event loop
            result = await run_in_threadpool(handler, request)
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except (KeyError, DoesNotExistError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            return JSONResponse({"error": str(message)}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    return endpoint


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def _security_headers(app: Any) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        if scope["type"] == "http":
            await app(scope, receive, send_with_headers)
        else:
            await app(scope, receive, send)

    return wrapped


def create_app(settings: Settings | None = None, *, allowed_hosts: list[str] | None = None) -> Any:
    """The dashboard as an ASGI application over the store in `settings` (default: the
    environment's). `allowed_hosts` restricts the Host header (None: any)."""
    board = Dashboard(settings or load_settings())
    api = [
        Route("/api/pipelines", _json_route(board.pipelines)),
        Route("/api/runs", _json_route(board.runs)),
        Route("/api/runs/{run_id}", _json_route(board.run)),
        Route("/api/runs/{run_id}/changes", _json_route(board.changes)),
        Route("/api/runs/{run_id}/timeline", _json_route(board.timeline)),
        Route("/api/runs/{run_id}/groups/{group:path}/branches", _json_route(board.branches)),
        Route("/api/steps/{step_id}", _json_route(board.step)),
        Route("/api/steps/{step_id}/logs", _json_route(board.logs)),
        Route("/api/artifacts/{av_id}", _json_route(board.artifact)),
        Route("/api/artifacts/{av_id}/image", _json_route(board.image)),
        Route("/api/artifacts/{av_id}/download", _json_route(board.download)),
        Route("/", _index),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = []
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(routes=api, middleware=middleware)
    app.state.dashboard = board
    return _security_headers(app)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Run the dashboard until interrupted (blocking). Binds loopback by default; any other
    address exposes every run, log and artifact preview to whoever can reach it, so say so."""
    import uvicorn

    loopback = is_loopback(host)
    if not loopback:
        print(
            f"WARNING: serving the fanflow dashboard on {host}, not 127.0.0.1: anyone who can "
            "reach this address can read every run, log and artifact in this store. It has no "
            "login; put it behind an authenticating proxy or bind 127.0.0.1.",
            file=sys.stderr,
        )
    app = create_app(allowed_hosts=[*LOOPBACK_HOSTS] if loopback else None)
    warm_up(app)
    shown = f"[{host}]" if ":" in host else host
    print(f"fanflow dashboard: http://{shown}:{port}/  (Ctrl-C to stop)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning")
