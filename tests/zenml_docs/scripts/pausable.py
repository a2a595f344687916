"""A dynamic pipeline with ZenML's `on_pause`/`on_resume` hooks, stopped for real by the tests.

Every hook and step appends a line to the file named by LEDGER. `first` holds until the file
named by RELEASE exists, so the test can stop the run while a step is running.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fanflow import pipeline, step


def note(text: str) -> None:
    with Path(os.environ["LEDGER"]).open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def on_start() -> None:
    note("start")


def on_pause() -> None:
    note("pause")


def on_resume() -> None:
    note("resume")


def on_end() -> None:
    note("end")


@step
def first() -> int:
    note("first")
    release = Path(os.environ["RELEASE"])
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return 1


@step
def second(value: int) -> int:
    note("second")
    return value + 1


@pipeline(
    dynamic=True,
    enable_cache=False,
    on_start=on_start,
    on_pause=on_pause,
    on_resume=on_resume,
    on_end=on_end,
)
def pausable() -> None:
    second(first())


if __name__ == "__main__":
    pausable()
