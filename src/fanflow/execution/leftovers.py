"""Cleaning up what a crashed run left in the artifact store, when the next run starts.

A writer killed mid-save leaves a staging folder; an orchestrator killed between a step
publishing its outputs and recording them leaves artifact folders that no record points to.
Both are removed when the next run in that home starts, never a live run's files:

- staging folders carry their writer's `host.pid`; those whose process on this host has ended
  go at once (others, from other hosts, after an hour);
- each run marks itself in the store while it runs (`.runs/host.pid.run_id`). Only when a mark
  is left by a process that has ended, i.e. after a crash, are the artifact folders listed and
  compared with the recorded URIs (so a normal start costs two small directory listings); a
  folder is removed only if no record points to it and it was last written before the earliest
  start of any run that may still be live (and a moment ago, for `save_artifact` calls
  between publishing and recording).

Only stores that keep such marks (the local folder store) are swept here; a remote store sweeps
its own unpublished uploads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

from fanflow.metadata.store import MetadataStore

logger = logging.getLogger("fanflow")

# A published folder younger than this may belong to a save_artifact call about to record it.
RECENT_SAVE_GRACE_S = 5.0


def start_of_run(artifact_store: Any, metadata: MetadataStore, run_id: str) -> None:
    """Sweep leftovers, then mark `run_id` as live in the store (see the module docstring)."""
    with contextlib.suppress(OSError):
        sweep = getattr(artifact_store, "sweep_staging", None)
        if sweep is not None:
            sweep()
    if not hasattr(artifact_store, "run_marks"):
        return
    with contextlib.suppress(OSError):
        removed = sweep_unrecorded(artifact_store, metadata)
        if removed:
            logger.info("Removed %d artifact folder(s) left unrecorded by a crashed run.", removed)
    with contextlib.suppress(OSError):
        artifact_store.mark_run(run_id)


def end_of_run(artifact_store: Any, run_id: str) -> None:
    unmark = getattr(artifact_store, "unmark_run", None)
    if unmark is not None:
        with contextlib.suppress(OSError):
            unmark(run_id)


def sweep_unrecorded(artifact_store: Any, metadata: MetadataStore) -> int:
    """After a crash: remove artifact folders no record points to; returns how many."""
    crashed, live_since = artifact_store.run_marks()
    if not crashed:
        return 0
    written_before = time.time() - RECENT_SAVE_GRACE_S
    if live_since is not None:
        written_before = min(written_before, live_since)
    candidates = artifact_store.artifact_folders(written_before)
    recorded = metadata.recorded_uris(candidates)
    removed = 0
    for uri in candidates:
        if uri not in recorded:
            artifact_store.remove_artifact(uri)
            removed += 1
    for mark in crashed:
        with contextlib.suppress(FileNotFoundError):
            os.remove(mark)
    return removed
