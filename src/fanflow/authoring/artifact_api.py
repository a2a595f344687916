"""`save_artifact`, `load_artifact`, `log_metadata` and `bulk_log_metadata`, inside steps and
outside.

Inside a running step these never write to the metadata store: what they ask for is collected in
the step's runtime and recorded by the orchestrator with the step's result. Outside steps they
read and write the store directly.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fanflow.artifacts.io import load_value, save_value
from fanflow.artifacts.json_codec import recordable_metadata
from fanflow.authoring.manual_artifacts import save_manual_artifact
from fanflow.client import ArtifactVersionView, Client
from fanflow.config import load_settings
from fanflow.enums import ArtifactSaveType, ArtifactType, MetadataResourceTypes
from fanflow.execution.recording import version_record
from fanflow.execution.runtime import ExtraArtifact, StepRuntime, active_step
from fanflow.ids import new_id, normalize_id
from fanflow.metadata.records import MetadataUpdate
from fanflow.metadata.store import MetadataStore
from fanflow.models import (
    ArtifactVersionIdentifier,
    PipelineRunIdentifier,
    RunMetadataResource,
    StepRunIdentifier,
)


@dataclass(frozen=True)
class PendingArtifactVersion:
    """An artifact saved by a running step; numbered and recorded when the step finishes."""

    id: uuid.UUID
    name: str
    uri: str
    materializer: str
    data_type: str
    _store: Any

    version = None

    def load(self) -> Any:
        return load_value(self.uri, self.materializer, self.data_type, self._store)


def save_artifact(
    data: Any,
    name: str,
    version: str | int | None = None,
    artifact_type: Any = None,
    tags: list[str] | None = None,
    extract_metadata: bool = True,
    include_visualizations: bool = True,
    user_metadata: dict[str, Any] | None = None,
    materializer: type | None = None,
    uri: str | None = None,
    **_ignored: Any,
) -> ArtifactVersionView | PendingArtifactVersion:
    """Save `data` as a new version of the artifact `name` (version "1", "2", ... by default)."""
    metadata = recordable_metadata(user_metadata or {}, "user_metadata")
    runtime = active_step()
    if runtime is None:
        return save_manual_artifact(
            data,
            name,
            version=version,
            materializer=materializer,
            uri=uri,
            metadata=metadata,
            tags=tags,
            artifact_type=artifact_type,
        )
    store = runtime.artifact_store
    artifact_id = new_id()
    target = uri or store.uri_for("custom_artifacts", name, artifact_id)
    saved = save_value(data, store, target, materializer, artifact_id)
    runtime.extra_artifacts.append(
        ExtraArtifact(
            name=name,
            version=None if version is None else str(version),
            saved=saved
            if artifact_type is None
            else dataclasses.replace(saved, artifact_type=str(ArtifactType(artifact_type))),
            metadata=metadata,
            tags=list(tags or ()),
        )
    )
    return PendingArtifactVersion(
        uuid.UUID(saved.id), name, saved.uri, saved.materializer, saved.data_type, store
    )


def register_artifact(
    folder_or_file_uri: str,
    name: str,
    version: str | int | None = None,
    artifact_type: Any = None,
    tags: list[str] | None = None,
    has_custom_name: bool = True,
    artifact_metadata: dict[str, Any] | None = None,
    **_ignored: Any,
) -> ArtifactVersionView | PendingArtifactVersion:
    """Record a file or folder already in the artifact store as a version of `name`, in place.

    ZenML's `register_artifact`: nothing is copied; loading the version gives a local
    `pathlib.Path` (a temporary copy). A URI outside the artifact store raises
    `FileNotFoundError`; one another version already records raises `RuntimeError`. Inside a
    step, the version is recorded with the step's result, as one of its outputs.
    """
    from fanflow.artifacts.io import SavedArtifact
    from fanflow.artifacts.preexisting_data_materializer import PreexistingDataMaterializer
    from fanflow.artifacts.registered import describe_registered, registered_location
    from fanflow.artifacts.store import artifact_store_for

    metadata = recordable_metadata(artifact_metadata or {}, "artifact_metadata")
    runtime = active_step()
    settings = load_settings()
    store = (
        runtime.artifact_store
        if runtime is not None
        else artifact_store_for(settings.artifact_root, settings.artifact_storage_options)
    )
    uri = registered_location(store, folder_or_file_uri)
    taken = Client(settings).list_artifact_versions(uri=uri, size=1)
    if len(taken):
        other = taken[0]
        raise RuntimeError(
            f"Cannot create new artifact {name} version with URI {uri} because the URI is "
            f"already used by artifact {other.name} (version {other.version})."
        )
    content_hash, size = describe_registered(store, uri)
    saved = SavedArtifact(
        id=new_id(),
        uri=uri,
        materializer=PreexistingDataMaterializer.NAME,
        data_type="pathlib.Path",
        artifact_type=str(ArtifactType(artifact_type or ArtifactType.DATA)),
        size=size,
        content_hash=content_hash,
        metadata={"storage_size": size},
    )
    version_text = None if version is None else str(version)
    if runtime is not None:
        runtime.extra_artifacts.append(
            ExtraArtifact(
                name=name,
                version=version_text,
                saved=saved,
                metadata=metadata,
                tags=list(tags or ()),
                save_type=ArtifactSaveType.PREEXISTING.value,
            )
        )
        return PendingArtifactVersion(
            uuid.UUID(saved.id), name, uri, saved.materializer, saved.data_type, store
        )
    record = version_record(
        saved,
        name,
        ArtifactSaveType.PREEXISTING,
        {**saved.metadata, **metadata},
        version=version_text,
        tags=list(tags or ()),
    )
    MetadataStore(settings.metadata_url).save_artifact_version(record)
    return Client(settings).get_artifact_version(saved.id)


def load_artifact(name_or_id: str | uuid.UUID, version: str | int | None = None) -> Any:
    """The value of an artifact version (the newest one of `name` unless `version` is given)."""
    return Client().get_artifact_version(name_or_id, version).load()


def log_metadata(
    metadata: dict[str, Any],
    step_id: str | uuid.UUID | None = None,
    step_name: str | None = None,
    run_id_name_or_prefix: str | uuid.UUID | None = None,
    artifact_version_id: str | uuid.UUID | None = None,
    artifact_name: str | None = None,
    artifact_version: str | None = None,
    infer_artifact: bool = False,
    **model_arguments: Any,
) -> None:
    """Attach metadata to a step run, a run or an artifact version (ZenML's dispatch order)."""
    plain = recordable_metadata(metadata, "metadata")
    if any(value is not None and value is not False for value in model_arguments.values()):
        raise ValueError("log_metadata: model versions are not supported by fanflow.")
    runtime = active_step()
    client = Client()
    target: MetadataUpdate | None = None
    if step_id is not None:
        target = MetadataUpdate("step", normalize_id(step_id), plain)
    elif step_name is not None and run_id_name_or_prefix is not None:
        run = client.get_pipeline_run(run_id_name_or_prefix)
        target = MetadataUpdate("step", run.steps[step_name].id.hex, plain)
    elif run_id_name_or_prefix is not None:
        target = MetadataUpdate("run", client.get_pipeline_run(run_id_name_or_prefix).id.hex, plain)
    elif artifact_name is not None and not infer_artifact:
        av = client.get_artifact_version(artifact_name, artifact_version)
        target = MetadataUpdate("artifact_version", av.id.hex, plain)
    elif artifact_version_id is not None:
        target = MetadataUpdate("artifact_version", normalize_id(artifact_version_id), plain)
    elif infer_artifact:
        _log_output_metadata(runtime, artifact_name, plain)
        return
    elif runtime is not None:
        runtime.run_metadata.update(plain)
        return
    else:
        raise ValueError(
            "You are calling 'log_metadata()' outside of a step execution. If you would like to "
            "add metadata to a fanflow entity outside of the step execution, please provide the "
            "required identifiers (run_id_name_or_prefix=, step_name=, artifact_name=, ...)."
        )
    if runtime is not None:
        if target.target == "step" and target.key == runtime.step_run_id:
            runtime.run_metadata.update(plain)
        else:
            runtime.metadata_updates.append(target)
        return
    MetadataStore(load_settings().metadata_url).merge_metadata(target)


def log_artifact_metadata(
    metadata: dict[str, Any],
    artifact_name: str | None = None,
    artifact_version: str | None = None,
) -> None:
    """ZenML's deprecated `log_artifact_metadata`, kept so older programs run: metadata for a
    named version, for an output of the running step, or for the newest version of a name."""
    logging.getLogger("fanflow").warning(
        "`log_artifact_metadata` is deprecated (as in ZenML); use `log_metadata(metadata={...}, "
        "infer_artifact=True, ...)` instead."
    )
    runtime = active_step()
    if artifact_name is not None and artifact_version is not None:
        log_metadata(metadata, artifact_name=artifact_name, artifact_version=artifact_version)
    elif runtime is not None and (
        artifact_name in runtime.output_names
        or (artifact_name is None and len(runtime.output_names) == 1)
    ):
        log_metadata(metadata, artifact_name=artifact_name, infer_artifact=True)
    elif artifact_name is not None:
        log_metadata(metadata, artifact_name=artifact_name)
    else:
        raise ValueError(
            "You need to call `log_artifact_metadata` either within a step (potentially with an "
            "artifact name) or outside of a step with an artifact name (and/or version)."
        )


def _log_output_metadata(
    runtime: StepRuntime | None, artifact_name: str | None, plain: dict[str, Any]
) -> None:
    if runtime is None:
        raise ValueError(
            "When you use the `infer_artifact` option of `log_metadata`, it must be called "
            "inside a step with outputs. Otherwise, provide `artifact_version_id` or "
            "`artifact_name` and `artifact_version`."
        )
    names = runtime.output_names
    if artifact_name is None:
        if not names:
            raise ValueError("The step does not have any outputs.")
        if len(names) > 1:
            raise ValueError(
                "There is more than one output. If you would like to use the "
                "`infer_artifact` option, you need to define an `artifact_name`."
            )
        artifact_name = names[0]
    elif artifact_name not in names:
        raise ValueError(
            f"The provided artifact name `{artifact_name}` does not exist in the "
            f"step outputs: {names}."
        )
    runtime.output_metadata.setdefault(artifact_name, {}).update(plain)


def add_tags(
    tags: list[str],
    artifact_name: str | None = None,
    artifact_version: str | None = None,
    artifact_version_id: str | uuid.UUID | None = None,
    infer_artifact: bool = False,
    **other_targets: Any,
) -> None:
    """Tag an artifact version (ZenML's `add_tags` for artifacts).

    Inside a step, `infer_artifact=True` (or naming one of the step's outputs) tags the output
    being produced; otherwise the named or given version is tagged. Tags on runs, pipelines and
    models are not supported.
    """
    if isinstance(tags, str):
        raise ValueError("add_tags takes a list of tags, not a string.")
    if any(value is not None and value is not False for value in other_targets.values()):
        raise ValueError(
            "add_tags: only artifact versions can be tagged in fanflow, got "
            f"{sorted(other_targets)}."
        )
    runtime = active_step()
    if runtime is not None and (
        infer_artifact or (artifact_name in runtime.output_names and artifact_version is None)
    ):
        from fanflow.authoring.context import StepContext

        StepContext(runtime).add_output_tags(tags, artifact_name)
        return
    if artifact_version_id is not None:
        key = normalize_id(artifact_version_id)
    elif artifact_name is not None:
        key = Client().get_artifact_version(artifact_name, artifact_version).id.hex
    else:
        raise ValueError(
            "add_tags: say which artifact version to tag (artifact_name=, artifact_version_id=, "
            "or infer_artifact=True inside a step)."
        )
    change = MetadataUpdate("artifact_version_tags", key, {"tags": [str(tag) for tag in tags]})
    if runtime is not None:
        runtime.metadata_updates.append(change)
        return
    MetadataStore(load_settings().metadata_url).merge_metadata(change)


def route_metadata(changes: Sequence[MetadataUpdate], metadata_url: str) -> None:
    """Where `Client().create_run_metadata` writes: inside a running step, into the step's
    result (its own step run's metadata directly); elsewhere, to the store in one transaction."""
    runtime = active_step()
    if runtime is None:
        MetadataStore(metadata_url).merge_metadata_many(changes)
        return
    for change in changes:
        if change.target == "step" and change.key == runtime.step_run_id:
            runtime.run_metadata.update(change.metadata)
        else:
            runtime.metadata_updates.append(change)


def bulk_log_metadata(
    metadata: dict[str, Any],
    pipeline_runs: list[PipelineRunIdentifier] | None = None,
    step_runs: list[StepRunIdentifier] | None = None,
    artifact_versions: list[ArtifactVersionIdentifier] | None = None,
    model_versions: list[Any] | None = None,
    infer_models: bool = False,
    infer_artifacts: bool = False,
) -> None:
    """Log the same metadata to several runs, step runs and artifact versions at once (ZenML's
    `bulk_log_metadata`); `infer_artifacts=True` inside a step adds it to every output."""
    if not metadata:
        raise ValueError("You must provide metadata to log.")
    if not any(
        (pipeline_runs, step_runs, artifact_versions, model_versions, infer_models, infer_artifacts)
    ):
        raise ValueError("You must select at least one entity to log metadata to.")
    if model_versions or infer_models:
        raise ValueError("bulk_log_metadata: model versions are not supported by fanflow.")
    plain = recordable_metadata(metadata, "metadata")
    runtime = active_step()
    if infer_artifacts and runtime is None:
        raise ValueError("Infer options can be used only within a step function code.")
    client = Client()
    resources: dict[tuple[str, str], RunMetadataResource] = {}

    def add(identifier: uuid.UUID, kind: MetadataResourceTypes) -> None:
        resources.setdefault((kind.value, identifier.hex), RunMetadataResource(identifier, kind))

    for run in pipeline_runs or []:
        if not run.id:
            run.id = client.get_pipeline_run(run.value).id
        add(run.id, MetadataResourceTypes.PIPELINE_RUN)
    for step_run in step_runs or []:
        if not step_run.id and step_run.name and step_run.run:
            step_run.id = client.get_pipeline_run(step_run.run.value).steps[step_run.name].id
        assert step_run.id is not None
        add(step_run.id, MetadataResourceTypes.STEP_RUN)
    for version in artifact_versions or []:
        if not version.id and version.name and version.version:
            version.id = client.get_artifact_version(version.name, version.version).id
        assert version.id is not None
        add(version.id, MetadataResourceTypes.ARTIFACT_VERSION)
    if infer_artifacts and runtime is not None:
        for name in runtime.output_names:
            runtime.output_metadata.setdefault(name, {}).update(plain)
    if resources:
        client.create_run_metadata(metadata=plain, resources=list(resources.values()))
