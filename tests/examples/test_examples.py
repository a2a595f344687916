"""Every example under examples/ runs from its documented command, at a small size."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED_OUTPUT = ",".join(f"process_{i}: Hello from ZenML!" for i in range(8))


def run_example(path: str, *args: str, home: Path, timeout: float = 300) -> str:
    env = {**os.environ, "FANFLOW_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=EXAMPLES.parent,
    )
    assert result.returncode == 0, f"{path} failed:\n{result.stderr[-4000:]}"
    return result.stdout


def test_seed_with_main_guard_prints_what_the_seed_prints(fanflow_home):
    assert run_example("fan_out_fan_in_guarded.py", home=fanflow_home) == SEED_OUTPUT + "\n"


def test_seed_copy_differs_from_the_seed_only_by_the_guard_and_docstring():
    seed = (EXAMPLES / "fan_out_fan_in.py").read_text()
    guarded = (EXAMPLES / "fan_out_fan_in_guarded.py").read_text()
    assert seed.endswith("\n\nfan_out_fan_in_pipeline(parallel_count=8)\n")
    body = guarded[guarded.index("from fanflow import") :]
    assert body == seed.replace(
        "\nfan_out_fan_in_pipeline(parallel_count=8)\n",
        '\nif __name__ == "__main__":\n    fan_out_fan_in_pipeline(parallel_count=8)\n',
    )


def test_seed_the_fanflow_way_prints_the_same_and_stores_the_result(fanflow_home):
    assert run_example("fan_out_fan_in_fanflow.py", home=fanflow_home) == SEED_OUTPUT + "\n"
    from fanflow.client import Client

    run = Client().get_pipeline("fan_out_fan_in_pipeline").last_run
    combine = run.steps["combine_step"]
    assert len(combine.inputs["results"]) == 8
    assert combine.output.load() == SEED_OUTPUT


@pytest.mark.slow
def test_seed_the_fanflow_way_in_worker_processes(fanflow_home):
    output = run_example("fan_out_fan_in_fanflow.py", "3", "processes", home=fanflow_home)
    assert output == ",".join(f"process_{i}: Hello from ZenML!" for i in range(3)) + "\n"


@pytest.mark.slow
def test_hyperparameter_tuning_picks_the_best_and_reuses_cached_branches(fanflow_home):
    output = run_example(
        "hyperparameter_tuning/tune.py", "--samples", "400", "--c", "2", "--gamma", "2",
        home=fanflow_home,
    )
    first, _, wider, _ = output.splitlines()
    assert "2 x 2 = 4 fits, train branches {'completed': 4}" in first
    assert "4 x 2 = 8 fits, train branches {'cached': 4, 'completed': 4}" in wider
    from fanflow.client import Client

    run = Client().get_pipeline("tuning").last_run
    scores = [s.outputs["score"][0].load() for s in run.steps.values() if s.step_name == "train"]
    best = run.steps["pick_best"].outputs["best"][0].load()
    assert best["score"] == max(scores)
    model = run.steps["pick_best"].outputs["best_model"][0].load()
    assert (model.C, model.gamma) == (best["C"], best["gamma"])
    assert f"accuracy {best['score']:.3f}" in output


@pytest.mark.slow
def test_hyperparameter_tuning_compares_threads_and_processes(fanflow_home):
    output = run_example(
        "hyperparameter_tuning/tune.py", "--compare", "--samples", "200", "--c", "1",
        "--gamma", "2", "--repeats", "1", home=fanflow_home,
    )
    assert re.search(r"local: svm grid of 2 fits x 1 in [\d.]+ s", output)
    assert re.search(r"processes: svm grid of 2 fits x 1 in [\d.]+ s", output)
    assert re.search(r"speed-up of processes over threads: [\d.]+x", output)


@pytest.mark.slow
def test_hyperparameter_tuning_with_the_gil_bound_model(fanflow_home):
    output = run_example(
        "hyperparameter_tuning/tune.py", "--model", "mlp", "--samples", "200", "--c", "1",
        "--gamma", "2", home=fanflow_home,
    )
    assert "1 x 2 = 2 fits, train branches {'completed': 2}" in output
    assert "(MLPClassifier loaded from the store)" in output


@pytest.mark.slow
def test_hyperparameter_tuning_with_the_pure_python_model_on_each_orchestrator(fanflow_home):
    output = run_example(
        "hyperparameter_tuning/tune.py", "--compare", "--model", "perceptron", "--samples", "200",
        "--c", "1", "--gamma", "2", "--repeats", "1",
        "--orchestrators", "local,processes,dask", home=fanflow_home,
    )
    for orchestrator in ("local", "processes", "dask"):
        assert re.search(rf"{orchestrator}: perceptron grid of 2 fits x 1 in [\d.]+ s", output)
    assert re.search(r"speed-up of dask over threads: [\d.]+x", output)
    from fanflow.client import Client

    run = Client().get_pipeline("tuning").last_run
    best = run.steps["pick_best"].outputs["best"][0].load()
    model = run.steps["pick_best"].outputs["best_model"][0].load()
    assert type(model).__name__ == "Perceptron"
    assert (model.margin, model.decay) == (best["C"], best["gamma"])
    assert 0.5 < best["score"] <= 1.0


@pytest.mark.slow
def test_ensemble_prints_each_member_and_the_soft_vote(fanflow_home):
    output = run_example(
        "ensemble/ensemble.py", "--samples", "300", "--families", "svm,knn,naive_bayes",
        home=fanflow_home,
    )
    accuracy = dict(re.findall(r"^(\w+)\s+test accuracy ([\d.]+)$", output, flags=re.M))
    assert list(accuracy) == ["svm", "knn", "naive_bayes", "ensemble"]
    assert all(0.5 < float(value) <= 1.0 for value in accuracy.values())
    from fanflow.client import Client

    run = Client().get_pipeline("ensemble").last_run
    probabilities = run.steps["train_svm"].output.load()
    assert probabilities.shape == (90, 10)
    assert run.steps["train_svm"].output.data_type.endswith("ndarray")


def test_batch_processing_splits_on_a_worker_and_concatenates(fanflow_home):
    output = run_example(
        "batch_processing/batch.py", "--rows", "20000", "--chunk-rows", "3000",
        "--orchestrator", "local", home=fanflow_home,
    )
    assert output.startswith("20,000 rows in 7 chunks (local)")
    assert re.search(r"peak memory, orchestrating process: \d+ MiB", output)
    from fanflow.client import Client

    run = Client().get_pipeline("batch").last_run
    processed = run.steps["concatenate"].output.load()
    assert len(processed) == 20000
    assert list(processed["customer"]) == list(run.steps["generate"].output.load()["customer"])


@pytest.mark.slow
def test_batch_processing_in_processes_reports_worker_memory(fanflow_home):
    output = run_example(
        "batch_processing/batch.py", "--rows", "20000", "--chunk-rows", "5000",
        home=fanflow_home,
    )
    assert output.startswith("20,000 rows in 4 chunks (processes)")
    assert re.search(r"peak memory, the worker that summarized: \d+ MiB", output)


@pytest.mark.slow
def test_federated_averaging_prints_accuracy_after_each_round(fanflow_home):
    output = run_example(
        "federated_training/fedavg.py", "--shards", "3", "--rounds", "3", "--epochs", "5",
        home=fanflow_home,
    )
    accuracies = [float(a) for a in re.findall(r"round +\d+: test accuracy ([\d.]+)", output)]
    assert len(accuracies) == 3
    assert accuracies[-1] > 0.5
    from fanflow.client import Client

    run = Client().get_pipeline("fedavg").last_run
    updates = [s for s in run.steps.values() if s.step_name == "local_update"]
    assert len(updates) == 9


def test_data_validation_reports_the_failing_sources(fanflow_home):
    output = run_example(
        "data_validation/validate.py", "--sources", "6", "--bad", "2", "--rows", "500",
        home=fanflow_home,
    )
    lines = output.splitlines()
    assert lines[0] == (
        "4 sources passed (2,000 rows), 2 failed: export_001.parquet, export_005.parquet"
    )
    assert lines[1] == (
        "  map:validate:1: ValueError: export_001.parquet: missing column(s) ['country']"
    )
    assert lines[2].startswith("  map:validate:5: ValueError: export_005.parquet: ")
    assert "duplicate order_id" in lines[2]
    assert lines[3] == "run status: completed, share of sources that passed: {'validate': 0.666667}"


@pytest.mark.slow
def test_federated_averaging_with_the_optional_torch_backend_matches_numpy(fanflow_home):
    pytest.importorskip("torch")
    args = ("federated_training/fedavg.py", "--shards", "2", "--rounds", "2", "--epochs", "3")
    with_numpy = run_example(*args, home=fanflow_home)
    with_torch = run_example(*args, "--backend", "torch", home=fanflow_home)
    assert with_torch == with_numpy
    assert with_torch.count("test accuracy") == 2
