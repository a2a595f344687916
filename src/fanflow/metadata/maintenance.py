"""Explicit repairs of the metadata store; reads never repair.

`repair_dead_runs(store)` records every run whose orchestrator died (see `liveness.py`) as
failed, with its running steps. The next run that starts in a home calls it, `resume()` repairs
the run it resumes, and an operator may call it at any time:

    from fanflow.config import load_settings
    from fanflow.metadata.maintenance import repair_dead_runs
    from fanflow.metadata.store import MetadataStore
    repair_dead_runs(MetadataStore(load_settings().metadata_url))
"""

from __future__ import annotations

from datetime import datetime

from fanflow.metadata.liveness import orphan_end_time, orphan_reason, run_is_orphaned
from fanflow.metadata.records import RunRecord
from fanflow.metadata.store import MetadataStore


def repair_run(store: MetadataStore, record: RunRecord, now: datetime | None = None) -> bool:
    """Record `record` as failed if its orchestrator died; True when this call changed it."""
    if not run_is_orphaned(record, now):
        return False
    return store.mark_orphaned(record.id, orphan_reason(record), orphan_end_time(record))


def repair_dead_runs(store: MetadataStore, now: datetime | None = None) -> list[str]:
    """Record every orphaned run as failed; returns the names of the runs this call repaired."""
    return [record.name for record in store.running_runs() if repair_run(store, record, now)]
