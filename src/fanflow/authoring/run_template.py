"""`pipeline.write_run_configuration_template(path)`: a YAML template of everything a run
configuration file (`with_options(config_path=...)`) may set for this pipeline.

As in ZenML, every line is written commented out, each key followed by the type of value it
takes: the file as written configures nothing (it loads as an empty configuration), and a user
uncomments the lines they want and puts values in place of the types. Keys are the ones fanflow
reads (`fanflow.authoring.run_config`), the pipeline's own parameters, and, under `steps:`, each
step invocation with the inputs that can be configured as parameters. `settings:` lists
`resources` (acted on) and `docker` (accepted, no effect).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from fanflow.authoring.context import PipelineContext, pipeline_context
from fanflow.authoring.tracing import tracing
from fanflow.enums import ExecutionMode
from fanflow.spec import InputSignature
from fanflow.typecheck import describe

RESOURCES_TEMPLATE = {
    "cpu_count": "Optional[PositiveFloat]",
    "gpu_count": "Optional[NonNegativeInt]",
    "memory": "Optional[str]",
}
DOCKER_TEMPLATE = {
    "parent_image": "Optional[str]",
    "requirements": "Union[NoneType, str, List[str]]",
}
HEADER = (
    "Run configuration template for pipeline {name}: uncomment what you want to set\n"
    "and put a value in place of its type; use it with .with_options(config_path=...).\n"
    "execution_mode: one of {modes}.\n"
    "run_name may use {{date}}, {{time}} and substitutions; memory is like 2GB or 512MiB;\n"
    "docker settings are accepted and have no effect in fanflow.\n"
)


def _settings_template() -> dict[str, Any]:
    return {"resources": dict(RESOURCES_TEMPLATE), "docker": dict(DOCKER_TEMPLATE)}


def template_for(
    parameters: Mapping[str, str], steps: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """The template as a mapping: key -> type description (see the module docstring).

    `parameters` maps the pipeline's parameter names to their types; `steps` maps each step
    invocation id to its configurable inputs and their types."""
    template: dict[str, Any] = {
        "run_name": "Optional[str]",
        "enable_cache": "Optional[bool]",
        "execution_mode": "Optional[ExecutionMode]",
        "extra": "Mapping[str, Any]",
        "tags": "Optional[List[str]]",
        "substitutions": "Mapping[str, str]",
        "parameters": dict(parameters) or "Optional[Mapping[str, Any]]",
        "settings": _settings_template(),
    }
    template["steps"] = {
        step_id: {
            "enable_cache": "Optional[bool]",
            "extra": "Mapping[str, Any]",
            "parameters": dict(inputs) or {},
            "settings": _settings_template(),
            "substitutions": "Mapping[str, str]",
        }
        for step_id, inputs in steps.items()
    }
    return template


def write_template(
    path: str | os.PathLike[str], template: Mapping[str, Any], pipeline_name: str
) -> None:
    """Write `template` as YAML with every line commented out (ZenML's format), under a short
    header saying how to use it."""
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - PyYAML is a dependency of the yaml extra
        raise RuntimeError(
            "Writing a run configuration template needs PyYAML: pip install 'fanflow[yaml]'."
        ) from exc
    text = yaml.safe_dump(dict(template), sort_keys=False, default_flow_style=False, width=100)
    modes = ", ".join(mode.value for mode in ExecutionMode)
    header = HEADER.format(name=pipeline_name, modes=modes)
    commented = "".join(f"## {line}\n" for line in header.splitlines())
    commented += "".join(f"# {line}\n" for line in text.splitlines())
    with open(os.fspath(path), "w", encoding="utf-8") as handle:
        handle.write(commented)


def write_pipeline_template(
    pipeline: Any,
    path: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None,
    inputs: Sequence[InputSignature],
    step_overrides: Mapping[str, Any],
) -> None:
    """Trace `pipeline` with `parameters` (its configured and default values; None when some
    are missing, or for a dynamic pipeline: then no steps are listed, as ZenML does) and write
    its template."""
    steps: dict[str, dict[str, str]] = {}
    if parameters is not None:
        options = pipeline.options
        context = PipelineContext(
            name=pipeline.name,
            extra=dict(options.extra),
            enable_cache=options.enable_cache,
            run_name=options.run_name,
            parameters=dict(parameters),
            tags=list(options.tags),
        )
        with pipeline_context(context), tracing(pipeline.name) as trace:
            trace.step_overrides = step_overrides
            pipeline.entrypoint(**parameters)
        for step_id, draft in trace.drafts.items():
            types = {i.name: describe(i.annotation) for i in draft.step.inputs}
            steps[step_id] = {name: types[name] for name in draft.parameters}
    pipeline_parameters = {i.name: describe(i.annotation) for i in inputs}
    write_template(path, template_for(pipeline_parameters, steps), pipeline.name)
