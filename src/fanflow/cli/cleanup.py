"""`fanflow runs delete` and `fanflow gc`: freeing space without losing what other runs use."""

from __future__ import annotations

import re
from datetime import timedelta, timezone
from typing import TYPE_CHECKING

import click

from fanflow.cli.lookup import find_run
from fanflow.cli.output import human_bytes, note, print_json

if TYPE_CHECKING:
    from fanflow.cli.session import Session

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`, `45s` -> a timedelta."""
    match = _AGE.match(text.lower())
    if match is None:
        raise click.BadParameter(
            f"{text!r} is not an age; use a number and a unit: 30d, 12h, 90m, 2w or 45s.",
            param_hint="--older-than",
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _select_runs(
    session: Session, idents: tuple[str, ...], older_than: str | None, pipeline: str | None
) -> list[tuple[str, str, str]]:
    """(id, name, status) of the runs named, or matching the filters (all must hold)."""
    from fanflow.cli.runs import _check_pipeline
    from fanflow.ids import utcnow
    from fanflow.metadata.maintenance import runs_matching

    if not idents and older_than is None and pipeline is None:
        raise click.UsageError(
            "Name the runs to delete, or select them with --older-than/--pipeline."
        )
    cutoff = utcnow() - parse_age(older_than) if older_than is not None else None
    pipeline_id = pipeline_name = None
    if pipeline is not None:
        _check_pipeline(session, pipeline)
        found = session.client.get_pipeline(pipeline)
        pipeline_id, pipeline_name = found.id.hex, found.name
    chosen = []
    if idents:
        for ident in idents:
            run = find_run(session, ident)
            if cutoff is not None and run.created >= cutoff:
                continue
            if pipeline_name is not None and run.pipeline_name != pipeline_name:
                continue
            chosen.append(run)
    else:
        client = session.client
        chosen = [
            client.get_pipeline_run(run_id)
            for run_id in runs_matching(
                session.store, pipeline_id=pipeline_id, created_before=cutoff
            )
        ]
    unique = {run.id.hex: run for run in chosen}
    return [(run_id, run.name, str(run.status)) for run_id, run in unique.items()]


def delete_runs(
    session: Session,
    idents: tuple[str, ...],
    older_than: str | None,
    pipeline: str | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    from fanflow.artifacts.maintenance import path_size, remove_paths
    from fanflow.metadata.maintenance import delete_runs as delete_records

    selected = _select_runs(session, idents, older_than, pipeline)
    running = [name for _, name, status in selected if status == "running"]
    if running:
        raise click.ClickException(
            f"Cannot delete running run(s): {', '.join(running)}. Stop them first "
            "(`fanflow runs stop RUN`)."
        )
    if not selected:
        note("No run matches; nothing deleted.")
        if as_json:
            print_json({"runs": [], "artifact_versions": 0, "bytes_freed": 0, "dry_run": dry_run})
        return
    names = [name for _, name, _ in selected]
    if not (yes or dry_run):
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        click.confirm(f"Delete {len(names)} run(s): {shown}?", abort=True, err=True)
    plan = delete_records(session.store, [run_id for run_id, _, _ in selected], dry_run=dry_run)
    root = session.artifact_store.root
    files = plan.released_uris + plan.log_uris
    if dry_run:
        freed = sum(path_size(path) for path in files)
    else:
        freed = remove_paths(root, [p for p in files if p.startswith(root)]).bytes
    summary = {
        "runs": names,
        "step_runs": plan.step_runs,
        "artifact_versions": plan.artifact_versions,
        "kept_artifact_versions": plan.kept_artifact_versions,
        "bytes_freed": freed,
        "dry_run": dry_run,
    }
    if as_json:
        print_json(summary)
        return
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {len(names)} run(s), {plan.step_runs} step run(s) and "
        f"{plan.artifact_versions} artifact version(s); "
        f"{'would free' if dry_run else 'freed'} {human_bytes(freed)} ({freed} bytes)."
    )
    if plan.kept_artifact_versions:
        click.echo(
            f"Kept {plan.kept_artifact_versions} artifact version(s) that other runs still use."
        )


def collect_garbage(session: Session, dry_run: bool, as_json: bool) -> None:
    from fanflow.artifacts.maintenance import remove_paths, unreferenced
    from fanflow.metadata.maintenance import referenced_uris

    store = session.artifact_store
    running = session.client.list_pipeline_runs(
        status="running", size=10_000, sort_by="asc:created"
    )
    newer_than = None
    if running.items:  # a running step publishes files before they are recorded: keep those
        oldest = min(run.created for run in running)
        newer_than = oldest.replace(tzinfo=timezone.utc).timestamp() - 60
    found = unreferenced(store.root, referenced_uris(session.store), newer_than)
    freed = found.bytes if dry_run else remove_paths(store.root, found.paths).bytes
    sweep = getattr(store, "sweep_staging", None)
    if sweep is not None and not dry_run:
        sweep()
    if as_json:
        print_json({"paths": found.paths, "bytes_freed": freed, "dry_run": dry_run})
        return
    for path in found.paths:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    verb = "Would free" if dry_run else "Freed"
    click.echo(f"{verb} {human_bytes(freed)} ({freed} bytes) in {len(found.paths)} path(s).")
    if running.items:
        note(f"{len(running.items)} run(s) are running; files newer than the oldest were kept.")
