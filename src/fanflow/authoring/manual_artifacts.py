"""Saving and recording an artifact outside any run (`save_artifact` outside a step, the
literal inputs of a single-step call, an `ExternalArtifact`'s value).

Invariant: the value is published in the artifact store first and recorded second, in one
transaction, so a record never points at a missing or half-written folder.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from fanflow.artifacts.external_artifact import ExternalArtifact
from fanflow.artifacts.io import save_value
from fanflow.artifacts.store import artifact_store_for
from fanflow.client import ArtifactVersionView, Client
from fanflow.config import Settings, load_settings
from fanflow.enums import ArtifactSaveType, ArtifactType
from fanflow.execution.recording import version_record
from fanflow.ids import new_id
from fanflow.metadata.store import MetadataStore


def save_manual_artifact(
    value: Any,
    name: str,
    *,
    version: str | int | None = None,
    materializer: type | None = None,
    uri: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    tags: Sequence[str] | None = None,
    artifact_type: Any = None,
) -> ArtifactVersionView:
    """Save `value` as a new version of artifact `name` and record it (outside any run)."""
    settings = settings or load_settings()
    store = artifact_store_for(settings.artifact_root, settings.artifact_storage_options)
    artifact_id = new_id()
    target = uri or store.uri_for("custom_artifacts", name, artifact_id)
    if uri is not None and os.path.exists(uri):
        raise FileExistsError(f"save_artifact: the uri {uri!r} already exists; choose a new one.")
    saved = save_value(value, store, target, materializer, artifact_id)
    if artifact_type is not None:
        saved = dataclasses.replace(saved, artifact_type=str(ArtifactType(artifact_type)))
    record = version_record(
        saved,
        name,
        ArtifactSaveType.MANUAL,
        {**saved.metadata, **dict(metadata or {})},
        version=None if version is None else str(version),
        tags=list(tags or ()),
    )
    MetadataStore(settings.metadata_url).save_artifact_version(record)
    return Client(settings).get_artifact_version(saved.id)


def upload_external_artifact(external: ExternalArtifact) -> ArtifactVersionView:
    """Save an `ExternalArtifact`'s value as a new artifact version named `external_<id>`."""
    return save_manual_artifact(
        external.value, f"external_{new_id()}", materializer=external.materializer
    )
