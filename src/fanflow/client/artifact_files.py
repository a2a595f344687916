"""An artifact version's files, without materializing it: `download_files` and `visualize`.

`download_files(path)` writes every file of the version into a `.zip` (ZenML's format), read
through the artifact store: a local folder, or an fsspec store (each file verified against the
manifest while downloading). Files are stored under their path relative to the artifact's
folder; fanflow's own bookkeeping (the manifest) is left out. The zip is written to a temporary
name and renamed into place, so `path` never holds half an archive.

`visualize()` shows what the materializer's `save_visualizations` recorded (see
`fanflow.artifacts.visualizations`). In a Jupyter notebook it displays them with IPython as ZenML
does (HTML, Markdown, images, CSV as a table). Anywhere else ZenML raises; fanflow prints them
instead: text kinds (HTML, Markdown, CSV, JSON) are printed as text under a header line, and an
image is copied to a temporary file whose path is printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fanflow.artifacts.items import ITEM_MATERIALIZER
from fanflow.artifacts.preexisting_data_materializer import PreexistingDataMaterializer
from fanflow.artifacts.store import ArtifactStore
from fanflow.artifacts.visualizations import INDEX_NAME, Visualization, read_index
from fanflow.enums import VisualizationType
from fanflow.metadata.records import ArtifactVersionRecord

_BOOKKEEPING = frozenset({".fanflow-manifest.json"})


@dataclass(frozen=True)
class ArtifactVisualization:
    """One visualization of an artifact version (ZenML's `ArtifactVisualizationResponse`)."""

    type: VisualizationType
    uri: str


@contextmanager
def _local_files(record: ArtifactVersionRecord, store: ArtifactStore) -> Iterator[str]:
    """A local folder holding the version's files (a registered single file: a folder with it)."""
    if record.materializer == PreexistingDataMaterializer.NAME:
        loaded = PreexistingDataMaterializer(record.uri, artifact_store=store).load(object)
        holder = os.path.dirname(str(loaded))
        try:
            yield str(loaded) if os.path.isdir(loaded) else holder
        finally:
            shutil.rmtree(holder, ignore_errors=True)
        return
    if record.materializer == ITEM_MATERIALIZER:
        raise ValueError(
            f"Artifact version {record.name!r} ({record.version}) is one item of a list "
            "artifact and has no files of its own; download the list it was taken from."
        )
    with store.local_copy(record.uri) as folder:
        yield folder


def _files(folder: str) -> list[tuple[str, str]]:
    found = []
    for current, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(current, name)
            relative = os.path.relpath(full, folder).replace(os.sep, "/")
            if relative not in _BOOKKEEPING:
                found.append((relative, full))
    return found


def download_files(
    record: ArtifactVersionRecord, store: ArtifactStore, path: str, overwrite: bool = False
) -> None:
    """Write the version's files into the zip file `path` (ZenML's `download_files`)."""
    path = os.fspath(path)
    if not path.endswith(".zip"):
        raise ValueError("The path should end with '.zip' to save the binary data.")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"File '{path}' already exists and `overwrite` is set to `False`.")
    target_dir = os.path.dirname(os.path.abspath(path))
    with _local_files(record, store) as folder:
        handle, partial = tempfile.mkstemp(prefix=".fanflow-download-", dir=target_dir)
        os.close(handle)
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                for relative, full in _files(folder):
                    archive.write(full, arcname=relative)
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(partial)
            raise


@contextmanager
def _visualization_files(record: ArtifactVersionRecord, store: ArtifactStore) -> Iterator[str]:
    """A local folder holding the version's visualization index and files (no other file).

    On an fsspec store only those files are downloaded, each verified against the manifest,
    so showing a report never downloads the model it describes.
    """
    read_manifest = getattr(store, "read_manifest", None)
    if read_manifest is None or "://" not in record.uri or record.uri.startswith("file://"):
        with store.local_copy(record.uri) as folder:
            yield folder
        return
    manifest = read_manifest(record.uri)
    entries = {str(entry["path"]): entry for entry in manifest["files"]}
    base = str(store._path(record.uri)).rstrip("/")  # type: ignore[attr-defined]
    folder = tempfile.mkdtemp(prefix="fanflow-visualizations-")
    try:
        if INDEX_NAME in entries:
            fetch = store._download_verified  # type: ignore[attr-defined]
            fetch(record.uri, f"{base}/{INDEX_NAME}", entries[INDEX_NAME], folder)
            for visualization in read_index(folder):
                entry = entries.get(visualization.path)
                if entry is not None:
                    fetch(record.uri, f"{base}/{visualization.path}", entry, folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def visualizations(record: ArtifactVersionRecord, store: ArtifactStore) -> list[Any]:
    """The version's recorded visualizations (none for registered data or map items)."""
    if record.materializer in (PreexistingDataMaterializer.NAME, ITEM_MATERIALIZER):
        return []
    with _visualization_files(record, store) as folder:
        index = read_index(folder)
    base = record.uri.rstrip("/")
    sep = "/" if "://" in base else os.sep
    return [ArtifactVisualization(v.type, base + sep + v.path.replace("/", sep)) for v in index]


def _loaded(record: ArtifactVersionRecord, store: ArtifactStore) -> list[tuple[Visualization, Any]]:
    if record.materializer in (PreexistingDataMaterializer.NAME, ITEM_MATERIALIZER):
        return []
    found = []
    with _visualization_files(record, store) as folder:
        for visualization in read_index(folder):
            file = os.path.join(folder, *visualization.path.split("/"))
            if visualization.type == VisualizationType.IMAGE:
                suffix = os.path.splitext(file)[1] or ".png"
                handle, copy = tempfile.mkstemp(prefix="fanflow-visualization-", suffix=suffix)
                os.close(handle)
                shutil.copyfile(file, copy)
                found.append((visualization, copy))
            else:
                with open(file, encoding="utf-8", errors="replace") as text:
                    found.append((visualization, text.read()))
    return found


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def visualize(record: ArtifactVersionRecord, store: ArtifactStore, title: str | None) -> None:
    """Show the version's visualizations: IPython display in a notebook, printed elsewhere."""
    shown = _loaded(record, store)
    label = f"artifact {record.name!r} version {record.version}"
    if in_notebook():  # pragma: no cover - needs a Jupyter kernel
        _display(shown, title)
        return
    if title:
        print(f"### {title}")
    if not shown:
        print(f"{label} has no visualizations.")
        return
    for number, (visualization, value) in enumerate(shown, start=1):
        kind = visualization.type.value
        if visualization.type == VisualizationType.IMAGE:
            print(f"--- visualization {number}/{len(shown)} of {label} ({kind}): {value}")
        else:
            print(f"--- visualization {number}/{len(shown)} of {label} ({kind}) ---")
            print(value)


def _display(shown: list[tuple[Visualization, Any]], title: str | None) -> None:  # pragma: no cover
    from IPython.display import HTML, Image, Markdown, display

    if title:
        display(Markdown(f"### {title}"))
    for visualization, value in shown:
        if visualization.type == VisualizationType.IMAGE:
            display(Image(filename=value))
        elif visualization.type == VisualizationType.HTML:
            display(HTML(value))
        elif visualization.type == VisualizationType.MARKDOWN:
            display(Markdown(value))
        elif visualization.type == VisualizationType.CSV:
            rows = "".join(
                "<tr>" + "".join(f"<td>{cell}</td>" for cell in row.split(",")) + "</tr>"
                for row in value.splitlines()
                if row
            )
            display(HTML(f"<table>{rows}</table>"))
        else:
            display(value)


__all__ = [
    "INDEX_NAME",
    "ArtifactVisualization",
    "download_files",
    "in_notebook",
    "visualizations",
    "visualize",
]
