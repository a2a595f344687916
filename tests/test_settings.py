"""Every `FANFLOW_*` variable is read by `fanflow.config.load_settings`; a value that does not
parse is an error naming the variable (never a silent fallback)."""

from __future__ import annotations

import pytest

from fanflow import pipeline, step
from fanflow.config import load_settings


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("FANFLOW_ORCHESTRATOR", "dask-please"),
        ("FANFLOW_MAX_PARALLELISM", "0"),
        ("FANFLOW_MAX_PARALLELISM", "many"),
        ("FANFLOW_LOGGING_VERBOSITY", "loud"),
        ("FANFLOW_HEARTBEAT_INTERVAL", "soon"),
        ("FANFLOW_HEARTBEAT_INTERVAL", "0"),
        ("FANFLOW_HEARTBEAT_INTERVAL", "nan"),
        ("FANFLOW_STOP_GRACE_PERIOD", "-1"),
        ("FANFLOW_STOP_GRACE_PERIOD", "inf"),
        ("FANFLOW_STEP_LOG_PREFIX", "sometimes"),
        ("FANFLOW_MAX_STEP_LOG_BYTES", "lots"),
        ("FANFLOW_MAX_STEP_LOG_BYTES", "-5"),
        ("FANFLOW_ENFORCE_TYPE_ANNOTATIONS", "strict"),
        ("ZENML_ENFORCE_TYPE_ANNOTATIONS", "maybe"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError, match=name):
        load_settings()


def test_values_parse_into_one_settings_object(monkeypatch, fanflow_home):
    monkeypatch.setenv("FANFLOW_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("FANFLOW_STOP_GRACE_PERIOD", "0")
    monkeypatch.setenv("FANFLOW_STEP_LOG_PREFIX", "off")
    monkeypatch.setenv("FANFLOW_MAX_STEP_LOG_BYTES", "4096")
    monkeypatch.setenv("FANFLOW_LOGGING_VERBOSITY", "warning")
    monkeypatch.setenv("ZENML_ENFORCE_TYPE_ANNOTATIONS", "yes")
    settings = load_settings()
    assert settings.enforce_type_annotations is True
    assert settings.home == fanflow_home
    assert settings.heartbeat_interval == 0.5
    assert settings.stop_grace_period == 0.0
    assert (settings.step_log.prefix, settings.step_log.prefix_chosen) == ("never", True)
    assert settings.step_log.max_bytes == 4096
    assert settings.logging_verbosity == "WARNING"


def test_defaults(monkeypatch):
    for name in (
        "FANFLOW_HEARTBEAT_INTERVAL",
        "FANFLOW_STOP_GRACE_PERIOD",
        "FANFLOW_STEP_LOG_PREFIX",
        "FANFLOW_MAX_STEP_LOG_BYTES",
        "FANFLOW_LOGGING_VERBOSITY",
        "FANFLOW_ENFORCE_TYPE_ANNOTATIONS",
        "ZENML_ENFORCE_TYPE_ANNOTATIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.enforce_type_annotations is False
    assert settings.heartbeat_interval == 10.0
    assert settings.stop_grace_period == 30.0
    assert (settings.step_log.prefix, settings.step_log.prefix_chosen) == ("auto", False)
    assert settings.step_log.max_bytes == 50 * 1024 * 1024


def test_a_run_with_a_bad_heartbeat_setting_fails_before_recording_anything(monkeypatch):
    from fanflow.client import Client

    @step
    def one() -> int:
        return 1

    @pipeline(enable_cache=False)
    def settings_check():
        one()

    monkeypatch.setenv("FANFLOW_HEARTBEAT_INTERVAL", "often")
    with pytest.raises(ValueError, match="FANFLOW_HEARTBEAT_INTERVAL"):
        settings_check()
    monkeypatch.delenv("FANFLOW_HEARTBEAT_INTERVAL")
    assert Client().list_pipeline_runs().total == 0


@pytest.mark.parametrize("name", ["threads", "local", "sequential"])
def test_every_in_process_orchestrator_name_is_accepted_from_the_environment(
    monkeypatch, fanflow_home, name
):
    @step
    def one() -> int:
        return 1

    @pipeline
    def tiny():
        one()

    monkeypatch.setenv("FANFLOW_ORCHESTRATOR", name)
    assert load_settings().orchestrator == name
    run = tiny()
    assert run.steps["one"].output.load() == 1
