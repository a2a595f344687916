"""ZenML's identifier models for metadata calls, importable where ZenML users import them from
(`fanflow.models`): `RunMetadataResource` for `Client().create_run_metadata(...)`, and the
`PipelineRunIdentifier`, `StepRunIdentifier`, `ArtifactVersionIdentifier` and
`ModelVersionIdentifier` groups `bulk_log_metadata(...)` takes.

Plain dataclasses with ZenML's validation rules (one way of identifying at a time; a name needs
its version or run), so a bad identifier fails where it is built, naming what was expected.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fanflow.enums import MetadataResourceTypes


def _as_uuid(value: uuid.UUID | str | None, what: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{what}: id must be a UUID, got {value!r}.") from None


@dataclass(frozen=True)
class RunMetadataResource:
    """One thing run metadata is attached to: its id and what kind of thing it is."""

    id: uuid.UUID
    type: MetadataResourceTypes

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _as_uuid(self.id, "RunMetadataResource"))
        object.__setattr__(self, "type", MetadataResourceTypes(self.type))


@dataclass
class VersionedIdentifier:
    """An entity named by `id`, or by `name` and `version` together."""

    id: uuid.UUID | None = None
    name: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        kind = type(self).__name__
        self.id = _as_uuid(self.id, kind)
        if self.id and self.name:
            raise ValueError(f"{kind}: use either id or name (with version), not both.")
        if not (self.id or self.name):
            raise ValueError(f"{kind}: give an id, or a name and a version.")
        if bool(self.name) ^ bool(self.version):
            raise ValueError(f"{kind}: a name needs its version (name= and version=).")
        if self.version is not None:
            self.version = str(self.version)


class ArtifactVersionIdentifier(VersionedIdentifier):
    """An artifact version: `id=`, or `name=` and `version=`."""


class ModelVersionIdentifier(VersionedIdentifier):
    """A model version (fanflow has no model control plane; accepted, then refused on use)."""


@dataclass
class PipelineRunIdentifier:
    """A pipeline run: exactly one of `id=`, `name=` or `prefix=`."""

    id: uuid.UUID | None = None
    name: str | None = None
    prefix: str | None = None

    def __post_init__(self) -> None:
        self.id = _as_uuid(self.id, "PipelineRunIdentifier")
        given = sum(bool(value) for value in (self.id, self.name, self.prefix))
        if given != 1:
            raise ValueError(
                "PipelineRunIdentifier: give exactly one of id=, name= or prefix=, got "
                f"{given}."
            )

    @property
    def value(self) -> uuid.UUID | str:
        """The id, name or prefix given (in that order)."""
        return self.id or self.name or self.prefix or ""


@dataclass
class StepRunIdentifier:
    """A step run: `id=`, or `name=` (its invocation id) with the `run=` it belongs to."""

    id: uuid.UUID | None = None
    name: str | None = None
    run: PipelineRunIdentifier | None = None

    def __post_init__(self) -> None:
        self.id = _as_uuid(self.id, "StepRunIdentifier")
        if self.id and self.name:
            raise ValueError("StepRunIdentifier: use either id or name (with run), not both.")
        if not (self.id or self.name):
            raise ValueError("StepRunIdentifier: give an id, or a name and a run.")
        if bool(self.name) ^ bool(self.run):
            raise ValueError(
                "StepRunIdentifier: to identify a step run by name, also give run="
                "PipelineRunIdentifier(...)."
            )
