"""`fanflow pipelines list`, `fanflow runs list` and `fanflow runs show`.

`runs show` prints one row per plain step and one per map group (counts by status, median and
longest duration), never one row per branch: a 100,000-branch map is one line. `--expand GROUP`
pages through a group's branches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from fanflow.cli.lookup import find_run
from fanflow.cli.output import human_seconds, print_json, print_table, when

if TYPE_CHECKING:
    from fanflow.cli.session import Session
    from fanflow.client import PipelineRunView
    from fanflow.metadata.run_groups import BranchRow, GroupSummary

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
        click.echo(f"({len(runs)} of {page.total} runs; --limit shows more)", err=True)


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


def group_label(group: GroupSummary) -> str:
    if group.map_group is not None:
        return f"{group.key} \u00d7{group.total}"  # the multiplication sign
    return group.key


def group_detail(group: GroupSummary) -> str:
    """`998 completed, 2 failed, p50 0.4 s, max 3.1 s` for a map group; the duration for a step."""
    if group.map_group is None:
        return human_seconds(group.max_s) if group.max_s is not None else ""
    parts = [f"{n} {status}" for status, n in group.counts.items()]
    if group.p50_s is not None:
        parts.append(f"p50 {human_seconds(group.p50_s)}")
    if group.max_s is not None:
        parts.append(f"max {human_seconds(group.max_s)}")
    return ", ".join(parts)


def group_line(group: GroupSummary) -> str:
    """The one-line form: `map:process x1000 — 998 completed, 2 failed, p50 0.4 s, max 3.1 s`."""
    detail = group_detail(group)
    if group.map_group is None:
        detail = ", ".join(p for p in (group.status, detail) if p)
    return f"{group_label(group)} — {detail}"


def _group_dict(group: GroupSummary) -> dict[str, Any]:
    return {
        "key": group.key,
        "map_group": group.map_group,
        "step_name": group.step_name,
        "status": group.status,
        "total": group.total,
        "counts": group.counts,
        "p50_s": group.p50_s,
        "max_s": group.max_s,
        "start_time": group.started,
        "end_time": group.ended,
        "first_error_step": group.first_error_step,
        "first_error": group.first_error,
    }


def show_run(
    session: Session,
    ident: str,
    expand: str | None,
    page: int,
    size: int,
    status: str | None,
    as_json: bool,
) -> None:
    from fanflow.metadata.run_groups import group_summaries

    run = find_run(session, ident)
    groups = group_summaries(session.store, run.id.hex)
    if expand is not None:
        _show_branches(session, run, groups, expand, page, size, status, as_json)
        return
    if as_json:
        print_json({"run": run_dict(run), "steps": [_group_dict(g) for g in groups]})
        return
    origin = f", resumed from {run.original_run_id.hex[:8]}" if run.original_run_id else ""
    click.echo(
        f"Run {run.name} ({run.pipeline_name or 'unlisted'}): {run.status}, started "
        f"{when(run.start_time)}, {human_seconds(run.duration)}{origin}"
    )
    rows = []
    for group in groups:
        error = ""
        if group.first_error:
            where = f"[{group.first_error_step}] " if group.map_group is not None else ""
            error = where + first_lines(group.first_error)
        cached = group.counts.get("cached", 0)
        rows.append(
            [
                group_label(group),
                group.status,
                group_detail(group)
                if group.map_group is not None
                else (human_seconds(group.max_s) if group.max_s is not None else "-"),
                str(cached) if group.map_group is not None else ("yes" if cached else ""),
                error,
            ]
        )
    print_table(["STEP", "STATUS", "DURATION / BRANCHES", "CACHED", "ERROR"], rows)
    if run.exception and not any(g.first_error for g in groups):
        click.echo(f"Run error: {first_lines(run.exception)}")


def _show_branches(
    session: Session,
    run: PipelineRunView,
    groups: list[GroupSummary],
    expand: str,
    page: int,
    size: int,
    status: str | None,
    as_json: bool,
) -> None:
    from fanflow.cli.lookup import suggest
    from fanflow.metadata.run_groups import branch_page

    wanted = expand.removeprefix("map:")
    group = next((g for g in groups if g.map_group == wanted), None)
    if group is None:
        names = [g.key for g in groups if g.map_group is not None]
        hint = suggest(expand, names) if names else " It has no map groups."
        raise click.ClickException(f"Run {run.name!r} has no map group {expand!r}.{hint}")
    assert group.map_group is not None
    branches, total = branch_page(
        session.store, run.id.hex, group.map_group, page=page, size=size, status=status
    )
    pages = max(1, -(-total // size))
    if as_json:
        print_json(
            {
                "run": run.name,
                "group": _group_dict(group),
                "page": page,
                "size": size,
                "total": total,
                "branches": [_branch_dict(b) for b in branches],
            }
        )
        return
    click.echo(group_line(group))
    print_table(
        ["INDEX", "STEP", "STATUS", "DURATION", "ERROR"],
        [_branch_row(b) for b in branches],
    )
    click.echo(
        f"page {page} of {pages} ({total} branches{f' {status}' if status else ''}; "
        "--page N for more)",
        err=True,
    )


def _branch_row(branch: BranchRow) -> list[str]:
    return [
        "-" if branch.map_index is None else str(branch.map_index),
        branch.name,
        branch.status,
        human_seconds(branch.duration_s),
        first_lines(branch.exception, 1),
    ]


def _branch_dict(branch: BranchRow) -> dict[str, Any]:
    return {
        "name": branch.name,
        "map_index": branch.map_index,
        "status": branch.status,
        "start_time": branch.start_time,
        "end_time": branch.end_time,
        "duration_s": branch.duration_s,
        "exception": branch.exception,
    }
