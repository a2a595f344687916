"""`fanflow artifacts list/show/get`.

`show` previews a value by loading it only when its stored size is small (`PREVIEW_MAX_BYTES`);
`get` copies the stored files (the artifact's folder, or its one file) and never runs a
materializer, except for a per-branch item of a mapped list, which has no files of its own and is
written as JSON.
"""

from __future__ import annotations

import json
import os
import reprlib
import shutil
from typing import TYPE_CHECKING, Any

import click

from fanflow.artifacts.io import inline_files
from fanflow.cli.lookup import find_artifact
from fanflow.cli.output import human_bytes, note, print_json, print_table, when

if TYPE_CHECKING:
    from fanflow.cli.session import Session
    from fanflow.client import ArtifactVersionView

PREVIEW_MAX_BYTES = 50 * 1024 * 1024
PREVIEW_CHARS = 600
ITEM_MATERIALIZER_SAVE_TYPE = "item"


def list_artifacts(
    session: Session, name: str | None, limit: int, items: bool, as_json: bool
) -> None:
    if name is None:
        from fanflow.metadata.artifact_listing import artifact_summaries

        rows, total = artifact_summaries(session.store, size=limit, include_items=items)
        if as_json:
            print_json(
                [
                    {
                        "name": r.name,
                        "versions": r.versions,
                        "latest_version": r.latest_version,
                        "last_saved": r.last_saved,
                    }
                    for r in rows
                ]
            )
            return
        print_table(
            ["ARTIFACT", "VERSIONS", "LATEST", "LAST SAVED"],
            [[r.name, str(r.versions), r.latest_version or "-", when(r.last_saved)] for r in rows],
        )
        if total > len(rows):
            note(f"({len(rows)} of {total} artifacts; --limit shows more)")
        return
    find_artifact(session, name)  # a clear error (with suggestions) for an unknown name
    page = session.client.list_artifact_versions(name=name, size=limit)
    versions = list(page)
    if as_json:
        print_json([version_dict(v) for v in versions])
        return
    print_table(
        ["VERSION", "TYPE", "SIZE", "PRODUCER", "CREATED"],
        [
            [v.version, v.data_type, human_bytes(v.size), _producer_text(v), when(v.created)]
            for v in versions
        ],
        title=name,
    )
    if page.total > len(versions):
        note(f"({len(versions)} of {page.total} versions; --limit shows more)")


def _producer_text(version: ArtifactVersionView) -> str:
    step = version.producer_step
    if step is None:
        run = version.run if version.producer_pipeline_run_id is not None else None
        if run is not None:
            return f"{run.name} (an item of a mapped list)"
        return "manual" if version.save_type == "manual" else "-"
    return f"{step.pipeline_run.name} / {step.name}"


def version_dict(version: ArtifactVersionView) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "id": version.id.hex,
        "type": version.type,
        "data_type": version.data_type,
        "materializer": version.materializer,
        "size": version.size,
        "content_hash": version.content_hash,
        "save_type": version.save_type,
        "uri": version.uri,
        "inline": version.is_inline,
        "created": version.created,
        "producer_run_id": version.producer_pipeline_run_id.hex
        if version.producer_pipeline_run_id
        else None,
        "producer_step_run_id": version.producer_step_run_id.hex
        if version.producer_step_run_id
        else None,
        "run_metadata": version.run_metadata,
    }


def preview(version: ArtifactVersionView) -> str:
    """A short text picture of the value (shape and dtype for arrays, a head for tables)."""
    if version.size is not None and version.size > PREVIEW_MAX_BYTES:
        return f"(not loaded: {human_bytes(version.size)} is too large to preview)"
    try:
        value = version.load()
    except Exception as exc:
        return f"(cannot load: {type(exc).__name__}: {exc})"
    shape = getattr(value, "shape", None)
    head = getattr(value, "head", None)
    if shape is not None and callable(head):  # pandas
        text = f"shape {tuple(shape)}\n{head(5)}"
    elif shape is not None and hasattr(value, "dtype"):  # numpy
        text = f"shape {tuple(shape)}, dtype {value.dtype}\n{reprlib.repr(value)}"
    else:
        limits = reprlib.Repr()
        limits.maxstring = limits.maxother = PREVIEW_CHARS
        limits.maxlist = limits.maxtuple = limits.maxdict = limits.maxset = 20
        text = limits.repr(value)
    return text if len(text) <= PREVIEW_CHARS * 2 else text[: PREVIEW_CHARS * 2] + " …"


def show_artifact(session: Session, address: str, as_json: bool) -> None:
    from fanflow.metadata.artifact_listing import artifact_consumers

    version = find_artifact(session, address)
    producer = version.producer_step
    consumers = artifact_consumers(session.store, version.id.hex)
    data = {
        **version_dict(version),
        "producer": None
        if producer is None
        else {
            "run": producer.pipeline_run.name,
            "step": producer.name,
        },
        "consumers": [
            {"run": use.run_name, "step": use.step_name, "as": use.role, "input": use.input_name}
            for use in consumers
        ],
        "preview": preview(version),
    }
    if as_json:
        print_json(data)
        return
    rows = [
        ["name", version.name],
        ["version", str(version.version)],
        ["id", version.id.hex],
        ["type", f"{version.data_type} ({version.type})"],
        ["materializer", version.materializer],
        ["size", f"{human_bytes(version.size)}"],
        ["created", when(version.created)],
        ["uri", version.uri],
        ["producer", _producer_text(version)],
    ]
    for use in consumers:
        what = f"input {use.input_name!r}" if use.role == "input" else "cached output"
        rows.append(["consumer", f"{use.run_name} / {use.step_name} ({what})"])
    if not consumers:
        rows.append(["consumers", "none"])
    print_table(["FIELD", "VALUE"], rows)
    click.echo("preview:")
    click.echo(data["preview"])


def get_artifact(session: Session, address: str, path: str, force: bool) -> None:
    version = find_artifact(session, address)
    if os.path.lexists(path):
        if not force:
            raise click.ClickException(f"{path} exists; choose another path or pass --force.")
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if version.save_type == ITEM_MATERIALIZER_SAVE_TYPE:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(version.load(), handle, default=repr)
            handle.write("\n")
        note(f"Wrote item {version.name} (version {version.version}) as JSON to {path}.")
        return
    inline = version._record.inline_payload
    if inline is not None:
        # A small value recorded inline: written as the one file it would have been stored as.
        what = next(iter(inline_files(version.materializer, inline)), "value")
        with open(path, "wb") as handle:
            handle.write(inline)
        note(f"Copied {version.name} version {version.version} ({what}) to {path}.")
        return
    source = version.uri
    if not os.path.isdir(source):
        raise click.ClickException(
            f"The files of {version.name} version {version.version} are missing from the "
            f"artifact store ({source})."
        )
    files = [f for f in os.listdir(source) if not f.startswith(".")]
    if len(files) == 1 and os.path.isfile(os.path.join(source, files[0])):
        shutil.copyfile(os.path.join(source, files[0]), path)
        what = files[0]
    else:
        shutil.copytree(source, path)
        what = f"{len(files)} files"
    note(f"Copied {version.name} version {version.version} ({what}) to {path}.")
