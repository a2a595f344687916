"""Artifact visualizations: what a materializer's `save_visualizations` returned, kept with the
artifact.

ZenML records `{uri: VisualizationType}` in its server's database. fanflow keeps that list *in
the artifact*: a small index file (`INDEX_NAME`) written into the staging directory next to the
visualization files, so it is hashed, published and verified with them, on local and fsspec
stores alike, and no schema holds it.

Invariants:
- only files inside the artifact's own folder are recorded (as paths relative to it); a
  visualization written elsewhere is skipped with a warning, since it would not travel with the
  artifact;
- a failing `save_visualizations` never fails the step (ZenML logs a warning too);
- the index is written only when there is at least one visualization.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from fanflow.enums import VisualizationType

logger = logging.getLogger("fanflow")

INDEX_NAME = ".fanflow-visualizations.json"


@dataclass(frozen=True, slots=True)
class Visualization:
    """One recorded visualization: its file, relative to the artifact's folder, and its type."""

    path: str
    type: VisualizationType


def record_visualizations(materializer: Any, value: Any, folder: str) -> None:
    """Ask the materializer for its visualizations and index those inside `folder`."""
    try:
        produced = materializer.save_visualizations(value) or {}
    except Exception as exc:  # a visualization is never worth a failed step
        logger.warning("Failed to save artifact visualizations: %s", exc)
        return
    entries = []
    root = os.path.realpath(folder)
    for uri, kind in dict(produced).items():
        real = os.path.realpath(str(uri))
        if not real.startswith(root + os.sep) or not os.path.isfile(real):
            logger.warning(
                "Skipping the visualization %r of %s: it is not a file inside the artifact's "
                "folder (%s), so it would not be stored with the artifact.",
                str(uri),
                type(materializer).__qualname__,
                folder,
            )
            continue
        try:
            kind = VisualizationType(kind)
        except ValueError:
            logger.warning("Skipping the visualization %r: unknown type %r.", str(uri), kind)
            continue
        relative = os.path.relpath(real, root).replace(os.sep, "/")
        entries.append({"path": relative, "type": kind.value})
    if entries:
        with open(os.path.join(folder, INDEX_NAME), "w", encoding="utf-8") as handle:
            json.dump({"format": 1, "visualizations": entries}, handle, sort_keys=True)


def read_index(folder: str) -> list[Visualization]:
    """The visualizations recorded in a (local copy of an) artifact's folder."""
    try:
        with open(os.path.join(folder, INDEX_NAME), encoding="utf-8") as handle:
            raw = json.load(handle)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in raw.get("visualizations", []):
        relative = str(entry["path"])
        if relative.startswith("/") or ".." in relative.split("/"):
            continue  # never read outside the artifact
        found.append(Visualization(relative, VisualizationType(entry["type"])))
    return found
