"""Scenario (k): the fixed cost of running a pipeline at all.

A script that does ``from fanflow import step, pipeline`` and runs a one-step pipeline, timed as
a whole process against a bare ``python -c pass``: imports, creating the store, tracing, running
one step, recording it, and shutting down. Prints the step's output, which the driver checks.

Usage: python one_step.py
"""

from __future__ import annotations

from fanflow import pipeline, step


@step
def answer() -> int:
    return 42


@pipeline
def one_step() -> None:
    answer()


if __name__ == "__main__":
    run = one_step()
    print(run.steps["answer"].output.load())
