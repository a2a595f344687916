"""Metadata JSON is valid JSON: NaN and the infinities are tagged, never written bare."""

from __future__ import annotations

import json
import math
import os
import sqlite3

from fanflow import log_metadata, pipeline, step


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"bare {constant} in stored JSON: {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_in_metadata_and_artifacts_are_stored_as_valid_json(fanflow_home):
    @step(enable_cache=False)
    def measure(threshold: float) -> float:
        log_metadata({"loss": float("nan"), "bounds": [float("-inf"), 1.0, float("inf")]})
        return float("nan")

    @pipeline(enable_cache=False)
    def measured():
        measure(threshold=float("inf"))

    run = measured()
    connection = sqlite3.connect(os.path.join(fanflow_home, "fanflow.db"))
    try:
        texts = [
            text
            for table, column in (
                ("step_runs", "run_metadata"),
                ("step_runs", "config"),
                ("pipeline_runs", "config"),
                ("pipeline_runs", "spec"),
                ("artifact_versions", "run_metadata"),
            )
            for (text,) in connection.execute(f"SELECT {column} FROM {table}")
            if text is not None
        ]
    finally:
        connection.close()
    assert any("nan" in text for text in texts)
    for text in texts:
        _strict_json(text)
    step_run = run.steps["measure"]
    assert math.isnan(step_run.run_metadata["loss"])
    assert step_run.run_metadata["bounds"] == [float("-inf"), 1.0, float("inf")]
    assert step_run.config.parameters["threshold"] == float("inf")
    output = step_run.output
    assert math.isnan(output.load())
    assert output.is_inline  # a small value: its data.json bytes are in the record
    _strict_json(output._record.inline_payload.decode("utf-8"))
