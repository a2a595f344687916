"""The storage variables: FANFLOW_METADATA_URL, FANFLOW_ARTIFACT_ROOT and
FANFLOW_ARTIFACT_STORAGE_OPTIONS (a JSON object, or the path of a JSON file holding one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fanflow.config import load_settings


def test_defaults_live_under_fanflow_home(fanflow_home: Path) -> None:
    settings = load_settings()
    assert settings.metadata_url == f"sqlite:///{fanflow_home / 'fanflow.db'}"
    assert settings.artifact_root == str(fanflow_home / "artifacts")
    assert settings.artifact_storage_options == {}


def test_urls_and_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANFLOW_METADATA_URL", "postgresql+psycopg://me@db/fanflow")
    monkeypatch.setenv("FANFLOW_ARTIFACT_ROOT", "s3://bucket/prefix")
    monkeypatch.setenv("FANFLOW_ARTIFACT_STORAGE_OPTIONS", '{"anon": false, "key": "k"}')
    settings = load_settings()
    assert settings.metadata_url == "postgresql+psycopg://me@db/fanflow"
    assert settings.artifact_root == "s3://bucket/prefix"
    assert settings.artifact_storage_options == {"anon": False, "key": "k"}


def test_options_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "s3.json"
    path.write_text(json.dumps({"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}))
    monkeypatch.setenv("FANFLOW_ARTIFACT_STORAGE_OPTIONS", str(path))
    assert load_settings().artifact_storage_options == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"key": ', "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ("/nonexistent/options.json", "cannot read '/nonexistent/options.json'"),
    ],
)
def test_bad_options_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("FANFLOW_ARTIFACT_STORAGE_OPTIONS", raw)
    with pytest.raises(ValueError, match="FANFLOW_ARTIFACT_STORAGE_OPTIONS") as info:
        load_settings()
    assert message in str(info.value)


def test_a_file_holding_something_else_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "options.json"
    path.write_text('"just a string"')
    monkeypatch.setenv("FANFLOW_ARTIFACT_STORAGE_OPTIONS", str(path))
    with pytest.raises(ValueError, match=r"the file .*options\.json.* JSON object"):
        load_settings()
