"""Examples of ZenML's "Configuration" page (steps & pipelines), run with `zenml` -> `fanflow`:
settings and how they merge (pipeline < step < YAML per key, fields merged), what fanflow acts
on (`resources`) and what it accepts and reports (`docker`, stack-component keys)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fanflow import pipeline, step
from fanflow.config import DockerSettings, ResourceSettings, step_settings
from fanflow.config.docker_settings import DockerSettings as DockerSettingsByPath
from fanflow.config.resource_settings import ResourceSettings as ResourceSettingsByPath
from fanflow.exceptions import ResourceUnavailableError


@step
def load_data(parameter: int) -> dict:
    return {"parameter": parameter}


@step(settings={"resources": ResourceSettings(gpu_count=1, memory="2GB")})
def train_model(data: dict) -> None:
    return None


@pipeline(settings={"resources": ResourceSettings(cpu_count=2, memory="1GB")})
def simple_ml_pipeline(parameter: int):
    dataset = load_data(parameter=parameter)
    train_model(dataset)


def test_settings_classes_import_from_zenml_paths():
    assert DockerSettingsByPath is DockerSettings
    assert ResourceSettingsByPath is ResourceSettings
    settings = ResourceSettings(cpu_count=2, memory="1GB")
    assert settings.get_memory("MB") == 1000 and not settings.empty
    assert ResourceSettings().empty
    assert DockerSettings(parent_image="zenml-io/zenml-cuda:latest").parent_image.endswith("latest")


def test_step_settings_override_pipeline_settings_field_by_field():
    # "ZenML merges the two configurations and uses the step configuration to override values
    # defined on the pipeline level" -> cpu_count: 2, gpu_count=1, memory="2GB"
    run = simple_ml_pipeline(parameter=1)
    assert run.steps["train_model"].config.settings["resources"] == {
        "cpu_count": 2,
        "gpu_count": 1,
        "memory": "2GB",
    }
    assert run.steps["load_data"].config.settings["resources"] == {
        "cpu_count": 2,
        "memory": "1GB",
    }
    assert simple_ml_pipeline.configuration.settings["resources"] == {
        "cpu_count": 2,
        "memory": "1GB",
    }


def test_resource_settings_become_the_steps_resource_requests(monkeypatch):
    # acted on: this machine must offer what the merged settings ask for once it declares
    # FANFLOW_RESOURCES (unset, they are not enforced, as ZenML's local orchestrator does)
    monkeypatch.setenv("FANFLOW_RESOURCES", "CPU=4,GPU=1,memory=8e9")
    assert simple_ml_pipeline(parameter=2).status == "completed"
    monkeypatch.setenv("FANFLOW_RESOURCES", "CPU=4,memory=8e9")
    with pytest.raises(ResourceUnavailableError, match=r"Step `train_model`.*GPU=none"):
        simple_ml_pipeline(parameter=3)


def test_resource_settings_are_not_enforced_without_declared_resources(caplog):
    from fanflow.execution.executors import local_resources

    local_resources._announced.clear()
    with caplog.at_level(logging.INFO, logger="fanflow"):
        run = simple_ml_pipeline(parameter=4)
    assert run.status == "completed"
    assert "Step train_model: resource settings" in caplog.text
    assert "not enforced on this machine" in caplog.text


def test_yaml_step_settings_override_code_and_code_after_the_file_wins(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "settings:\n  resources:\n    cpu_count: 3\n"
        "steps:\n  train_model:\n    settings:\n      resources:\n        gpu_count: 2\n"
    )
    run = simple_ml_pipeline.with_options(config_path=str(config))(parameter=5)
    assert run.steps["train_model"].config.settings["resources"] == {
        "cpu_count": 3,
        "gpu_count": 2,
        "memory": "2GB",
    }
    assert run.steps["load_data"].config.settings["resources"] == {
        "cpu_count": 3,
        "memory": "1GB",
    }
    coded = simple_ml_pipeline.with_options(
        config_path=str(config), settings={"resources": {"memory": "4GB"}}
    )(parameter=6)
    assert coded.steps["load_data"].config.settings["resources"] == {
        "cpu_count": 3,
        "memory": "4GB",
    }


def test_explicit_resources_win_over_settings(monkeypatch):
    @step(resources={"GPU": 1}, settings={"resources": ResourceSettings(cpu_count=64)})
    def gpu_only() -> int:
        return 1

    @pipeline(enable_cache=False)
    def explicit():
        gpu_only()

    assert dict(gpu_only.definition.config.resources) == {"GPU": 1.0}
    monkeypatch.setenv("FANFLOW_RESOURCES", "GPU=1")
    assert explicit().steps["gpu_only"].output.load() == 1


def test_docker_and_stack_component_settings_are_kept_and_reported_once(caplog):
    step_settings._reported.clear()

    @step(settings={"experiment_tracker.mlflow": {"experiment_name": "custom_experiment"}})
    def tracked() -> int:
        return 1

    @pipeline(
        enable_cache=False,
        settings={"docker": DockerSettings(parent_image="zenml-io/zenml-cuda:latest")},
    )
    def containerised():
        tracked()

    with caplog.at_level(logging.INFO, logger="fanflow"):
        run = containerised()
        containerised()
    assert run.steps["tracked"].config.settings["docker"] == {
        "parent_image": "zenml-io/zenml-cuda:latest"
    }
    assert run.steps["tracked"].config.settings["experiment_tracker.mlflow"] == {
        "experiment_name": "custom_experiment"
    }
    assert caplog.text.count("settings 'docker' have no effect") == 1
    assert caplog.text.count("'experiment_tracker.mlflow' have no effect") == 1


def test_bad_resource_settings_name_the_step():
    with pytest.raises(ValueError, match="memory"):
        ResourceSettings(memory="lots")

    with pytest.raises(ValueError, match=r"Step 'odd'.*unknown field"):

        @step(settings={"resources": {"cpu_count": 1, "gpus": 1}})
        def odd() -> None:
            return None


def test_write_run_configuration_template_round_trip(tmp_path: Path):
    import yaml

    @step
    def load(parameter: int) -> dict:
        return {"parameter": parameter}

    @step
    def train(data: dict, learning_rate: float = 0.1) -> float:
        return learning_rate * data["parameter"]

    @pipeline(enable_cache=True)  # set cache behavior at step level
    def templated(parameter: int = 1):
        dataset = load(parameter=parameter)
        train(dataset)

    path = tmp_path / "template.yaml"
    templated.write_run_configuration_template(path=str(path))
    text = path.read_text()
    # as in ZenML: every line commented out, so the file as written configures nothing
    assert all(line.startswith("#") for line in text.splitlines())
    assert yaml.safe_load(text) is None
    assert templated.with_options(config_path=str(path))().status == "completed"

    options = yaml.safe_load("\n".join(line[2:] for line in text.splitlines() if line[:2] == "# "))
    assert set(options) == {
        "run_name",
        "enable_cache",
        "execution_mode",
        "extra",
        "tags",
        "substitutions",
        "parameters",
        "settings",
        "steps",
    }
    assert options["parameters"] == {"parameter": "int"}
    assert set(options["steps"]) == {"load", "train"}
    assert options["steps"]["train"]["parameters"] == {"learning_rate": "float"}
    assert set(options["settings"]["resources"]) == {"cpu_count", "gpu_count", "memory"}

    # edit: uncomment some lines and put values in place of the types, then use the file
    edited, step_id = [], None
    for line in text.splitlines():
        body = line[2:]
        if body.startswith("  ") and not body.startswith("   "):
            step_id = body.strip(" :")
        if body.startswith("enable_cache:"):
            edited.append("enable_cache: false")
        elif body.startswith("run_name:"):
            edited.append("run_name: edited_{date}")
        elif body in ("parameters:", "steps:", "  train:") or (
            step_id == "train" and body == "    parameters:"
        ):
            edited.append(body)
        elif body == "  parameter: int":
            edited.append("  parameter: 4")
        elif body == "      learning_rate: float":
            edited.append("      learning_rate: 0.5")
        else:
            edited.append(line)
    path.write_text("\n".join(edited) + "\n")
    run = templated.with_options(config_path=str(path))()
    assert run.name.startswith("edited_")
    assert run.steps["train"].output.load() == 2.0
    assert run.steps["train"].config.parameters == {"learning_rate": 0.5}


def test_template_of_a_pipeline_with_required_parameters_has_no_steps(tmp_path: Path):
    import yaml

    path = tmp_path / "template.yaml"
    simple_ml_pipeline.write_run_configuration_template(str(path), stack=None)
    text = path.read_text()
    options = yaml.safe_load("\n".join(line[2:] for line in text.splitlines() if line[:2] == "# "))
    assert options["parameters"] == {"parameter": "int"} and options["steps"] == {}


def test_component_options_and_their_settings_from_the_page():
    @step(
        settings={
            "output_materializers": {"output": "my_module.MyMaterializer"},
            "experiment_tracker.mlflow": {"experiment_name": "custom_experiment"},
        }
    )
    def train_model() -> int:
        return 1

    @step(experiment_tracker=True, step_operator=True)
    def uses_components() -> None: ...

    @step(
        step_operator="nameofstepoperator",
        settings={"step_operator": {"estimator_args": {"instance_type": "m7g.medium"}}},
    )
    def my_step() -> None: ...

    @pipeline
    def my_pipeline():
        train_model()
        uses_components()
        my_step()

    my_pipeline.configure(
        enable_cache=False,
        enable_artifact_metadata=True,
        settings={"docker": {"parent_image": "zenml-io/zenml-cuda:latest"}},
    )
    run = my_pipeline()
    assert run.status == "completed"
    settings = run.steps["my_step"].config.settings
    assert settings["step_operator"] == {"estimator_args": {"instance_type": "m7g.medium"}}
    assert settings["docker"] == {"parent_image": "zenml-io/zenml-cuda:latest"}
    assert run.steps["train_model"].config.settings["experiment_tracker.mlflow"] == {
        "experiment_name": "custom_experiment"
    }


def test_dynamic_pipeline_settings_reach_called_and_mapped_steps():
    @step
    def numbers() -> list[int]:
        return [1, 2]

    @step(settings={"resources": ResourceSettings(gpu_count=1)})
    def double(x: int) -> int:
        return 2 * x

    @pipeline(dynamic=True, enable_cache=False, settings={"resources": {"cpu_count": 2}})
    def dynamic_resources():
        double.map(numbers())

    run = dynamic_resources()
    assert run.steps["numbers"].config.settings["resources"] == {"cpu_count": 2}
    assert run.steps["map:double:1"].config.settings["resources"] == {
        "cpu_count": 2,
        "gpu_count": 1,
    }
