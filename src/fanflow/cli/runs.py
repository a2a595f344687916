"""`fanflow pipelines list`, `fanflow runs list` and `fanflow runs show`.

`runs show` prints one row per plain step and one per map group (counts by status, median and
longest duration), never one row per branch: a 100,000-branch map is one line. `--expand GROUP`
pages through a group's branches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from fanflow.cli.lookup import find_run
from fanflow.cli.output import human_seconds, note, print_json, print_table, when

if TYPE_CHECKING:
    from fanflow.cli.session import Session
    from fanflow.client import PipelineRunView
    from fanflow.metadata.summaries import NodeSummary

ERROR_LINES = 3


def list_pipelines(session: Session, as_json: bool) -> None:
    client = session.client
    page = client.list_pipelines(size=10_000)
    rows = []
    for pipeline in page:
        runs = client.list_pipeline_runs(pipeline_id=pipeline.id, size=1)
        last = runs.items[0] if runs.items else None
        rows.append(
            {
                "name": pipeline.name,
                "id": pipeline.id.hex,
                "created": pipeline.created,
                "runs": runs.total,
                "last_run": last.name if last else None,
                "last_status": str(last.status) if last else None,
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        ["PIPELINE", "RUNS", "LAST RUN", "STATUS", "CREATED"],
        [
            [
                r["name"],
                str(r["runs"]),
                r["last_run"] or "-",
                r["last_status"] or "-",
                when(r["created"]),
            ]
            for r in rows
        ],
    )


def run_dict(run: PipelineRunView) -> dict[str, Any]:
    return {
        "name": run.name,
        "id": run.id.hex,
        "pipeline": run.pipeline_name,
        "status": str(run.status),
        "created": run.created,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_s": run.duration,
        "original_run_id": run.original_run_id.hex if run.original_run_id else None,
        "exception": run.exception,
    }


def list_runs(
    session: Session, pipeline: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    client = session.client
    if pipeline is not None:
        _check_pipeline(session, pipeline)
    page = client.list_pipeline_runs(pipeline=pipeline, status=status, size=limit)
    runs = [run_dict(run) for run in page]
    if as_json:
        print_json(runs)
        return
    print_table(
        ["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION"],
        [
            [
                r["name"],
                r["pipeline"] or "-",
                r["status"],
                when(r["start_time"]),
                human_seconds(r["duration_s"]),
            ]
            for r in runs
        ],
    )
    if page.total > len(runs):
        note(f"({len(runs)} of {page.total} runs; --limit shows more)")


def _check_pipeline(session: Session, name: str) -> None:
    from fanflow.cli.lookup import suggest
    from fanflow.exceptions import DoesNotExistError

    try:
        session.client.get_pipeline(name)
    except DoesNotExistError:
        names = [p.name for p in session.client.list_pipelines(size=10_000)]
        raise click.ClickException(f"No pipeline named {name!r}.{suggest(name, names)}") from None


def first_lines(text: str | None, count: int = ERROR_LINES) -> str:
    if not text:
        return ""
    lines = text.strip().splitlines()
    more = " …" if len(lines) > count else ""
    return "\n".join(lines[:count]) + more


def group_label(node: NodeSummary) -> str:
    if node.kind == "map":
        return f"{node.key} \u00d7{node.total}"  # the multiplication sign
    return node.key


def group_detail(node: NodeSummary) -> str:
    """`998 completed, 2 failed, p50 0.4 s, max 3.1 s` for a map group; the duration for a step."""
    if node.kind != "map":
        return human_seconds(node.max_duration) if node.max_duration is not None else "-"
    parts = [f"{n} {status}" for status, n in _by_weight(node.counts)]
    if node.p50_duration is not None:
        parts.append(f"p50 {human_seconds(node.p50_duration)}")
    if node.max_duration is not None:
        parts.append(f"max {human_seconds(node.max_duration)}")
    return ", ".join(parts)


_STATUS_ORDER = ("completed", "cached", "running", "failed", "stopped", "skipped")


def _by_weight(counts: dict[str, int]) -> list[tuple[str, int]]:
    rank = {status: i for i, status in enumerate(_STATUS_ORDER)}
    return sorted(counts.items(), key=lambda item: rank.get(item[0], len(rank)))


def group_line(node: NodeSummary) -> str:
    """The one-line form: `map:process x1000 — 998 completed, 2 failed, p50 0.4 s, max 3.1 s`."""
    detail = group_detail(node) if node.kind == "map" else f"{node.status}, {group_detail(node)}"
    return f"{group_label(node)} \u2014 {detail}"


def _error_text(run: PipelineRunView, node: NodeSummary) -> str:
    """A plain step's first error lines; a map group's first failed branch and its first line."""
    if not node.first_error:
        return ""
    if node.kind == "map":
        return f"[{node.first_error_step}] {node.first_error}"
    try:
        return first_lines(run.steps[node.key].exception) or node.first_error
    except KeyError:
        return node.first_error


def show_run(
    session: Session,
    ident: str,
    expand: str | None,
    page: int,
    size: int,
    status: str | None,
    as_json: bool,
) -> None:
    from fanflow.metadata.summaries import as_seen_nodes, node_summaries

    run = find_run(session, ident)
    # A run that ended (or whose orchestrator died) shows no running or waiting steps.
    nodes = as_seen_nodes(node_summaries(session.store.engine, run.id.hex), str(run.status))
    if expand is not None:
        _show_branches(session, run, nodes, expand, page, size, status, as_json)
        return
    if as_json:
        print_json({"run": run_dict(run), "steps": [node.to_dict() for node in nodes]})
        return
    origin = (
        f", resumed from {_run_name(session, run.original_run_id.hex)}"
        if (run.original_run_id)
        else ""
    )
    click.echo(
        f"Run {run.name} ({run.pipeline_name or 'unlisted'}): {run.status}, started "
        f"{when(run.start_time)}, {human_seconds(run.duration)}{origin}"
    )
    rows = [
        [
            group_label(node),
            node.status,
            group_detail(node),
            str(node.cached) if node.kind == "map" else ("yes" if node.cached else ""),
            _error_text(run, node),
        ]
        for node in nodes
    ]
    print_table(["STEP", "STATUS", "DURATION / BRANCHES", "CACHED", "ERROR"], rows)
    if run.exception and not any(node.first_error for node in nodes):
        click.echo(f"Run error: {first_lines(run.exception)}")


def _run_name(session: Session, run_id: str) -> str:
    from fanflow.exceptions import DoesNotExistError

    try:
        return session.client.get_pipeline_run(run_id).name
    except DoesNotExistError:
        return f"{run_id[:8]} (deleted)"


def _show_branches(
    session: Session,
    run: PipelineRunView,
    nodes: list[NodeSummary],
    expand: str,
    page: int,
    size: int,
    status: str | None,
    as_json: bool,
) -> None:
    from fanflow.cli.lookup import suggest
    from fanflow.metadata.summaries import list_branches

    wanted = expand.removeprefix("map:")
    node = next((n for n in nodes if n.kind == "map" and n.name == wanted), None)
    if node is None:
        names = [n.key for n in nodes if n.kind == "map"]
        hint = suggest(expand, names) if names else " It has no map groups."
        raise click.ClickException(f"Run {run.name!r} has no map group {expand!r}.{hint}")
    branches = list_branches(
        session.store.engine, run.id.hex, node.name, page=page, size=size, status=status
    )
    pages = max(1, -(-branches.total // size))
    if as_json:
        print_json({"run": run.name, "group": node.to_dict(), **branches.to_dict()})
        return
    click.echo(group_line(node))
    print_table(
        ["INDEX", "STEP", "STATUS", "DURATION", "ERROR"],
        [
            [
                "-" if b.map_index is None else str(b.map_index),
                b.name,
                b.status,
                human_seconds(b.duration),
                b.error or "",
            ]
            for b in branches.rows
        ],
    )
    note(
        f"page {page} of {pages} ({branches.total} branches{f' {status}' if status else ''}; "
        "--page N for more)"
    )
