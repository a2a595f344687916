"""`import fanflow` stays light: no heavy libraries, no configuration reads, no output."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "numpy",
    "pandas",
    "pyarrow",
    "dask",
    "distributed",
    "rich",
    "click",
    "pydantic",
    "cloudpickle",
    "fsspec",
    "s3fs",
    "psycopg",
    "alembic",
)


def _loaded_after(statement: str) -> tuple[set[str], str]:
    code = f"import sys\n{statement}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "FANFLOW_HOME": "/nonexistent"},
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1])), result.stderr


def test_import_fanflow_loads_nothing_heavy_and_prints_nothing():
    modules, stderr = _loaded_after("import fanflow")
    assert not [m for m in modules if m.split(".")[0] in HEAVY]
    assert stderr == ""


def test_defining_steps_and_pipelines_needs_no_database_layer():
    modules, _ = _loaded_after(
        "from fanflow import step, pipeline, get_step_context, unmapped\n"
        "@step\ndef a() -> int:\n    return 1\n"
        "@pipeline\ndef p():\n    a()\n"
    )
    assert not [m for m in modules if m.split(".")[0] in HEAVY]


def test_storage_backends_are_loaded_only_when_configured():
    modules, _ = _loaded_after(
        "import os, tempfile\n"
        "os.environ['FANFLOW_HOME'] = tempfile.mkdtemp()\n"
        "from fanflow.client import Client\n"
        "Client().list_pipeline_runs()\n"
    )
    assert "sqlalchemy" in modules  # the store was opened
    assert not [m for m in modules if m.split(".")[0] in ("fsspec", "s3fs", "psycopg", "alembic")]


def test_public_names_are_importable():
    import fanflow
    from fanflow.client import Client
    from fanflow.config.retry_config import StepRetryConfig
    from fanflow.exceptions import EntityExistsError, StepExecutionException, StepInterfaceError

    for name in (
        "step",
        "pipeline",
        "get_step_context",
        "log_metadata",
        "save_artifact",
        "load_artifact",
        "unmapped",
    ):
        assert callable(getattr(fanflow, name))
    assert StepRetryConfig(max_retries=2).max_retries == 2
    assert issubclass(StepExecutionException, RuntimeError)
    assert Client is not None and EntityExistsError is not None and StepInterfaceError
    assert json.dumps(sorted(fanflow.__all__))


def test_runs_on_threads_and_processes_never_import_dask(tmp_path):
    """Dask is imported only when `orchestrator="dask"` is chosen, not by the executor registry
    or by runs on the other executors."""
    modules, _ = _loaded_after(
        "import os\n"
        f"os.environ['FANFLOW_HOME'] = {str(tmp_path)!r}\n"
        "from fanflow import step, pipeline\n"
        "import fanflow.execution.executors\n"
        "@step\ndef a() -> int:\n    return 1\n"
        "@pipeline\ndef p():\n    a()\n"
        "if __name__ == '__main__':\n"
        "    p()\n"
        "    p.with_options(orchestrator='processes')()\n"
    )
    assert not [m for m in modules if m.split(".")[0] in ("dask", "distributed")]
    assert "fanflow.execution.executors.dask" not in modules
