"""The `fanflow` command as a shell sees it: the console script, `--help`, `run` and `ui`."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from cli.conftest import env_for
from fanflow.client import Client


def test_help_imports_no_database_layer_and_no_rich(fanflow_home):
    code = (
        "import sys\n"
        "from fanflow.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "import json\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_for(fanflow_home)
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stderr.strip().splitlines()[-1]))
    assert not [m for m in loaded if m.split(".")[0] == "sqlalchemy"]
    assert not [m for m in loaded if m == "rich" or m.startswith("rich.")]
    assert not [m for m in loaded if m.startswith(("fanflow.client.client", "fanflow.metadata"))]
    assert "runs" in result.stdout and "artifacts" in result.stdout and "logs" in result.stdout


def test_console_script_is_installed_and_exits_non_zero_on_errors(fanflow_home):
    script = Path(sys.executable).with_name("fanflow")
    assert script.exists(), "pip install -e . installs the `fanflow` console script"
    ok = subprocess.run(
        [str(script), "runs", "list", "--json"],
        capture_output=True,
        text=True,
        env=env_for(fanflow_home),
    )
    assert ok.returncode == 0 and json.loads(ok.stdout) == []
    bad = subprocess.run(
        [str(script), "runs", "show", "nope"],
        capture_output=True,
        text=True,
        env=env_for(fanflow_home),
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("Error: No run named 'nope'") and bad.stderr.count("\n") == 1
    usage = subprocess.run(
        [str(script), "runs", "list", "--status", "happy"],
        capture_output=True,
        text=True,
        env=env_for(fanflow_home),
    )
    assert usage.returncode == 2 and "'happy' is not one of" in usage.stderr


def test_run_a_pipeline_by_module_with_parameters(fanflow, fanflow_home):
    result = fanflow(
        "run",
        "cli_flows:param_flow",
        "--param",
        "word=hey",
        "-P",
        "times=3",
        "--orchestrator",
        "sequential",
    )
    assert result.stdout == "hey hey hey\n"
    run = Client().get_pipeline("param_flow").last_run
    assert run.status == "completed" and run.config.parameters == {"word": "hey", "times": 3}
    assert run.config.orchestrator == "sequential"
    assert f"Run {run.name}: completed." in result.stderr


def test_run_a_pipeline_by_path_in_a_fresh_process(fanflow_home, tmp_path):
    flows = tmp_path / "my_flows.py"
    flows.write_text(
        "from fanflow import pipeline, step\n\n"
        "@step\ndef shout(text: str) -> str:\n    print(text.upper())\n    return text\n\n"
        "@pipeline(enable_cache=False)\ndef loud(text: str = 'hi'):\n    shout(text)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "fanflow.cli", "run", f"{flows}:loud", "--param", "text=quiet"],
        capture_output=True,
        text=True,
        env=env_for(fanflow_home),
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "QUIET\n"  # stdout holds exactly what the step printed
    assert Client().get_pipeline("loud").last_run.status == "completed"


def test_run_errors_are_clear(fanflow, fanflow_home):
    failed = fanflow("run", "cli_flows:failing_flow", ok=False)
    assert failed.exit_code == 1
    assert "Error: Pipeline run has failed due to failure in step(s): fragile." in failed.stderr
    no_module = fanflow("run", "no_such_module:flow", ok=False)
    assert no_module.stderr.strip() == "Error: Cannot import 'no_such_module': no such module."
    no_pipeline = fanflow("run", "cli_flows:nothing", ok=False)
    assert "cli_flows has no attribute 'nothing'" in no_pipeline.stderr
    assert "param_flow" in no_pipeline.stderr
    not_a_pipeline = fanflow("run", "cli_flows:load", ok=False)
    assert "is not a pipeline" in not_a_pipeline.stderr
    bad_param = fanflow("run", "cli_flows:param_flow", "--param", "times", ok=False)
    assert bad_param.exit_code == 2 and "is not KEY=VALUE" in bad_param.stderr
    unknown = fanflow("run", "cli_flows:param_flow", "--param", "colour=red", ok=False)
    assert unknown.exit_code == 1 and "colour" in unknown.stderr


def test_ui_without_the_dashboard_says_how_to_install_it(fanflow, monkeypatch):
    monkeypatch.setitem(sys.modules, "fanflow.ui.server", None)  # as if not installed
    result = fanflow("ui", ok=False)
    assert result.exit_code == 1
    assert 'pip install "fanflow[ui]"' in result.stderr and result.stderr.count("\n") == 1


def test_ui_hands_host_and_port_to_the_dashboard_server(fanflow, monkeypatch):
    calls: list[tuple[str, int]] = []
    server = types.ModuleType("fanflow.ui.server")
    server.serve = lambda host, port: calls.append((host, port))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fanflow.ui.server", server)
    fanflow("ui", "--port", "9123")
    fanflow("ui", "--host", "0.0.0.0", "--port", "0")
    assert calls == [("127.0.0.1", 9123), ("0.0.0.0", 0)]


@pytest.mark.parametrize("verb", [["pipelines", "list"], ["runs", "list"], ["artifacts", "list"]])
def test_every_list_has_json(fanflow, fanflow_home, verb):
    assert fanflow.json(*verb) == []


@pytest.mark.slow
def test_ui_serves_the_dashboard_on_loopback(fanflow_home):
    import socket
    import time
    import urllib.request

    pytest.importorskip("uvicorn")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fanflow.cli", "ui", "--port", str(port)],
        env=env_for(fanflow_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                    assert "fanflow" in page.read().decode("utf-8").lower()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
