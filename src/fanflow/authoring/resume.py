"""Resuming a failed, stopped or crashed run: run it again, reusing every finished step.

The pipeline is called again with the recorded parameters and options. Each step whose cache key
(code, parameters, input content) matches a step that finished in the earlier run is recorded as
`cached` and points at the earlier artifacts; everything else runs. Matching by content rather than
by name means a dynamic pipeline's branches are found again whatever order calls are made in.
The new run records the earlier one as `original_run_id`.

The pipeline object is found among the pipelines defined in this process, else by importing its
module; a pipeline defined in a script run as `__main__` is loaded from the recorded script path
under another module name, so the script must keep its pipeline call under
`if __name__ == "__main__":` (as ZenML recommends too).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fanflow.artifacts.json_codec import loads
from fanflow.authoring.pipelines import KNOWN_PIPELINES, RESUMED_SCRIPT_MODULE, Pipeline
from fanflow.config import load_settings
from fanflow.exceptions import ResumeError
from fanflow.metadata.maintenance import repair_run
from fanflow.metadata.store import MetadataStore

if TYPE_CHECKING:
    from fanflow.client import PipelineRunView


@dataclass(frozen=True)
class ResumeSource:
    original_run_id: str
    reuse: dict[str, tuple[str, dict[str, Any]]]
    # The run was stopped gracefully (ZenML's "paused"): a dynamic pipeline's `on_resume` fires.
    resumes_stopped: bool = False


def _find_pipeline(source: str, main_file: str | None) -> Pipeline:
    known = KNOWN_PIPELINES.get(source)
    if known is not None:
        return known
    module_name, _, qualname = source.partition(":")
    if module_name == "__main__":
        if not main_file:
            raise ResumeError(
                f"Cannot find the pipeline {qualname!r}: it was defined in a script "
                "whose path was not recorded."
            )
        spec = importlib.util.spec_from_file_location(RESUMED_SCRIPT_MODULE, main_file)
        if spec is None or spec.loader is None:
            raise ResumeError(f"Cannot load the pipeline script {main_file!r}.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        # No other process can import this module by name: its functions (steps and the
        # helpers they call) travel to worker processes by value, as `__main__`'s do.
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
    else:
        module = importlib.import_module(module_name)
    candidate: Any = module
    for part in qualname.split("."):
        candidate = getattr(candidate, part, None)
    if not isinstance(candidate, Pipeline):
        raise ResumeError(
            f"Cannot find the pipeline {qualname!r} in {module.__name__}; resume "
            "from the process that defines it, or keep it importable."
        )
    return candidate


def resume_run(run: PipelineRunView) -> PipelineRunView:
    """Run `run` again, executing only the steps that did not finish; returns the new run.

    A run whose orchestrator died is first recorded as failed (the repair a read never makes).
    """
    store = MetadataStore(load_settings().metadata_url)
    record = store.get_run(run.id.hex)
    if repair_run(store, record):
        record = store.get_run(record.id)
    if record.status == "running":
        raise ResumeError(
            f"Run {record.name!r} is still running (pid {record.orchestrator_pid}); "
            "wait for it to end or stop it first."
        )
    if record.status in ("completed", "cached"):
        raise ResumeError(f"Run {record.name!r} completed; there is nothing to resume.")
    config = record.config
    if record.pipeline_id is None or not config.get("source"):
        raise ResumeError(
            f"Run {record.name!r} does not belong to a pipeline; it cannot be resumed."
        )
    pipeline = _find_pipeline(config["source"], config.get("main_file"))
    parameters = dict(config.get("parameters") or {})
    # Recorded exactly (tuples, sets, dates ...) by the artifact codec; the plain form is
    # only what readers see, and the fallback for runs recorded before.
    for name, text in (config.get("parameter_values") or {}).items():
        parameters[name] = loads(text)
    options: dict[str, Any] = {
        "enable_cache": config.get("enable_cache"),
        "max_parallelism": config.get("max_parallelism"),
        "orchestrator": config.get("orchestrator"),
        "execution_mode": config.get("execution_mode"),
        "substitutions": config.get("substitutions") or None,
        "extra": config.get("extra") or None,
    }
    resumed = pipeline.with_options(**{k: v for k, v in options.items() if v is not None})
    reuse = store.completed_steps(record.id)
    return resumed._run(
        parameters, ResumeSource(record.id, reuse, resumes_stopped=record.status == "stopped")
    )
