"""Examples of ZenML's "YAML configuration" and "Configuration" pages, run with
`zenml` -> `fanflow`: `with_options(config_path=...)`, its precedence and conflict errors,
`with_options(steps=...)`, `configure()` vs `with_options()`, `${ENV_VAR}` expansion."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fanflow import get_step_context, pipeline, step
from fanflow.client import Client
from fanflow.config import step_settings
from fanflow.exceptions import ConfigurationError, ResourceUnavailableError


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


@step
def load_data(dataset_name: str) -> dict:
    return {"name": dataset_name}


@step
def train_model(data: dict, learning_rate: float = 0.1) -> float:
    return learning_rate


@pipeline
def simple_ml_pipeline(dataset_name: str):
    train_model(load_data(dataset_name))


def test_minimal_config_file_sets_parameters_and_step_cache(tmp_path):
    config = _write(
        tmp_path,
        """
enable_cache: False

# Configure the pipeline parameters
parameters:
  dataset_name: "best_dataset"

steps:
  load_data:  # Use the step name here
    enable_cache: False  # same as @step(enable_cache=False)
""",
    )
    run = simple_ml_pipeline.with_options(config_path=config)()
    assert run.steps["load_data"].outputs["output"][0].load() == {"name": "best_dataset"}
    assert run.steps["load_data"].config.enable_cache is False
    again = simple_ml_pipeline.with_options(config_path=config)()
    assert again.steps["load_data"].status == "completed"  # not cached


def test_sample_file_step_parameter_overrides_and_flags(tmp_path, caplog):
    config = _write(
        tmp_path,
        """
enable_cache: False
enable_step_logs: True

parameters:
  dataset_name: "my_dataset"

steps:
  train_model:
    parameters:
      learning_rate: 0.001
    enable_cache: True

settings:
  docker:
    parent_image: "zenml-io/zenml-cuda:latest"
  resources:
    cpu_count: 2
""",
    )
    step_settings._reported.clear()
    with caplog.at_level(logging.INFO, logger="fanflow"):
        configured = simple_ml_pipeline.with_options(config_path=config)
        assert "enable_step_logs" in caplog.text
        assert configured.configuration.parameters == {"dataset_name": "my_dataset"}
        assert configured.configuration.enable_cache is False
        run = configured()
    assert "settings 'docker' have no effect" in caplog.text
    # the file's pipeline settings reach every step (resources acted on, docker kept)
    assert run.steps["load_data"].config.settings["resources"] == {"cpu_count": 2}
    assert run.steps["train_model"].config.settings["docker"] == {
        "parent_image": "zenml-io/zenml-cuda:latest"
    }
    assert run.steps["train_model"].outputs["output"][0].load() == 0.001
    assert run.steps["train_model"].config.parameters == {"learning_rate": 0.001}
    second = configured()
    assert second.steps["train_model"].status == "cached"  # its own enable_cache: True
    assert second.steps["load_data"].status == "completed"


def test_run_name_with_placeholders(tmp_path):
    config = _write(tmp_path, 'run_name: "training_run_{date}_{time}"\n')
    run = simple_ml_pipeline.with_options(config_path=config)(dataset_name="x")
    assert run.name.startswith("training_run_")
    fixed = _write(tmp_path, 'run_name: "training_run_cifar10_resnet50_lr0.001"\n')
    named = simple_ml_pipeline.with_options(config_path=fixed)(dataset_name="x")
    assert named.name == "training_run_cifar10_resnet50_lr0.001"


def test_pipeline_parameter_conflict_with_code_raises_runtime_error(tmp_path):
    config = _write(tmp_path, "parameters:\n  dataset_name: from_file\n")
    configured = simple_ml_pipeline.with_options(config_path=config)
    with pytest.raises(RuntimeError, match="Configured parameter for the pipeline"):
        configured(dataset_name="from_code")
    assert configured(dataset_name="from_file").status == "completed"  # same value: fine


def test_step_parameter_conflict_with_code_raises_runtime_error(tmp_path):
    @step
    def assert_input_params(bar: str) -> None:
        assert bar == "bar"

    @pipeline(enable_cache=True)
    def assert_input_params_pipe(foo: str):
        assert_input_params(bar=foo)

    config = _write(
        tmp_path,
        """
parameters: {foo: bar}
steps:
  assert_input_params: {parameters: {bar: "1"}}
enable_cache: false
""",
    )
    configured = assert_input_params_pipe.with_options(config_path=config)
    assert configured.configuration.parameters == {"foo": "bar"}
    expected = "Configured parameter for the step 'assert_input_params'"
    with pytest.raises(RuntimeError, match=expected):
        configured()


def test_step_parameters_from_file_fill_in_required_inputs(tmp_path):
    @step
    def assert_input_params_with_defaults(
        bar: str, foo: str = "some default value", this_will_be_default: str = "bar"
    ) -> None:
        assert bar == "bar"
        assert foo == "bar"
        assert this_will_be_default == "bar"

    @pipeline(enable_cache=False)
    def assert_input_params_pipe():
        assert_input_params_with_defaults()

    config = _write(
        tmp_path,
        """
steps:
  assert_input_params_with_defaults:
    parameters: {foo: bar, bar: bar}
enable_cache: false
""",
    )
    assert assert_input_params_pipe.with_options(config_path=config)().status == "completed"


def test_extra_from_file_then_configure_in_code_wins_with_a_warning(tmp_path, caplog):
    seen = []

    @step
    def assert_extra_step() -> None:
        seen.append(get_step_context().pipeline_run.config.extra)

    @pipeline(enable_cache=False)
    def assert_extra_pipeline():
        assert_extra_step()

    config = _write(tmp_path, "run_name: run_name_in_file\nextra: {a: 1}\n")
    p = assert_extra_pipeline.with_options(config_path=config)
    assert p.configuration.extra == {"a": 1}
    with caplog.at_level(logging.WARNING, logger="fanflow"):
        p.configure(extra={"a": 2})
    assert "replaces the value from the configuration file" in caplog.text
    assert p.configuration.extra == {"a": 2}
    p()
    assert seen == [{"a": 2}]


def test_environment_variables_are_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_DATASET", "from_env")
    monkeypatch.setenv("MY_API_KEY", "secret")
    config = _write(
        tmp_path,
        """
parameters:
  dataset_name: ${MY_DATASET}
extra:
  api_key: ${MY_API_KEY}
settings:
  docker:
    environment:
      DATABASE_URL: ${DB_CONNECTION_STRING}
""",
    )
    configured = simple_ml_pipeline.with_options(config_path=config)
    assert configured.configuration.extra == {"api_key": "secret"}
    run = configured()
    assert run.steps["load_data"].outputs["output"][0].load() == {"name": "from_env"}
    missing = _write(tmp_path, "parameters:\n  dataset_name: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigurationError, match="NOT_SET_ANYWHERE"):
        simple_ml_pipeline.with_options(config_path=missing)


def test_malformed_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        simple_ml_pipeline.with_options(config_path=str(tmp_path / "nope.yaml"))
    bad = _write(tmp_path, "parameters:\n  nope: 1\n")
    with pytest.raises(ConfigurationError, match="nope"):
        simple_ml_pipeline.with_options(config_path=bad)
    typo = _write(tmp_path, "steps:\n  load_data:\n    parameters: {dataset_nam: x}\n")
    with pytest.raises(ConfigurationError, match="dataset_nam"):
        simple_ml_pipeline.with_options(config_path=typo)(dataset_name="y")


def test_with_options_steps_mapping_and_step_with_options_parameters():
    @step
    def my_step(param: str = "default") -> str:
        return param

    @pipeline(enable_cache=False)
    def my_pipeline():
        my_step.with_options(parameters={"param": "value"})()

    run = my_pipeline()
    assert run.steps["my_step"].outputs["output"][0].load() == "value"
    assert my_step.with_options(parameters={"param": "value"}).configuration.parameters == {
        "param": "value"
    }
    assert my_step.configuration.parameters == {}

    @pipeline(enable_cache=False)
    def plain_pipeline():
        my_step()

    overridden = plain_pipeline.with_options(steps={"my_step": {"parameters": {"param": "x"}}})()
    assert overridden.steps["my_step"].outputs["output"][0].load() == "x"


def test_configure_changes_in_place_with_options_copies():
    @pipeline
    def my_pipeline():
        load_data("d")

    copy = my_pipeline.with_options(enable_cache=False)
    assert my_pipeline.configuration.enable_cache is None
    assert copy.configuration.enable_cache is False
    same = my_pipeline.configure(enable_cache=False)
    assert same is my_pipeline
    assert my_pipeline.configuration.enable_cache is False
    run = my_pipeline()
    assert Client().get_pipeline_run(run.id).steps["load_data"].config.enable_cache is False


def test_environment_variables_in_code_extra(monkeypatch):
    monkeypatch.setenv("ENV_VAR", "from_env")
    seen = {}

    @step(extra={"value_from_environment": "${ENV_VAR}"})
    def my_step() -> None:
        seen["step"] = dict(get_step_context().step_run.config.extra)
        seen["run"] = dict(get_step_context().pipeline_run.config.extra)

    @pipeline(extra={"combined_value": "prefix_${ENV_VAR}_suffix"}, enable_cache=False)
    def env_pipeline():
        my_step()

    env_pipeline()
    assert seen["step"] == {"value_from_environment": "from_env"}
    assert seen["run"] == {"combined_value": "prefix_from_env_suffix"}


def test_configure_with_settings_for_stack_components_is_accepted():
    @pipeline
    def my_pipeline():
        load_data("d")

    my_pipeline.configure(
        enable_cache=False,
        enable_artifact_metadata=True,
        settings={"docker": {"parent_image": "zenml-io/zenml-cuda:latest"}},
    )
    assert my_pipeline().status == "completed"
    assert my_pipeline.configuration.settings == {
        "docker": {"parent_image": "zenml-io/zenml-cuda:latest"}
    }


def test_resource_docker_and_component_settings_from_the_page(tmp_path, monkeypatch, caplog):
    config = _write(
        tmp_path,
        """
settings:
  docker:
    apt_packages: ["curl", "git", "libgomp1"]
    copy_files: True
    environment:
      ZENML_LOGGING_VERBOSITY: DEBUG
      PYTHONUNBUFFERED: "1"
    parent_image: "zenml-io/zenml-cuda:latest"
    requirements: ["torch==1.10.0", "transformers>=4.0.0", "pandas"]
  resources:
    cpu_count: 2
    gpu_count: 1
    memory: "4Gb"

steps:
  train_model:
    experiment_tracker: "mlflow_tracker"
    step_operator: "vertex_gpu"
    settings:
      resources:
        cpu_count: 4
        gpu_count: 2
        memory: "16Gb"
      experiment_tracker.mlflow:
        experiment_name: "image_classification"
        nested: True
""",
    )
    monkeypatch.setenv("FANFLOW_RESOURCES", "CPU=4,GPU=2,memory=16e9")
    step_settings._reported.clear()
    with caplog.at_level(logging.INFO, logger="fanflow"):
        run = simple_ml_pipeline.with_options(config_path=config)(dataset_name="x")
    train = run.steps["train_model"].config.settings
    assert train["resources"] == {"cpu_count": 4, "gpu_count": 2, "memory": "16Gb"}
    assert train["experiment_tracker.mlflow"] == {
        "experiment_name": "image_classification",
        "nested": True,
    }
    assert train["docker"]["parent_image"] == "zenml-io/zenml-cuda:latest"
    assert run.steps["load_data"].config.settings["resources"]["memory"] == "4Gb"
    assert "steps.train_model.experiment_tracker" in caplog.text
    assert "'experiment_tracker.mlflow' have no effect" in caplog.text
    # the resources are acted on: a machine offering less refuses the step that needs more
    monkeypatch.setenv("FANFLOW_RESOURCES", "CPU=4,GPU=1,memory=16e9")
    with pytest.raises(ResourceUnavailableError, match=r"Step `train_model`.*GPU"):
        simple_ml_pipeline.with_options(config_path=config)(dataset_name="y")
