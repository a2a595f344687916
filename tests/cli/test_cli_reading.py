"""`fanflow pipelines list`, `runs list`, `runs show`, `logs` and `artifacts` on real runs."""

from __future__ import annotations

from fanflow.client import Client


def test_pipelines_list_names_each_pipeline_with_its_runs(fanflow, small):
    text = fanflow("pipelines", "list").stdout
    assert "static_flow" in text and "failing_flow" in text and "retry_flow" in text
    rows = {row["name"]: row for row in fanflow.json("pipelines", "list")}
    assert rows["failing_flow"]["runs"] == 2
    assert rows["failing_flow"]["last_run"] == small["resumed"]
    assert rows["failing_flow"]["last_status"] == "completed"


def test_runs_list_is_newest_first_and_filters(fanflow, small):
    runs = fanflow.json("runs", "list")
    assert [r["name"] for r in runs] == [
        small["retried"],
        small["resumed"],
        small["failed"],
        small["static"],
    ]
    failed = fanflow.json("runs", "list", "--status", "failed")
    assert [r["name"] for r in failed] == [small["failed"]]
    of_pipeline = fanflow.json("runs", "list", "--pipeline", "failing_flow", "--limit", "1")
    assert [r["name"] for r in of_pipeline] == [small["resumed"]]
    assert of_pipeline[0]["original_run_id"] == Client().get_pipeline_run(small["failed"]).id.hex
    plain = fanflow("runs", "list").stdout.splitlines()
    assert plain[0].split() == ["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION"]
    assert plain[1].startswith(small["retried"])


def test_runs_list_unknown_pipeline_is_one_clear_line(fanflow, small):
    result = fanflow("runs", "list", "--pipeline", "statik_flow", ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: No pipeline named 'statik_flow'. Did you mean: static_flow?"
    ]


def test_runs_show_lists_steps_with_status_and_cache_hits(fanflow, small):
    shown = fanflow.json("runs", "show", small["resumed"])
    steps = {s["key"]: s for s in shown["steps"]}
    assert shown["run"]["status"] == "completed"
    assert steps["load"]["status"] == "cached" and steps["load"]["cached"] == 1
    assert steps["fragile"]["status"] == "completed"
    text = fanflow("runs", "show", small["resumed"]).stdout
    assert f"resumed from {small['failed']}" in text
    load_line = next(line for line in text.splitlines() if line.startswith("load"))
    assert load_line.split()[:2] == ["load", "cached"] and "yes" in load_line


def test_runs_show_failed_step_shows_first_lines_of_its_error(fanflow, small):
    result = fanflow("runs", "show", small["failed"])
    text = result.stdout
    assert "ValueError: bad input" in text and "second line" in text and "third line" in text
    assert "fourth line" not in text
    fragile = next(line for line in text.splitlines() if line.startswith("fragile"))
    assert fragile.split()[1] == "failed"
    report = next(line for line in text.splitlines() if line.startswith("report"))
    assert report.split()[1] == "skipped"


def test_unknown_run_says_did_you_mean(fanflow, small):
    wrong = small["static"][:-3] + "xyz"
    result = fanflow("runs", "show", wrong, ok=False)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: No run named {wrong!r}")
    assert f"Did you mean: {small['static']}" in lines[0]


def test_logs_of_one_step(fanflow, small):
    assert fanflow("logs", small["static"], "square_1").stdout == "square 1 says hi\n"
    assert fanflow("logs", small["static"], "square_2", "--tail", "1").stdout == (
        "square 2 says hi\n"
    )


def test_logs_of_an_unknown_step_suggests_names(fanflow, small):
    result = fanflow("logs", small["static"], "square_9", ok=False)
    assert result.exit_code == 1
    assert "has no step 'square_9'" in result.stderr and "square_" in result.stderr


def test_logs_attempt_shows_only_that_attempts_output(fanflow, small):
    everything = fanflow("logs", small["retried"], "flaky").stdout
    assert "attempt 1 output" in everything and "attempt 3 output" in everything
    second = fanflow("logs", small["retried"], "flaky", "--attempt", "2").stdout
    assert "attempt 2 output" in second and "attempt 2 warns" in second
    assert "attempt 1" not in second and "attempt 3" not in second
    assert "attempt 2 failed: ConnectionError: try again (2)" in second
    third = fanflow("logs", small["retried"], "flaky", "--attempt", "3").stdout
    assert "attempt 3 output" in third and "failed" not in third
    missing = fanflow("logs", small["retried"], "flaky", "--attempt", "4", ok=False)
    assert missing.exit_code == 1 and "has 3 attempt(s)" in missing.stderr


def test_artifacts_list_show_and_get(fanflow, small, tmp_path):
    names = [row["name"] for row in fanflow.json("artifacts", "list")]
    assert "static_flow::combine::output" in names
    assert not any(name.endswith("]") for name in names)  # per-item artifacts hidden
    versions = fanflow.json("artifacts", "list", "static_flow::load::output")
    assert [v["version"] for v in versions] == ["1"]
    shown = fanflow.json("artifacts", "show", "static_flow::load::output:1")
    assert shown["data_type"] == "builtins.list"
    assert shown["producer"] == {"run": small["static"], "step": "load"}
    consumers = {(c["run"], c["step"], c["as"]) for c in shown["consumers"]}
    assert (small["static"], "square_0", "input") in consumers
    assert shown["preview"] == "[0, 1, 2]"
    text = fanflow("artifacts", "show", "static_flow::load::output").stdout
    assert "preview:\n[0, 1, 2]" in text
    target = tmp_path / "load.json"
    fanflow("artifacts", "get", "static_flow::load::output", "-o", str(target))
    assert target.read_text().strip() == "[0, 1, 2]"
    again = fanflow("artifacts", "get", "static_flow::load::output", "-o", str(target), ok=False)
    assert again.exit_code == 1 and "--force" in again.stderr


def test_artifacts_errors_are_one_line(fanflow, small):
    result = fanflow("artifacts", "show", "static_flow::lod::output", ok=False)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "Did you mean: static_flow::load::output" in result.stderr
    wrong_version = fanflow("artifacts", "show", "static_flow::load::output:7", ok=False)
    assert "has no version 7" in wrong_version.stderr
