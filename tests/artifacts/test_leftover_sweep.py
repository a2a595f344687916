"""Leftovers of a crashed run (staging folders, published but unrecorded artifact folders) are
removed when the next run in that home starts; a live run's files are never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fanflow import pipeline, step

# What a process leaves behind when it dies between publishing an output and recording it, and
# in the middle of writing another: a run mark, a published folder, a staging folder. The
# process then ends (killed: no cleanup) or, when told to stay, waits as a live run would.
LEAVE_BEHIND = """
import os, sys
from fanflow.artifacts.io import save_value
from fanflow.artifacts.store import LocalArtifactStore

root, label, stay = sys.argv[1], sys.argv[2], sys.argv[3] == "stay"
store = LocalArtifactStore(root)
store.mark_run(label + "-run")
saved = save_value([1, 2, 3], store, store.uri_for(label, "output", label + "-id"))
staging = store.staging()
with open(os.path.join(staging, "half-written"), "w") as handle:
    handle.write("x")
print(saved.uri, staging, flush=True)
if stay:
    sys.stdin.readline()
os._exit(0)
"""


# More than the inline limit (64 KiB as JSON), so the output is a folder in the store.
PRODUCED = list(range(4, 30_000))


@step(enable_cache=False)
def produce() -> list[int]:
    return PRODUCED


def _age(path: str | Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _leave_behind(root: Path, label: str, stay: bool) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", LEAVE_BEHIND, str(root), label, "stay" if stay else "go"],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    published, staging = process.stdout.readline().split()
    return process, published, staging


def test_the_next_run_removes_a_crashed_runs_leftovers_but_not_a_live_runs_files(fanflow_home):
    @pipeline(enable_cache=False)
    def producing():
        produce()

    kept_output = producing().steps["produce"].output  # recorded: must survive every sweep
    root = fanflow_home / "artifacts"
    _age(kept_output.uri, 600)

    crashed, crashed_folder, crashed_staging = _leave_behind(root, "crashed", stay=False)
    crashed.wait(timeout=60)
    live, live_folder, live_staging = _leave_behind(root, "live", stay=True)
    try:
        # The crash was a while ago; the live run started then too and published since.
        _age(crashed_folder, 300)
        for mark in (root / ".runs").iterdir():
            _age(mark, 200 if ".live-run" in mark.name else 300)
        _age(live_folder, 100)
        _age(crashed_staging, 60)
        _age(live_staging, 60)

        producing()

        assert not os.path.exists(crashed_folder)
        assert not os.path.exists(crashed_staging)
        assert os.path.exists(live_folder) and os.path.exists(live_staging)
        assert kept_output.load() == PRODUCED
        assert [m.name for m in (root / ".runs").iterdir()] == [
            m.name for m in (root / ".runs").iterdir() if ".live-run" in m.name
        ]
    finally:
        assert live.stdin is not None
        live.stdin.write("done\n")
        live.stdin.flush()
        live.wait(timeout=60)


def test_a_run_without_a_crash_before_it_lists_no_artifact_folders(fanflow_home, monkeypatch):
    @pipeline(enable_cache=False)
    def calm():
        produce()

    calm()
    from fanflow.artifacts.store import LocalArtifactStore

    def listing_is_not_needed(self, written_before):
        raise AssertionError("artifact folders listed although no run crashed")

    monkeypatch.setattr(LocalArtifactStore, "artifact_folders", listing_is_not_needed)
    assert calm().status == "completed"
    assert not list((fanflow_home / "artifacts" / ".runs").iterdir())
